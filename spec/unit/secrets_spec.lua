-- No credential in any text the module produces: errors (message, tostring,
-- field errors, errors), the client's tostring, the on_attempt hook's infos
-- and the errors close.new raises. The server and the transport are fakes
-- that ECHO the credential, its Authorization header and its base64 back.

local fake = require "spec.unit.support.fake"
local close = require "close"

local KEY = "sk_SECRET_zq7Xw3Vb9Ln2Rt5Yp8Hm4Jc6"
local TOKEN = "oat_SECRET.Gh5Tk9-Wq2Zx7Lm3Np8Rv4"

local MODES = {
  {
    name = "api_key", opts = { api_key = KEY }, secret = KEY,
    header = "Basic " .. fake.base64(KEY .. ":"), encoded = fake.base64(KEY .. ":"),
    shown_header = "[REDACTED]", -- what is left of an echoed Authorization value
  },
  {
    name = "oauth_token", opts = { oauth_token = TOKEN }, secret = TOKEN,
    header = "Bearer " .. TOKEN, encoded = TOKEN,
    shown_header = "Bearer [REDACTED]", -- the token is the secret, the scheme name is not
  },
}

-- Asserts that no 10-character fragment of any secret of `mode` is in `text`.
local function clean(mode, text, what)
  assert.are.equal("string", type(text), what)
  for _, s in ipairs({ mode.secret, mode.header, mode.encoded }) do
    local frag = fake.leak(text, s, 10)
    assert.is_nil(frag, ("%s shows %q of a secret: %s"):format(what, tostring(frag), text))
  end
end

local function all_clean(mode, h, err)
  clean(mode, tostring(err), "tostring(err)")
  if err.message ~= nil then clean(mode, err.message, "err.message") end
  for k, v in pairs(err.field_errors or {}) do
    clean(mode, tostring(k), "a field_errors key")
    clean(mode, v, "field_errors." .. tostring(k))
  end
  for i, v in ipairs(err.errors or {}) do clean(mode, v, "errors[" .. i .. "]") end
  clean(mode, fake.serialize(err), "the error table")
  clean(mode, tostring(h.client), "tostring(client)")
  clean(mode, fake.serialize(h.hooks), "the on_attempt infos")
end

-- Every way a server can echo the credential in a JSON error body.
local function echo_body(mode)
  return fake.encode({
    error = "Invalid credentials " .. mode.secret .. " in '" .. mode.header .. "'",
    message = "auth was " .. mode.encoded,
    errors = { mode.secret, "header: " .. mode.header, mode.encoded },
    ["field-errors"] = {
      email = "seen " .. mode.secret,
      role_id = { "seen " .. mode.header, "and " .. mode.encoded },
    },
  })
end

for _, mode in ipairs(MODES) do
  describe("with an " .. mode.name, function()
    local function run(script, opts)
      local o = {}
      for k, v in pairs(mode.opts) do o[k] = v end
      for k, v in pairs(opts or {}) do o[k] = v end
      local h = fake.harness(script, o)
      local m, err = fake.create(h)
      assert.is_nil(m)
      assert.is_true(close.error.is(err))
      return h, err
    end

    it("the request does carry the credential (the fake sees it)", function()
      local h = fake.harness({ fake.ok() }, mode.opts)
      fake.create(h)
      assert.are.equal(mode.header, h.calls[1].headers.Authorization)
    end)

    it("a validation error shows none", function()
      local h = fake.harness({}, mode.opts)
      local m, err = h.client:create_membership({ email = "nope", role_id = "User" })
      assert.is_nil(m)
      assert.are.equal("validation", err.kind)
      all_clean(mode, h, err)
    end)

    for _, status in ipairs({ 400, 401, 402, 403, 404, 405, 415, 429, 500, 502, 503, 504 }) do
      it(("a %d whose JSON body echoes the credential shows none"):format(status), function()
        local h, err = run({ fake.status(status, echo_body(mode)) })
        assert.are.equal(status, err.status)
        assert.are.equal("Invalid credentials [REDACTED] in '" .. mode.shown_header .. "'", err.message)
        assert.are.same({ "[REDACTED]", "header: " .. mode.shown_header, "[REDACTED]" }, err.errors)
        assert.are.same({ email = "seen [REDACTED]", role_id = "seen " .. mode.shown_header .. " and [REDACTED]" },
          err.field_errors)
        all_clean(mode, h, err)
      end)
    end

    it("a message nested under error, echoing the credential, shows none", function()
      local body = fake.encode({ error = { message = "bad " .. mode.header, rate_reset = 45 } })
      local h, err = run({ fake.status(429, body) })
      assert.are.equal("bad " .. mode.shown_header .. " (the server asks to wait 45s, more than max_wait 30s)",
        err.message)
      all_clean(mode, h, err)
    end)

    it("a top-level message echoing the credential shows none", function()
      local h, err = run({ fake.status(401, fake.encode({ message = mode.encoded .. mode.secret })) })
      assert.are.equal("[REDACTED][REDACTED]", err.message)
      all_clean(mode, h, err)
    end)

    for _, body in ipairs({
      "Unauthorized: Authorization: %s",
      "<html><body><pre>Authorization: %s</pre></body></html>",
      "%s",
    }) do
      it(("a plain-text body %q echoing the header shows none"):format(body), function()
        local h, err = run({ fake.status(503, body:format(mode.header) .. " / " .. mode.secret) })
        all_clean(mode, h, err)
      end)
    end

    it("a plain-text body whose echo is cut by the 200-character snippet shows no part of it", function()
      local body = ("x"):rep(185) .. mode.secret .. " " .. mode.header
      local h, err = run({ fake.status(500, body) })
      all_clean(mode, h, err)
    end)

    it("a field-errors NAME echoing the credential shows none", function()
      local body = fake.encode({ ["field-errors"] = { [mode.secret] = "unexpected field" } })
      local h, err = run({ fake.status(400, body) })
      all_clean(mode, h, err)
    end)

    it("a 200 that is not JSON and echoes the credential shows none", function()
      local h, err = run({ fake.ok("<p>" .. mode.header .. "</p>") })
      assert.are.equal("protocol", err.kind)
      all_clean(mode, h, err)
    end)

    for _, kind in ipairs({ "timeout", "network", "tls", "protocol" }) do
      it("a " .. kind .. " error whose message echoes the credential shows none", function()
        local msg = "failed sending 'Authorization: " .. mode.header .. "' for " .. mode.secret
        local h, err = run({ fake.fail(kind, msg) })
        assert.are.equal(kind, err.kind)
        assert.are.equal("failed sending 'Authorization: " .. mode.shown_header .. "' for [REDACTED]", err.message)
        all_clean(mode, h, err)
      end)
    end

    it("a plain-string transport error echoing the credential shows none", function()
      local h, err = run({ { err = "boom " .. mode.header } }, { max_retries = 1 })
      assert.are.equal("network", err.kind)
      assert.are.equal("boom " .. mode.shown_header, err.message)
      all_clean(mode, h, err)
    end)

    it("the deadline message, after an echoing body, shows none", function()
      local h, err = run({ fake.status(503, echo_body(mode)) }, { deadline = 0.5 })
      assert.are.equal("Invalid credentials [REDACTED] in '" .. mode.shown_header
        .. "' (a retry would pass the deadline of 0.5s)", err.message)
      all_clean(mode, h, err)
    end)

    it("tostring(client) shows none", function()
      local h = fake.harness({}, mode.opts)
      assert.are.equal("close.client(https://api.close.com/api/v1, " .. mode.name .. ")", tostring(h.client))
      clean(mode, fake.serialize(h.client), "the client table")
      local n = 0
      for _ in pairs(h.client) do n = n + 1 end
      assert.are.equal(0, n)
    end)
  end)
