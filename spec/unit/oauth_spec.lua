-- OAuth without a network: a simulated Close (token endpoint with rotating
-- refresh tokens, an API that answers 401 for expired or revoked tokens)
-- behind the transport hook, and one fake clock for the monotonic and the
-- wall time, moved by sleeps and by the simulated server.
local close = require "close"
local core = require "close.core"
local cjson = require "cjson.safe"
local fake = require "spec.unit.support.fake"

local CLIENT_ID, SECRET = "oa2client_unit", "oa2secret_unit_5f4e3d2c1b"
local BASE = "https://api.close.com/api/v1"
local TOKEN_URL = "https://api.close.com/oauth2/token/"

local function parse_form(s)
  local t = {}
  for k, v in s:gmatch("([^&=]+)=([^&]*)") do
    local function dec(x) return (x:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)) end
    t[dec(k)] = dec(v)
  end
  return t
end

-- A simulated Close. `sim.lifetime` seconds per access token; every token
-- request and API call is recorded in sim.log as {kind, ...}.
local function simulate(opts)
  opts = opts or {}
  local sim = { lifetime = opts.lifetime or 3600, n = 0, log = {}, access = {}, refresh = {},
    token_requests = 0, api_calls = 0, now = 1000, wall = 1700000000, tokens_seen = {} }
  sim.token_script = {} -- responses to use instead of the endpoint's own, in order
  function sim.issue(family)
    sim.n = sim.n + 1
    local a, r = ("acc_%d_%s"):format(sim.n, ("x"):rep(8)), ("ref_%d_%s"):format(sim.n, ("y"):rep(8))
    sim.access[a] = { expires = sim.wall + sim.lifetime, family = family }
    sim.refresh[r] = { family = family, used = false }
    sim.tokens_seen[#sim.tokens_seen + 1] = a
    sim.tokens_seen[#sim.tokens_seen + 1] = r
    return a, r
  end
  local function json(status, doc)
    return { status = status, headers = { ["content-type"] = "application/json" }, body = cjson.encode(doc) }
  end
  function sim.token_endpoint(req)
    sim.token_requests = sim.token_requests + 1
    local f = parse_form(req.body)
    sim.log[#sim.log + 1] = { "token", f, fake.copy(req.headers) }
    if sim.on_token then sim.on_token(req, f) end
    local scripted = table.remove(sim.token_script, 1)
    if scripted then
      if scripted.err then return nil, scripted.err end
      return scripted
    end
    if f.client_id ~= CLIENT_ID or f.client_secret ~= SECRET then
      return json(401, { error = "invalid_client", error_description = "Client authentication failed." })
    end
    if f.grant_type == "authorization_code" then
      if f.code ~= "code_ok" then return json(400, { error = "invalid_grant", error_description = "Bad code." }) end
      local a, r = sim.issue("f" .. sim.n)
      return json(200, { token_type = "Bearer", access_token = a, refresh_token = r, expires_in = sim.lifetime,
        scope = "all.full_access offline_access", organization_id = "orga_1", user_id = "user_1" })
    end
    local rt = sim.refresh[f.refresh_token]
    if not rt or rt.used then
      return json(400, { error = "invalid_grant",
        error_description = "The refresh token is invalid, expired or already used." })
    end
    rt.used = true
    local a, r = sim.issue(rt.family)
    return json(200, { token_type = "Bearer", access_token = a, refresh_token = r, expires_in = sim.lifetime,
      scope = "all.full_access offline_access", organization_id = "orga_1", user_id = "user_1" })
  end
  function sim.transport(req)
    if sim.yield then coroutine.yield() end
    if req.url == TOKEN_URL then return sim.token_endpoint(req) end
    sim.api_calls = sim.api_calls + 1
    local token = (req.headers.Authorization or ""):match("^Bearer (.+)$")
    sim.log[#sim.log + 1] = { "api", token }
    if sim.on_api then sim.on_api(req, token) end
    local a = token and sim.access[token]
    if not a or a.revoked or sim.wall >= a.expires then
      return json(401, { error = "The access token is invalid or has expired." })
    end
    return fake.ok()
  end
  function sim.options(oauth, extra)
    local o = { oauth = oauth, transport = sim.transport, base_url = BASE,
      clock = function() return sim.now end, wallclock = function() return sim.wall end,
      sleep = function(s)
        sim.now, sim.wall = sim.now + s, sim.wall + s
        if sim.yield then coroutine.yield() end
      end,
      random = function() return 0.5 end,
      on_attempt = function(info) sim.log[#sim.log + 1] = { "attempt", fake.copy(info) } end }
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end
  function sim.pass(s) sim.now, sim.wall = sim.now + s, sim.wall + s end
  return sim
end

local function oauth(extra)
  local o = { client_id = CLIENT_ID, client_secret = SECRET }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

local function create(client, email)
  return client:create_membership{ email = email or "jane@acme.com", role_id = "user" }
end

-- resumes the coroutines in turn until all have ended (bounded)
local function run_all(threads)
  for _ = 1, 10000 do
    local alive = false
    for _, co in ipairs(threads) do
      if coroutine.status(co) ~= "dead" then
        alive = true
        assert(coroutine.resume(co))
      end
    end
    if not alive then return end
  end
end

local function kinds(sim)
  local out = {}
  for _, e in ipairs(sim.log) do if e[1] ~= "attempt" then out[#out + 1] = e[1] end end
  return out
end

describe("OAuth", function()
  describe("refresh", function()
    it("gets an access token first when it has only a refresh token, as a form without Authorization", function()
      local sim = simulate()
      local _, r0 = sim.issue("f0")
      local got = {}
      local client = close.new(sim.options(oauth{ refresh_token = r0, on_tokens = function(t) got[#got + 1] = t end }))
      local m, err = create(client)
      assert.is_nil(err)
      assert.equal("memb_1a2b3c", m.id)
      assert.same({ "token", "api" }, kinds(sim))
      local form, headers = sim.log[1][2], sim.log[1][3]
      assert.same({ client_id = CLIENT_ID, client_secret = SECRET, grant_type = "refresh_token",
        refresh_token = r0 }, form)
      assert.equal("application/x-www-form-urlencoded", headers["Content-Type"])
      assert.equal("application/json", headers.Accept)
      assert.is_nil(headers.Authorization)
      assert.equal(1, #got)
      assert.equal(sim.log[#sim.log - 1][2], got[1].access_token) -- the token used is the one handed over
      assert.equal(sim.wall + 3600, got[1].expires_at)
      assert.equal(3600, got[1].expires_in)
      assert.same({ "orga_1", "user_1", "all.full_access offline_access", CLIENT_ID },
        { got[1].organization_id, got[1].user_id, got[1].scope, got[1].client_id })
      assert.is_true(sim.refresh[r0].used)
    end)

    it("uses a given access token until shortly before expires_at, then refreshes once (an hour-long token)", function()
      local sim = simulate()
      local a0, r0 = sim.issue("f0")
      local client = close.new(sim.options(oauth{ access_token = a0, refresh_token = r0,
        expires_at = sim.wall + 3600 }))
      sim.pass(3500)
      assert.truthy(create(client))
      assert.equal(0, sim.token_requests)
      sim.pass(45) -- 55 s left: within the minute of skew
      assert.truthy(create(client, "b@acme.com"))
      assert.equal(1, sim.token_requests)
      assert.truthy(create(client, "c@acme.com"))
      assert.equal(1, sim.token_requests)
    end)

    it("refreshes a 2-second token a fifth of a second before it expires, once per expiry", function()
      local sim = simulate{ lifetime = 2 }
      local _, r0 = sim.issue("f0")
      local client = close.new(sim.options(oauth{ refresh_token = r0 }))
      for i = 1, 40 do -- 40 creates over 8 s
        local m, err = create(client, ("u%d@acme.com"):format(i))
        assert.is_nil(err)
        assert.truthy(m)
        sim.pass(0.2)
      end
      assert.equal(0, #(function()
        local bad = {}
        for _, e in ipairs(sim.log) do if e[1] == "attempt" and e[2].status == 401 then bad[#bad + 1] = e end end
        return bad
      end)())
      -- 8 s of 2 s tokens, each refreshed at 1.8 s: 5 token requests
      assert.equal(5, sim.token_requests)
    end)

    it("refreshes once and retries once after a 401 for a token it held valid, for any method", function()
      local sim = simulate()
      local a0, r0 = sim.issue("f0")
      local client = close.new(sim.options(oauth{ access_token = a0, refresh_token = r0,
        expires_at = sim.wall + 3600 }))
      sim.access[a0].revoked = true
      local doc, err, meta = client:request("POST", "/membership/", { body = { email = "x@acme.com",
        role_id = "user" } })
      assert.is_nil(err)
      assert.truthy(doc)
      assert.equal(2, meta.attempts)
      assert.same({ "api", "token", "api" }, kinds(sim))
      local attempt1 = sim.log[2][2]
      assert.same({ 401, "auth", 0, "reauthorize" }, { attempt1.status, attempt1.kind, attempt1.wait,
        attempt1.wait_source })
    end)

    it("ends with kind auth on a second 401, after one refresh", function()
      local sim = simulate()
      local a0, r0 = sim.issue("f0")
      local client = close.new(sim.options(oauth{ access_token = a0, refresh_token = r0 }))
      sim.on_api = function(_, token) if sim.access[token] then sim.access[token].revoked = true end end
      local m, err = create(client)
      assert.is_nil(m)
      assert.equal("auth", err.kind)
      assert.equal(401, err.status)
      assert.equal(2, err.attempts)
      assert.equal(1, sim.token_requests)
    end)

    it("does not count the retry after a 401 against max_retries", function()
      local sim = simulate()
      local a0, r0 = sim.issue("f0")
      local client = close.new(sim.options(oauth{ access_token = a0, refresh_token = r0 }, { max_retries = 0 }))
      sim.access[a0].revoked = true
      assert.truthy(create(client))
    end)
  end)

  describe("rotation", function()
    it("hands the new pair to on_tokens before the new access token is used", function()
      local sim = simulate()
      local _, r0 = sim.issue("f0")
      local persisted
      local client = close.new(sim.options(oauth{ refresh_token = r0, on_tokens = function(t) persisted = t end }))
      sim.on_api = function(_, token) assert.equal(persisted and persisted.access_token, token) end
      assert.truthy(create(client))
      sim.pass(3590)
      sim.on_api = function(_, token) assert.equal(persisted.access_token, token) end
      assert.truthy(create(client, "b@acme.com"))
      assert.equal(2, sim.token_requests)
      assert.is_false(sim.refresh[persisted.refresh_token].used)
    end)

    for _, how in ipairs({ "raises", "returns nil, err" }) do
      it("keeps the new tokens when on_tokens " .. how .. ", fails the call, and offers them again first", function()
        local sim = simulate()
        local _, r0 = sim.issue("f0")
        local offered, fail = {}, true
        local client = close.new(sim.options(oauth{ refresh_token = r0, on_tokens = function(t)
          offered[#offered + 1] = t.access_token
          if fail then
            if how == "raises" then error("disk full", 0) end
            return nil, "disk full"
          end
        end }))
        local m, err = create(client)
        assert.is_nil(m)
        assert.equal("auth", err.kind)
        assert.equal("on_tokens failed: disk full; the new tokens are kept in memory and offered to it again "
          .. "before they are used", err.message)
        assert.same({ "token" }, kinds(sim)) -- the new token was not used
        fail = false
        assert.truthy(create(client))
        assert.equal(1, sim.token_requests) -- no second refresh: nothing was lost
        assert.same({ offered[1], offered[1] }, offered)
        assert.same({ "token", "api" }, kinds(sim))
      end)
    end

    it("treats an on_tokens that returns nothing as done", function()
      local sim = simulate()
      local _, r0 = sim.issue("f0")
      local client = close.new(sim.options(oauth{ refresh_token = r0, on_tokens = function() end }))
      assert.truthy(create(client))
    end)
  end)

  describe("single flight", function()
    it("makes one token request for 20 coroutines that find the token expired together", function()
      local sim = simulate()
      local _, r0 = sim.issue("f0")
      local client = close.new(sim.options(oauth{ refresh_token = r0 }))
      sim.yield = true
      local threads, results = {}, {}
      for i = 1, 20 do
        threads[i] = coroutine.create(function() results[i] = { create(client, ("c%d@acme.com"):format(i)) } end)
      end
      run_all(threads)
      assert.equal(1, sim.token_requests)
      for i = 1, 20 do
        assert.is_nil(results[i][2])
        assert.equal("memb_1a2b3c", results[i][1].id)
      end
    end)

    it("recovers from a transport that raised in the middle of a refresh", function()
      local sim = simulate()
      local _, r0 = sim.issue("f0")
      local client = close.new(sim.options(oauth{ refresh_token = r0 }))
      sim.on_token = function() sim.on_token = nil error("transport bug", 0) end
      local ok, err = pcall(create, client)
      assert.is_false(ok)
      assert.equal("transport bug", err)
      -- the same thread, then another coroutine: neither waits for the dead flight
      assert.truthy(create(client))
      sim.pass(3600)
      local co = coroutine.create(function() return create(client, "b@acme.com") end)
      local done, m = coroutine.resume(co)
      assert.is_true(done)
      assert.truthy(m)
      assert.equal(3, sim.token_requests)
    end)

    it("gives the waiting calls the error of a refresh that was refused, without asking again", function()
      local sim = simulate()
      local client = close.new(sim.options(oauth{ refresh_token = "ref_unknown" }))
      sim.yield = true
      local threads, results = {}, {}
      for i = 1, 5 do threads[i] = coroutine.create(function() results[i] = { create(client) } end) end
      run_all(threads)
      assert.equal(1, sim.token_requests)
      for i = 1, 5 do assert.equal("auth", results[i][2].kind) end
    end)
  end)

  describe("token endpoint failures", function()
    it("says to authorize again on invalid_grant, and asks only once for a refused refresh token", function()
      local sim = simulate()
      local client = close.new(sim.options(oauth{ refresh_token = "ref_used" }))
      local m, err = create(client)
      assert.is_nil(m)
      assert.equal("auth", err.kind)
      assert.equal("invalid_grant", err.code)
      assert.equal(400, err.status)
      assert.equal("the refresh token was refused (invalid_grant: The refresh token is invalid, expired or already "
        .. "used.): it was revoked, expired or already used; authorize again (close-provision login)", err.message)
      local _, again = create(client)
      assert.equal(err.message, again.message)
      assert.equal(1, sim.token_requests)
      assert.equal(0, sim.api_calls)
    end)

    it("marks a refused refresh token in the store, so no other client sharing it asks again", function()
      local sim = simulate()
      local store = close.oauth.memory_store()
      store:save({ refresh_token = "ref_used", client_id = CLIENT_ID })
      local c1 = close.new(sim.options(oauth{ store = store }))
      local c2 = close.new(sim.options(oauth{ store = store }))
      local _, e1 = create(c1)
      local _, e2 = create(c2)
      assert.equal("auth", e1.kind)
      assert.equal("auth", e2.kind)
      assert.equal(1, sim.token_requests)
      assert.equal(e1.message, e2.message)
      assert.is_string(store.load().refused)
    end)

    it("says to check the client credentials on invalid_client", function()
      local sim = simulate()
      local _, r0 = sim.issue("f0")
      local client = close.new(sim.options({ client_id = CLIENT_ID, client_secret = "wrong_secret",
        refresh_token = r0 }))
      local _, err = create(client)
      assert.equal("auth", err.kind)
      assert.equal("invalid_client", err.code)
      assert.equal("the OAuth client was refused (invalid_client: Client authentication failed.): check client_id "
        .. "and client_secret", err.message)
      assert.equal(1, sim.token_requests)
    end)

    it("retries 5xx, 429 and network failures of the token endpoint like any call", function()
      local sim = simulate()
      local _, r0 = sim.issue("f0")
      local client = close.new(sim.options(oauth{ refresh_token = r0 }))
      sim.token_script = { fake.status(503, ""), fake.status(429, "", { ["retry-after"] = "2" }),
        { err = { kind = "network", message = "connection reset" } } }
      local m, err = create(client)
      assert.is_nil(err)
      assert.truthy(m)
      assert.equal(4, sim.token_requests)
      local waits = {}
      for _, e in ipairs(sim.log) do
        if e[1] == "attempt" and e[2].wait then waits[#waits + 1] = e[2].wait_source end
      end
      assert.same({ "backoff", "retry-after", "backoff" }, waits)
    end)

    it("gives up within the caller's deadline", function()
      local sim = simulate()
      local _, r0 = sim.issue("f0")
      local client = close.new(sim.options(oauth{ refresh_token = r0 }, { deadline = 5 }))
      sim.on_token = function() sim.pass(2) end
      sim.token_script = { fake.status(503, ""), fake.status(503, ""), fake.status(503, ""), fake.status(503, "") }
      local t0 = sim.now
      local _, err = create(client)
      assert.equal("server", err.kind)
      assert.matches("^token endpoint: HTTP 503", err.message)
      assert.is_true(sim.now - t0 <= 5)
      assert.equal(0, sim.api_calls)
    end)

    it("refuses an answer without a usable token as a protocol error that shows none of it", function()
      local sim = simulate()
      local _, r0 = sim.issue("f0")
      local client = close.new(sim.options(oauth{ refresh_token = r0 }))
      for _, case in ipairs({
        { { token_type = "Bearer", expires_in = 60 }, "access_token is missing or invalid" },
        { { token_type = "Bearer", access_token = "acc bad", expires_in = 60 }, "access_token is missing or invalid" },
        { { token_type = "mac", access_token = "acc_secret_1", expires_in = 60 }, "token_type is not Bearer" },
        { { token_type = "Bearer", access_token = "acc_secret_2" }, "expires_in is not a positive number" },
        { { token_type = "Bearer", access_token = "acc_secret_3", expires_in = -1 },
          "expires_in is not a positive number" },
      }) do
        sim.token_script = { fake.ok(cjson.encode(case[1])) }
        local _, err = create(client)
        assert.is_table(err, case[2])
        assert.equal("protocol", err.kind)
        assert.equal("the token endpoint's answer is unusable: " .. case[2], err.message)
      end
    end)
  end)

  describe("secrets", function()
    it("never shows the client secret or a token, old or new, in errors, reports or tostring", function()
      local sim = simulate()
      local a0, r0 = sim.issue("f0")
      local client = close.new(sim.options(oauth{ access_token = a0, refresh_token = r0 }))
      -- the token endpoint echoes what it got, the API its token
      sim.access[a0].revoked = true
      sim.token_script = { fake.status(500, "bad request " .. SECRET .. " " .. r0) }
      local _, err = create(client)
      local texts = { tostring(err), fake.serialize(err), tostring(client), fake.serialize(sim.log[2]) }
      for _, e in ipairs(sim.log) do if e[1] == "attempt" then texts[#texts + 1] = fake.serialize(e[2]) end end
      local all = table.concat(texts, "\n")
      for _, secret in ipairs({ SECRET, a0, r0 }) do assert.is_nil(fake.leak(all, secret)) end
      assert.matches("close.client%(https://api.close.com/api/v1, oauth%)", tostring(client))
      -- a new token, then an error body echoing it
      sim.token_script = {}
      assert.truthy(create(client))
      local new = sim.tokens_seen[#sim.tokens_seen - 1]
      sim.on_api = function() end
      sim.access[new].revoked = true
      sim.token_script = { fake.status(502, "oops " .. new .. " " .. SECRET) }
      local _, err2 = create(client)
      assert.is_nil(fake.leak(tostring(err2), new))
      assert.is_nil(fake.leak(tostring(err2), SECRET))
    end)
  end)

  describe("close.new's oauth option", function()
    local function refuses(o, msg)
      local ok, err = pcall(close.new, { oauth = o, transport = function() end })
      assert.is_false(ok)
      assert.equal(msg, (tostring(err):gsub("^.-close%.new: ", "")))
    end

    it("names the field and the reason", function()
      refuses({ client_id = CLIENT_ID, client_secret = SECRET, refresh_token = "r", extra = 1 },
        "unknown field 'oauth.extra'")
      refuses({ client_id = CLIENT_ID, refresh_token = "r" }, "field 'oauth.client_secret' is required")
      refuses({ client_id = CLIENT_ID, client_secret = "a b", refresh_token = "r" },
        "field 'oauth.client_secret' must be non-empty, without spaces or control characters")
      refuses({ client_id = CLIENT_ID, client_secret = SECRET },
        "field 'oauth' needs refresh_token, access_token, store or code")
      refuses({ client_id = CLIENT_ID, client_secret = SECRET, refresh_token = "r\r\nX: y" },
        "field 'oauth.refresh_token' must be a token (letters, digits and -._~+/, at most 4096)")
      refuses({ client_id = CLIENT_ID, client_secret = SECRET, refresh_token = 5 },
        "field 'oauth.refresh_token' must be a string (got number)")
      refuses({ client_id = CLIENT_ID, client_secret = SECRET, code = "c" },
        "field 'oauth.redirect_uri' is required with 'code'")
      refuses({ client_id = CLIENT_ID, client_secret = SECRET, code = "", redirect_uri = "http://127.0.0.1:1/cb" },
        "field 'oauth.code' must be printable ASCII, not empty")
      refuses({ client_id = CLIENT_ID, client_secret = SECRET, code = "c", redirect_uri = "not a uri" },
        "field 'oauth.redirect_uri' must be an http or https URI")
      refuses({ client_id = CLIENT_ID, client_secret = SECRET, code = "c", redirect_uri = "" },
        "field 'oauth.redirect_uri' must be an http or https URI")
      refuses({ client_id = CLIENT_ID, client_secret = SECRET, store = { load = print } },
        "field 'oauth.store' must have a save function")
      refuses({ client_id = CLIENT_ID, client_secret = SECRET, refresh_token = "r",
        token_url = "http://example.com/t/" },
        "field 'oauth.token_url' must use https (plain http is allowed only for loopback hosts)")
    end)

    it("refuses two credentials", function()
      local ok, err = pcall(close.new, { api_key = "k", oauth = oauth{ refresh_token = "r" } })
      assert.is_false(ok)
      assert.matches("give exactly one of 'api_key', 'oauth_token' and 'oauth'", err)
    end)

    it("posts to the origin of base_url, or to token_url", function()
      assert.equal("https://127.0.0.1:4430/oauth2/token/", close.oauth.token_url("https://127.0.0.1:4430/api/v1"))
      local seen
      local c = close.new{ oauth = oauth{ refresh_token = "r", token_url = "http://127.0.0.1:9/t/" },
        transport = function(req) seen = req.url return fake.status(500) end, max_retries = 0 }
      create(c)
      assert.equal("http://127.0.0.1:9/t/", seen)
    end)
  end)

  describe("first token", function()
    it("builds the authorize URL, asking for offline_access, with a PKCE challenge when given", function()
      assert.equal("https://app.close.com/oauth2/authorize/?client_id=oa2client_unit&redirect_uri=http%3A%2F%2F"
        .. "127.0.0.1%3A8765%2Fcallback&response_type=code&scope=all.full_access%20offline_access&state=s%201",
        close.oauth.authorize_url{ client_id = CLIENT_ID, redirect_uri = "http://127.0.0.1:8765/callback",
          state = "s 1" })
      assert.equal("http://127.0.0.1:9/a/?x=1&client_id=oa2client_unit&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8"
        .. "URWbuGJSstw-cM&code_challenge_method=S256&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback"
        .. "&response_type=code&scope=offline_access&state=s",
        close.oauth.authorize_url{ client_id = CLIENT_ID, redirect_uri = "http://127.0.0.1:8765/callback",
          state = "s", scope = "offline_access", authorize_url = "http://127.0.0.1:9/a/?x=1",
          code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" })
    end)

    it("makes a PKCE pair: a 43-character verifier from /dev/urandom and its S256 challenge (RFC 7636)", function()
      -- RFC 7636 appendix B
      assert.equal("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        close.oauth.code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"))
      local a, b = assert(close.oauth.pkce()), assert(close.oauth.pkce())
      assert.equal("S256", a.method)
      assert.matches("^[%w%-_]+$", a.verifier)
      assert.equal(43, #a.verifier)
      assert.is_true(close.oauth.valid_verifier(a.verifier))
      assert.equal(close.oauth.code_challenge(a.verifier), a.challenge)
      assert.not_equal(a.verifier, b.verifier)
      for _, bad in ipairs({ ("a"):rep(42), ("a"):rep(129), ("a"):rep(42) .. "+", ("a"):rep(42) .. "=", 42 }) do
        assert.is_false(close.oauth.valid_verifier(bad))
      end
    end)

    it("refuses a malformed code_verifier, or one without a code, at close.new", function()
      local base = { client_id = CLIENT_ID, client_secret = SECRET, code = "c", redirect_uri = "http://127.0.0.1:1/cb" }
      local function with(v, drop_code)
        local o = {}
        for k, x in pairs(base) do o[k] = x end
        o.code_verifier = v
        if drop_code then o.code, o.redirect_uri, o.refresh_token = nil, nil, "r" end
        return o
      end
      local want = "field 'oauth.code_verifier' goes with 'code' and must be 43 to 128 of A-Z a-z 0-9 - . _ ~ "
        .. "(RFC 7636)"
      for _, o in ipairs({ with("short"), with(("a"):rep(43), true), with(("a"):rep(43) .. " ") }) do
        local ok, err = pcall(close.new, { oauth = o })
        assert.is_false(ok)
        assert.matches(want, err, 1, true)
      end
      assert.is_truthy(close.new{ oauth = with(("a"):rep(43)) })
    end)

    it("exchanges a code for tokens with the authorization_code grant", function()
      local sim = simulate()
      local saved
      local o = sim.options(nil)
      o.oauth = nil
      o.client_id, o.client_secret, o.code, o.redirect_uri = CLIENT_ID, SECRET, "code_ok", "http://127.0.0.1:1/cb"
      o.on_tokens = function(t) saved = t end
      o.code_verifier = ("v"):rep(43)
      local t, err = close.oauth.exchange_code(o)
      assert.is_nil(err)
      assert.same({ client_id = CLIENT_ID, client_secret = SECRET, grant_type = "authorization_code",
        code = "code_ok", redirect_uri = "http://127.0.0.1:1/cb", code_verifier = ("v"):rep(43) }, sim.log[1][2])
      assert.equal(saved.access_token, t.access_token)
      assert.equal(saved.refresh_token, t.refresh_token)
      o.code = "code_bad"
      local _, err2 = close.oauth.exchange_code(o)
      assert.equal("auth", err2.kind)
      assert.matches("^the authorization code was refused %(invalid_grant", err2.message)
    end)
  end)

  describe("stores", function()
    local path
    before_each(function() path = os.tmpname() os.remove(path) end)
    after_each(function() os.remove(path) end)

    it("file_store: none before the first save; a private file after; the same tokens back", function()
      local s = close.oauth.file_store(path)
      assert.same({}, { s.load() })
      assert.is_true(s:save({ access_token = "acc_1", refresh_token = "ref_1", expires_at = 5.5, client_id = "cid" }))
      assert.is_true(core.check_private(path))
      assert.same({ access_token = "acc_1", refresh_token = "ref_1", expires_at = 5.5, client_id = "cid" }, s.load())
      assert.is_true(s:lock(1))
      assert.is_false(s:lock(1))
      s:unlock()
      assert.is_true(s:lock(1))
      s:unlock()
    end)

    it("file_store refuses a file that others may read, and one that is not tokens", function()
      local f = assert(io.open(path, "w"))
      f:write('{"access_token":"acc_1"}')
      f:close()
      os.execute("chmod 644 '" .. path .. "'")
      local s = close.oauth.file_store(path)
      assert.same({ nil, "token file " .. path .. " may be read or written by others than its owner (chmod 600 it)" },
        { s.load() })
      os.execute("chmod 600 '" .. path .. "'")
      assert.same({ access_token = "acc_1" }, s.load())
      core.write_private(path, "[1,2")
      assert.same({ nil, "token file " .. path .. " is not JSON" }, { s.load() })
      core.write_private(path, '{"scope":"x"}')
      assert.same({ nil, "token file " .. path .. " has neither access_token nor refresh_token" }, { s.load() })
    end)

    it("a client keeps a file store rotated, and a new client starts from it", function()
      local sim = simulate()
      local _, r0 = sim.issue("f0")
      local store = close.oauth.file_store(path)
      local c1 = close.new(sim.options(oauth{ refresh_token = r0, store = store }))
      assert.truthy(create(c1))
      local t1 = store.load()
      assert.equal(sim.tokens_seen[#sim.tokens_seen], t1.refresh_token)
      -- a second client (another run) from the file alone: its access token is still good
      local c2 = close.new(sim.options(oauth{ store = close.oauth.file_store(path) }))
      assert.truthy(create(c2, "b@acme.com"))
      assert.equal(1, sim.token_requests)
      sim.pass(3600)
      assert.truthy(create(c2, "c@acme.com"))
      assert.equal(2, sim.token_requests)
      assert.equal(sim.tokens_seen[#sim.tokens_seen], store.load().refresh_token)
    end)

    it("reports a store that cannot save as kind auth, and keeps the tokens for the next call", function()
      local sim = simulate()
      local _, r0 = sim.issue("f0")
      local mem = close.oauth.memory_store()
      local broken = true
      local store = { load = mem.load, lock = mem.lock, unlock = mem.unlock,
        save = function(self, t) if broken then return nil, "read-only" end return mem.save(self, t) end }
      local client = close.new(sim.options(oauth{ refresh_token = r0, store = store }))
      local _, err = create(client)
      assert.equal("auth", err.kind)
      assert.equal("the token store could not save the new tokens (read-only); they are kept in memory and saved "
        .. "again before they are used", err.message)
      broken = false
      assert.truthy(create(client))
      assert.equal(1, sim.token_requests)
    end)
  end)

  it("tokens() gives the client's current tokens; a key client has none", function()
    local sim = simulate()
    local _, r0 = sim.issue("f0")
    local client = close.new(sim.options(oauth{ refresh_token = r0 }))
    local t = assert(client:tokens())
    assert.equal(sim.tokens_seen[#sim.tokens_seen], t.refresh_token)
    local _, err = close.new{ api_key = "k" }:tokens()
    assert.equal("validation", err.kind)
  end)
end)
