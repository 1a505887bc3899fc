-- The shape of create_membership's argument, close.new's refusals, the exact
-- request that reaches the transport, and the module-level default client.

local fake = require "spec.unit.support.fake"
local close = require "close"
local core = require "close.core"

local SRC = debug.getinfo(1, "S").short_src

-- The line of the caller of line(): `local at, ok, e = line(), pcall(...)`
-- written on one line gives the line the pcall'ed function runs on. The
-- pcall'ed functions must not tail-call (`return f()`): a tail call drops
-- their frame, and the error level would then point at pcall itself.
local function line() return debug.getinfo(2, "l").currentline end

local function stub() error("the transport must not be called") end

-- Asserts that an error raised on this spec's line `at` has exactly `msg`
-- after the position, and returns msg.
local function raised_at(at, ok, e, msg)
  assert.is_false(ok)
  assert.are.equal("string", type(e))
  assert.truthy(e:find("request_spec.lua:", 1, true), e)
  assert.are.equal(SRC .. ":" .. at .. ": " .. msg, e)
end

-- close.new(opts) must raise `msg`, positioned at the caller's line.
local function new_refuses(opts, msg)
  local at, ok, e = line(), pcall(function() local r = close.new(opts); return r end)
  raised_at(at, ok, e, msg)
end

local function with(extra)
  local o = { api_key = fake.KEY, transport = stub }
  for k, v in pairs(extra) do o[k] = v end
  return o
end