end

describe("close.new refusing an option", function()
  local function refusal(opts)
    local ok, e = pcall(function() local r = close.new(opts); return r end)
    assert.is_false(ok)
    return tostring(e)
  end

  local function stub() error("not called") end

  local CASES = {
    { "an api_key with LF", { api_key = KEY .. "\n", transport = stub }, MODES[1] },
    { "an api_key with CRLF injection", { api_key = KEY .. "\r\nX-Evil: 1", transport = stub }, MODES[1] },
    { "an api_key with NUL", { api_key = KEY .. "\0", transport = stub }, MODES[1] },
    { "an api_key with ':'", { api_key = KEY .. ":pw", transport = stub }, MODES[1] },
    { "an api_key with a tab", { api_key = KEY .. "\t", transport = stub }, MODES[1] },
    { "an api_key with non-ASCII", { api_key = KEY .. "\195\169", transport = stub }, MODES[1] },
    { "an oauth_token with LF", { oauth_token = TOKEN .. "\n", transport = stub }, MODES[2] },
    { "both credentials", { api_key = KEY, oauth_token = TOKEN, transport = stub }, MODES[1] },
    { "both credentials", { api_key = KEY, oauth_token = TOKEN, transport = stub }, MODES[2] },
    { "an unknown option", { api_key = KEY, bogus = KEY, transport = stub }, MODES[1] },
    { "a bad option type", { oauth_token = TOKEN, timeout = TOKEN, transport = stub }, MODES[2] },
    { "a bad number", { api_key = KEY, max_retries = -1, transport = stub }, MODES[1] },
    { "user info in base_url", { api_key = KEY, base_url = "https://" .. KEY .. "@api.close.com", transport = stub },
      MODES[1] },
    { "a query in base_url", { oauth_token = TOKEN, base_url = "https://api.close.com/?t=" .. TOKEN, transport = stub },
      MODES[2] },
    { "http base_url", { api_key = KEY, base_url = "http://api.close.com/" .. KEY, transport = stub }, MODES[1] },
  }
  for _, case in ipairs(CASES) do
    it(("shows no secret for %s (%s)"):format(case[1], case[3].name), function()
      clean(case[3], refusal(case[2]), "the raised error")
    end)
  end
end)

describe("close.error.scrub", function()
  it("replaces every occurrence, adjacent ones too", function()
    assert.are.equal("a [REDACTED] b [REDACTED][REDACTED]", close.error.scrub("a KEY b KEYKEY", { "KEY" }))
    assert.are.equal("Basic [REDACTED]", close.error.scrub("Basic QQ==", { "QQ==", "Basic QQ==" }))
    assert.are.equal("[REDACTED]", close.error.scrub("Basic QQ==", { "Basic QQ==", "QQ==" }))
  end)

  it("treats secrets as plain text, not patterns", function()
    assert.are.equal("x [REDACTED] y", close.error.scrub("x a.b%c+ y", { "a.b%c+" }))
    assert.are.equal("x azb y", close.error.scrub("x azb y", { "a.b" }))
  end)

  it("leaves non-strings and empty secrets alone", function()
    assert.are.equal(5, close.error.scrub(5, { "5" }))
    assert.are.equal("abc", close.error.scrub("abc", { "" }))
    assert.are.equal("abc", close.error.scrub("abc", nil))
  end)
end)