describe("create_membership's argument", function()
  local function refused(args, field_errors, message)
    local h = fake.harness({})
    local m, err = h.client:create_membership(args)
    assert.is_nil(m)
    assert.are.equal("validation", err.kind)
    assert.are.same(field_errors, err.field_errors)
    assert.are.equal(message, err.message)
    assert.are.equal(0, err.attempts)
    assert.are.equal("POST", err.method)
    assert.are.equal(fake.URL, err.url)
    assert.are.equal("close: validation: " .. message .. " (POST " .. fake.URL .. ")", tostring(err))
    assert.is_true(close.error.is(err))
    assert.are.equal(0, #h.calls)
  end

  it("refuses a missing email", function()
    refused({ role_id = "user" }, { email = "is required" }, "invalid email: is required")
  end)

  it("refuses a missing role_id", function()
    refused({ email = "jane@acme.com" }, { role_id = "is required" }, "invalid role_id: is required")
  end)

  it("refuses an empty table, naming both fields", function()
    refused({}, { email = "is required", role_id = "is required" },
      "invalid email: is required; role_id: is required")
  end)

  it("refuses an email of the wrong type", function()
    refused({ email = 42, role_id = "user" }, { email = "must be a string (got number)" },
      "invalid email: must be a string (got number)")
  end)

  it("refuses a role_id of the wrong type", function()
    refused({ email = "jane@acme.com", role_id = {} }, { role_id = "must be a string (got table)" },
      "invalid role_id: must be a string (got table)")
  end)

  it("refuses an unknown field", function()
    refused({ email = "jane@acme.com", role_id = "user", name = "Jane" }, { name = "unknown field" },
      "invalid name: unknown field")
  end)

  it("refuses a misspelt field and reports the real one as missing", function()
    refused({ email = "jane@acme.com", roleid = "user" }, { roleid = "unknown field", role_id = "is required" },
      "invalid role_id: is required; roleid: unknown field")
  end)

  it("refuses positional values", function()
    refused({ "jane@acme.com", "user" }, {
      ["1"] = "unknown field (fields are named)", ["2"] = "unknown field (fields are named)",
      email = "is required", role_id = "is required",
    }, "invalid 1: unknown field (fields are named); 2: unknown field (fields are named); "
      .. "email: is required; role_id: is required")
  end)

  it("reports several bad fields at once", function()
    refused({ email = 7, role_id = "Admin", extra = true, other = "x" }, {
      email = "must be a string (got number)",
      role_id = "unknown role (did you mean 'admin'?)",
      extra = "unknown field", other = "unknown field",
    }, "invalid email: must be a string (got number); extra: unknown field; other: unknown field; "
      .. "role_id: unknown role (did you mean 'admin'?)")
  end)

  for _, bad in ipairs({ { "a string", "jane@acme.com" }, { "nil", nil }, { "a number", 1 }, { "a boolean", true } }) do
    local name, value = bad[1], bad[2]
    it("raises on " .. name .. " instead of a table, at the caller's line", function()
      local h = fake.harness({})
      local at, ok, e = line(), pcall(function() local r = h.client:create_membership(value); return r end)
      raised_at(at, ok, e, "close: create_membership expects a table of fields, got " .. type(value))
      assert.are.equal(0, #h.calls)
    end)
  end

  it("raises when called with '.' instead of ':'", function()
    local h = fake.harness({})
    local args = { email = "jane@acme.com", role_id = "user" }
    local at, ok, e = line(), pcall(function() local r = h.client.create_membership(args); return r end)
    raised_at(at, ok, e, "close: call client:create_membership{...} with ':' on a client from close.new")
    assert.are.equal(0, #h.calls)
  end)

  it("raises when called on something that is not a client", function()
    local h = fake.harness({})
    local at, ok, e = line(), pcall(function() local r = h.client.create_membership({}, {}); return r end)
    raised_at(at, ok, e, "close: call client:create_membership{...} with ':' on a client from close.new")
  end)
end)

describe("close.new", function()
  it("raises on a non-table, at the caller's line", function()
    new_refuses(nil, "close.new: expected a table of options, got nil")
    new_refuses(fake.KEY, "close.new: expected a table of options, got string")
  end)

  it("raises on an unknown option, at the caller's line", function()
    new_refuses(with({ bogus = 1 }), "close.new: unknown option 'bogus'")
    new_refuses(with({ apikey = "x" }), "close.new: unknown option 'apikey'")
  end)

  it("raises on an option of the wrong type", function()
    new_refuses(with({ timeout = "5" }), "close.new: option 'timeout' must be a number (got string)")
    new_refuses(with({ transport = true }), "close.new: option 'transport' must be a function (got boolean)")
    new_refuses({ api_key = 12345, transport = stub }, "close.new: option 'api_key' must be a string (got number)")
  end)

  it("needs exactly one credential", function()
    new_refuses({ transport = stub }, "close.new: give exactly one of 'api_key', 'oauth_token' and 'oauth'")
    new_refuses({ api_key = "a", oauth_token = "b", transport = stub },
      "close.new: give exactly one of 'api_key', 'oauth_token' and 'oauth'")
  end)

  local BAD_KEYS = {
    { "empty", "", "must not be empty" },
    { "CR", "abc\rdef", "must not contain CR, LF or NUL" },
    { "LF", "abc\ndef", "must not contain CR, LF or NUL" },
    { "CRLF header injection", "abc\r\nX-Evil: 1", "must not contain CR, LF or NUL" },
    { "NUL", "abc\0def", "must not contain CR, LF or NUL" },
    { "':'", "abc:def", "must not contain ':'" },
    { "tab", "abc\tdef", "must be printable ASCII" },
    { "DEL", "abc\127", "must be printable ASCII" },
    { "non-ASCII", "abc\195\169", "must be printable ASCII" },
  }
  for _, case in ipairs(BAD_KEYS) do
    it("refuses an api_key with " .. case[1], function()
      new_refuses({ api_key = case[2], transport = stub }, "close.new: option 'api_key' " .. case[3])
    end)
  end

  it("refuses an oauth_token with a newline, CR or NUL, or empty", function()
    new_refuses({ oauth_token = "tok\nen", transport = stub },
      "close.new: option 'oauth_token' must not contain CR, LF or NUL")
    new_refuses({ oauth_token = "tok\ren", transport = stub },
      "close.new: option 'oauth_token' must not contain CR, LF or NUL")
    new_refuses({ oauth_token = "tok\0en", transport = stub },
      "close.new: option 'oauth_token' must not contain CR, LF or NUL")
    new_refuses({ oauth_token = "", transport = stub }, "close.new: option 'oauth_token' must not be empty")
  end)

  it("accepts ':' in an oauth_token (only the Basic user name may not have one)", function()
    local h = fake.harness({ fake.ok() }, { oauth_token = "a:b" })
    fake.create(h)
    assert.are.equal("Bearer a:b", h.calls[1].headers.Authorization)
  end)

  local BAD_URLS = {
    { "http://api.close.com/api/v1", "must use https (plain http is allowed only for loopback hosts)" },
    { "http://10.0.0.1:8080", "must use https (plain http is allowed only for loopback hosts)" },
    { "http://127.1", "must use https (plain http is allowed only for loopback hosts)" },
    { "http://127.0.0.1.evil.example", "must use https (plain http is allowed only for loopback hosts)" },
    { "http://localhost.evil.example", "must use https (plain http is allowed only for loopback hosts)" },
    { "http://[::2]", "must use https (plain http is allowed only for loopback hosts)" },
    { "ftp://api.close.com/api/v1", "must start with https:// (or http:// for a loopback host)" },
    { "api.close.com/api/v1", "must start with https:// (or http:// for a loopback host)" },
    { "", "must start with https:// (or http:// for a loopback host)" },
    { "https://user:pass@api.close.com/api/v1", "must not contain user info (pass credentials as options)" },
    { "https://KEY@api.close.com", "must not contain user info (pass credentials as options)" },
    { "https://api.close.com/api/v1?x=1", "must not contain a query or fragment" },
    { "https://api.close.com/api/v1#top", "must not contain a query or fragment" },
    { "https://api.close.com/api v1", "must not contain spaces, control or non-ASCII characters" },
    { "https://api.close.com/api/v1\n", "must not contain spaces, control or non-ASCII characters" },
    { "https://", "has no host" },
    { "https:///api/v1", "has no host" },
    { "https://:443/api", "has no host" },
    { "https://[::1/api", "has a malformed IPv6 host" },
  }
  for _, case in ipairs(BAD_URLS) do
    it(("refuses base_url %q"):format(case[1]), function()
      new_refuses(with({ base_url = case[1] }), "close.new: option 'base_url' " .. case[2])
    end)
  end

  local GOOD_URLS = {
    { "https://api.close.com/api/v1", "https://api.close.com/api/v1" },
    { "https://api.close.com/api/v1/", "https://api.close.com/api/v1" },
    { "https://api.close.com/api/v1///", "https://api.close.com/api/v1" },
    { "HTTPS://example.test:8443/", "HTTPS://example.test:8443" },
    { "http://127.0.0.1:18480/api/v1", "http://127.0.0.1:18480/api/v1" },
    { "http://127.9.8.7", "http://127.9.8.7" },
    { "http://localhost/api/v1/", "http://localhost/api/v1" },
    { "http://LocalHost:8080", "http://LocalHost:8080" },
    { "http://[::1]:18480/api/v1", "http://[::1]:18480/api/v1" },
  }
  for _, case in ipairs(GOOD_URLS) do
    it(("accepts base_url %q and posts to %q"):format(case[1], case[2] .. "/membership/"), function()
      local h = fake.harness({ fake.ok() }, { base_url = case[1] })
      fake.create(h)
      assert.are.equal(case[2] .. "/membership/", h.calls[1].url)
      assert.are.equal("close.client(" .. case[2] .. ", api_key)", tostring(h.client))
    end)
  end

  local BAD_NUMBERS = {
    { "timeout", 0, "must be positive" }, { "timeout", -1, "must be positive" },
    { "timeout", 0 / 0, "must be positive" },
    { "connect_timeout", 0, "must be positive" }, { "deadline", -5, "must be positive" },
    { "deadline", 0 / 0, "must be positive" },
    { "max_wait", 0, "must be positive" }, { "max_body", 0, "must be positive" },
    { "backoff_base", -0.1, "must not be negative" }, { "backoff_base", 0 / 0, "must not be negative" },
    { "max_retries", -1, "must be a whole number from 0 to 100" },
    { "max_retries", 1.5, "must be a whole number from 0 to 100" },
    { "max_retries", 0 / 0, "must be a whole number from 0 to 100" },
  }
  for _, case in ipairs(BAD_NUMBERS) do
    it(("refuses %s = %s"):format(case[1], tostring(case[2])), function()
      new_refuses(with({ [case[1]] = case[2] }), ("close.new: option '%s' %s"):format(case[1], case[3]))
    end)
  end

  it("refuses max_retries = math.huge (the C core takes an int)", function()
    local at, ok, e = line(), pcall(function() local r = close.new(with({ max_retries = math.huge })); return r end)
    assert.is_false(ok, "close.new accepted max_retries = math.huge")
    assert.are.equal(SRC .. ":" .. at .. ": close.new: option 'max_retries' ",
      tostring(e):sub(1, #(SRC .. ":" .. at .. ": close.new: option 'max_retries' ")))
  end)

  it("accepts the boundary numbers", function()
    local h = fake.harness({ fake.status(503) }, { max_retries = 0, backoff_base = 0, timeout = 0.001 })
    local m, err = fake.create(h)
    assert.is_nil(m)
    assert.are.equal(1, err.attempts)
    assert.are.equal(0.001, h.calls[1].timeout)
  end)

  it("shows no secret and no setting but the base URL and the credential kind", function()
    local h = fake.harness({})
    assert.are.equal("close.client(https://api.close.com/api/v1, api_key)", tostring(h.client))
    local hb = fake.harness({}, { oauth_token = "tok" })
    assert.are.equal("close.client(https://api.close.com/api/v1, oauth_token)", tostring(hb.client))
    assert.are.same({}, (function() local t = {}; for k in pairs(h.client) do t[#t + 1] = k end; return t end)())
  end)
end)

describe("the request sent", function()
  -- the specs run on every Lua version the Makefile builds for, and on LuaJIT
  local RUNTIME = (type(jit) == "table" and jit.version) or _VERSION
  local UA = "^close%-lua/0%.1%.0 %(" .. (RUNTIME:gsub("%p", "%%%0")) .. "; libcurl/[%d.]+%)$"

  it("has the User-Agent close-lua/0.1.0 (Lua 5.4; libcurl/x.y.z) on Lua 5.4", function()
    if RUNTIME ~= "Lua 5.4" then pending("not Lua 5.4 but " .. RUNTIME) end
    local h = fake.harness({ fake.ok() })
    fake.create(h)
    assert.matches("^close%-lua/0%.1%.0 %(Lua 5%.4; libcurl/[%d.]+%)$", h.calls[1].headers["User-Agent"])
  end)

  it("is a POST of exactly {email, role_id} as JSON with Basic auth for an api_key", function()
    local h = fake.harness({ fake.ok() })
    local m, err, meta = fake.create(h, { email = "jane.doe+x@acme.com", role_id = "role_abc123" })
    assert.is_nil(err)
    assert.are.same(fake.decode(fake.MEMBERSHIP), m)
    assert.are.equal(1, #h.calls)
    local req = h.calls[1]
    assert.are.equal("POST", req.method)
    assert.are.equal("https://api.close.com/api/v1/membership/", req.url)
    assert.matches(UA, req.headers["User-Agent"])
    assert.are.equal("close-lua/0.1.0 (" .. RUNTIME .. "; libcurl/" .. core.curl_version() .. ")",
      req.headers["User-Agent"])
    assert.are.same({
      Authorization = "Basic " .. fake.base64(fake.KEY .. ":"),
      ["Content-Type"] = "application/json",
      Accept = "application/json",
      ["User-Agent"] = req.headers["User-Agent"],
    }, req.headers)
    assert.are.equal("Basic dW5pdF90ZXN0X2tleV8wMTIzNDU2Nzg5Og==", req.headers.Authorization)
    assert.are.equal("string", type(req.body))
    assert.are.same({ email = "jane.doe+x@acme.com", role_id = "role_abc123" }, fake.decode(req.body))
    assert.are.equal(15, req.timeout)
    assert.are.equal(5, req.connect_timeout)
    assert.are.equal(1048576, req.max_body)
    assert.is_nil(req.ca_file)
    assert.are.same({ status = 200, headers = { ["content-type"] = "application/json" }, attempts = 1, duration = 0 },
      meta)
  end)

  it("computes Basic auth for keys of every length modulo 3", function()
    for _, key in ipairs({ "k", "ke", "key", "api_3b9f", "x+/=y~" }) do
      local h = fake.harness({ fake.ok() }, { api_key = key })
      fake.create(h)
      assert.are.equal("Basic " .. fake.base64(key .. ":"), h.calls[1].headers.Authorization)
    end
    assert.are.equal("az0=", fake.base64("k="))
    assert.are.equal("a2V5Og==", fake.base64("key:"))
  end)

  it("uses Bearer auth for an oauth_token", function()
    local h = fake.harness({ fake.ok() }, { oauth_token = "oat_AbC.123-xyz" })
    fake.create(h)
    assert.are.equal("Bearer oat_AbC.123-xyz", h.calls[1].headers.Authorization)
    assert.are.equal("application/json", h.calls[1].headers["Content-Type"])
    assert.are.equal("application/json", h.calls[1].headers.Accept)
    assert.matches(UA, h.calls[1].headers["User-Agent"])
  end)

  it("passes timeout, connect_timeout, ca_file and max_body through", function()
    local h = fake.harness({ fake.ok() },
      { timeout = 7, connect_timeout = 2.5, ca_file = "/etc/test-ca.pem", max_body = 4096 })
    fake.create(h)
    local req = h.calls[1]
    assert.are.equal(7, req.timeout)
    assert.are.equal(2.5, req.connect_timeout)
    assert.are.equal("/etc/test-ca.pem", req.ca_file)
    assert.are.equal(4096, req.max_body)
  end)

  it("sends the same request on every attempt", function()
    local h = fake.harness({ fake.status(503), fake.status(502), fake.ok() })
    local m = fake.create(h)
    assert.are.same(fake.decode(fake.MEMBERSHIP), m)
    assert.are.equal(3, #h.calls)
    assert.are.same(h.calls[1].headers, h.calls[2].headers)
    assert.are.same(h.calls[1].headers, h.calls[3].headers)
    assert.are.equal(h.calls[1].body, h.calls[3].body)
    assert.are.equal(h.calls[1].url, h.calls[3].url)
  end)

  it("escapes the email in the JSON body", function()
    local email = "o'hara/x{y}|z@example.com"
    local h = fake.harness({ fake.ok() })
    fake.create(h, { email = email, role_id = "user" })
    assert.are.same({ email = email, role_id = "user" }, fake.decode(h.calls[1].body))
  end)
end)

describe("the module-level default client", function()
  after_each(function() close.set_default(nil) end)

  local function env_has_credentials()
    return (os.getenv("CLOSE_API_KEY") or "") ~= "" or (os.getenv("CLOSE_ACCESS_TOKEN") or "") ~= ""
  end

  it("close.create_membership uses the client given to close.set_default", function()
    local h = fake.harness({ fake.ok() })
    close.set_default(h.client)
    assert.are.equal(h.client, close.default())
    local m, err, meta = close.create_membership({ email = "jane@acme.com", role_id = "user" })
    assert.is_nil(err)
    assert.are.same(fake.decode(fake.MEMBERSHIP), m)
    assert.are.equal(1, meta.attempts)
    assert.are.equal(1, #h.calls)
    assert.are.equal(fake.URL, h.calls[1].url)
  end)

  it("close.create_membership validates like the method", function()
    local h = fake.harness({})
    close.set_default(h.client)
    local m, err = close.create_membership({ email = "nope", role_id = "user" })
    assert.is_nil(m)
    assert.are.equal("validation", err.kind)
    assert.are.same({ email = "must contain '@'" }, err.field_errors)
    assert.are.equal(0, err.attempts)
    assert.are.equal(0, #h.calls)
  end)

  it("close.create_membership raises on a non-table at the caller's line", function()
    local at, ok, e = line(), pcall(function() local r = close.create_membership("jane@acme.com"); return r end)
    raised_at(at, ok, e, "close: create_membership expects a table of fields, got string")
  end)

  it("close.set_default refuses what is not a client, at the caller's line", function()
    local at, ok, e = line(), pcall(function() local r = close.set_default({}); return r end)
    assert.is_false(ok)
    assert.are.equal(SRC .. ":" .. at .. ": close.set_default: expected a client from close.new (or nil)", e)
  end)

  it("without CLOSE_API_KEY/CLOSE_ACCESS_TOKEN, close.default() is nil + a validation error", function()
    if env_has_credentials() then pending("CLOSE_API_KEY or CLOSE_ACCESS_TOKEN is set in this environment") end
    close.set_default(nil)
    local c, err = close.default()
    assert.is_nil(c)
    local reason = "no credentials: set CLOSE_API_KEY, CLOSE_ACCESS_TOKEN or CLOSE_TOKEN_FILE"
    assert.are.equal("validation", err.kind)
    assert.are.same({ api_key = reason }, err.field_errors)
    assert.are.equal("invalid api_key: " .. reason, err.message)
    assert.are.equal(0, err.attempts)
    assert.are.equal("close: validation: invalid api_key: " .. reason, tostring(err))
    local m, err2 = close.create_membership({ email = "jane@acme.com", role_id = "user" })
    assert.is_nil(m)
    assert.are.equal("validation", err2.kind)
    assert.are.same({ api_key = reason }, err2.field_errors)
  end)

  it("close.set_default(nil) drops the default client", function()
    if env_has_credentials() then pending("CLOSE_API_KEY or CLOSE_ACCESS_TOKEN is set in this environment") end
    local h = fake.harness({})
    close.set_default(h.client)
    assert.are.equal(h.client, close.default())
    close.set_default(nil)
    assert.is_nil((close.default()))
  end)
end)
