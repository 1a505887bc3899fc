-- OAuth 2 of the local Close-compatible server (test/server): the authorize
-- stand-in, POST /oauth2/token/ (code exchange, refresh rotation, reuse
-- detection), Bearer checks of issued tokens, "oauth" faults, the counters,
-- and a request log without secrets. Driven over raw HTTP (close.core).
local core = require "close.core"
local cjson = require "cjson"
local server = require "spec.support.server"

local ORG_ID = "orga_yPVZsGazVKgng0gEEYRSyzKDNQz8C2vSz27FKNsHfCK"
local ADMIN_USER_ID = "user_zOWTHY3H5X907FSCrl76CkpR22M1C3wzPmtiDxShlix"
local FORM = "application/x-www-form-urlencoded"
local REDIRECT = "http://127.0.0.1:8765/callback"

local http = core.http()

local function request(t)
  t.timeout, t.connect_timeout, t.ca_file = t.timeout or 5, 2, server.ca
  local res, err = http:request(t)
  assert(res, err and err.message)
  return res
end

local function escape(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

local function encode_form(t)
  local parts = {}
  for k, v in pairs(t) do parts[#parts + 1] = escape(k) .. "=" .. escape(v) end
  table.sort(parts)
  return table.concat(parts, "&")
end

-- POST /oauth2/token/ with the registered client unless `params` says otherwise
-- (false drops a field).
local function token(params, opts)
  opts = opts or {}
  local p = { client_id = server.oauth_client_id, client_secret = server.oauth_client_secret }
  for k, v in pairs(params) do p[k] = v or nil end
  return request{ method = "POST", url = opts.url or server.token_url,
                  headers = { ["Content-Type"] = opts.content_type or FORM },
                  body = opts.body or encode_form(p) }
end

local function json(res)
  return cjson.decode(res.body)
end

local function refresh(refresh_token)
  return token{ grant_type = "refresh_token", refresh_token = refresh_token }
end

local function authorize(query)
  return request{ method = "GET", url = server.authorize_url .. "?" .. encode_form(query) }
end

local function new_code(redirect_uri)
  local res = authorize{ client_id = server.oauth_client_id, response_type = "code",
                         redirect_uri = redirect_uri or REDIRECT }
  assert.equal(302, res.status)
  return (assert(res.headers.location:match("[?&]code=(code_%w+)")))
end

local function me(access_token)
  return request{ method = "GET", url = server.http_url .. "/me/",
                  headers = { Authorization = "Bearer " .. access_token } }
end

local function assert_oauth_error(status, code, res)
  assert.equal(status, res.status)
  assert.equal("no-store", res.headers["cache-control"])
  assert.equal("application/json", res.headers["content-type"])
  local body = json(res)
  assert.equal(code, body.error)
  assert.equal("string", type(body.error_description))
  return body
end

local function assert_token_pair(body)
  assert.equal("Bearer", body.token_type)
  assert.matches("^access_" .. ("%w"):rep(32) .. "$", body.access_token)
  assert.matches("^refresh_" .. ("%w"):rep(32) .. "$", body.refresh_token)
  assert.equal("all.full_access offline_access", body.scope)
  assert.equal(ORG_ID, body.organization_id)
  assert.equal(ADMIN_USER_ID, body.user_id)
end

-- Sleeps until the wall clock passes epoch time `t` (bounded: tokens here live <= 1 s).
local function sleep_past(t)
  local wait = t - core.time() + 0.05
  assert(wait <= 1.5, "a wait this long is a bug in the spec")
  if wait > 0 then core.sleep(wait) end
end

describe("OAuth 2 on the local server", function()
  before_each(function() server.reset() end)

  it("exports the registered client and the addresses", function()
    assert.equal("oa2client_test_5d1e", server.oauth_client_id)
    assert.equal("oa2secret_test_9c7b", server.oauth_client_secret)
    assert.matches("^https://127%.0%.0%.1:%d+/oauth2/authorize/$", server.authorize_url)
    assert.equal(server.origin_https .. "/oauth2/authorize/", server.authorize_url)
    assert.matches("^http://127%.0%.0%.1:%d+$", server.origin_http)
  end)

  describe("authorize stand-in", function()
    it("redirects at once with a new code and the state, url-encoded", function()
      local res = authorize{ client_id = server.oauth_client_id, response_type = "code",
                             redirect_uri = REDIRECT, state = "s 1/2&=" }
      assert.equal(302, res.status)
      assert.equal("no-store", res.headers["cache-control"])
      local code = res.headers.location:match(
        "^http://127%.0%.0%.1:8765/callback%?code=(code_%w+)&state=s%%201%%2F2%%26%%3D$")
      assert.matches("^code_" .. ("%w"):rep(32) .. "$", code)
      assert.not_equal(code, new_code())
    end)

    it("appends to a redirect_uri's query with &, and leaves out an absent state", function()
      local res = authorize{ client_id = server.oauth_client_id, response_type = "code",
                             redirect_uri = "http://localhost/cb?a=1" }
      assert.equal(302, res.status)
      assert.matches("^http://localhost/cb%?a=1&code=code_%w+$", res.headers.location)
    end)

    it("refuses a wrong client, response type or redirect_uri with a 400 and no redirect", function()
      local good = { client_id = server.oauth_client_id, response_type = "code", redirect_uri = REDIRECT }
      local cases = {
        { { client_id = "oa2client_other" }, "client_id" },
        { { client_id = false }, "client_id" },
        { { response_type = "token" }, "response_type" },
        { { redirect_uri = "https://example.com/cb" }, "redirect_uri" },
        { { redirect_uri = "http://127.0.0.1@example.com/cb" }, "redirect_uri" },
        { { redirect_uri = "http://localhost/cb#frag" }, "redirect_uri" },
        { { redirect_uri = false }, "redirect_uri" },
      }
      for _, case in ipairs(cases) do
        local q = {}
        for k, v in pairs(good) do q[k] = v end
        for k, v in pairs(case[1]) do q[k] = v or nil end
        local res = authorize(q)
        assert.equal(400, res.status)
        assert.is_nil(res.headers.location)
        assert.matches(case[2], json(res).error_description, 1, true)
      end
    end)
  end)

  describe("authorization_code grant", function()
    it("exchanges a code once for a working token pair; a second exchange is invalid_grant", function()
      local code = new_code()
      local res = token{ grant_type = "authorization_code", code = code, redirect_uri = REDIRECT }
      assert.equal(200, res.status)
      assert.equal("no-store", res.headers["cache-control"])
      assert.equal("application/json", res.headers["content-type"])
      local body = json(res)
      assert_token_pair(body)
      assert.equal(3600, body.expires_in)
      assert.matches('"expires_in":3600[,}]', res.body)   -- an integer on the wire

      local r = me(body.access_token)
      assert.equal(200, r.status)
      assert.equal(ADMIN_USER_ID, json(r).id)
      assert.equal("bearer", server.requests()[2].auth_scheme)

      local again = assert_oauth_error(400, "invalid_grant",
        token{ grant_type = "authorization_code", code = code, redirect_uri = REDIRECT })
      assert.matches("already used", again.error_description)
      assert.same(server.oauth_counts{ token_requests = 2, codes_exchanged = 1, invalid_grant = 1 },
        server.oauth_stats())
    end)

    it("needs the authorize request's redirect_uri and a code it issued", function()
      local code = new_code()
      assert_oauth_error(400, "invalid_grant",
        token{ grant_type = "authorization_code", code = code, redirect_uri = "http://127.0.0.1:8765/other" })
      assert_oauth_error(400, "invalid_grant", token{ grant_type = "authorization_code", code = code })
      assert_oauth_error(400, "invalid_grant",
        token{ grant_type = "authorization_code", code = "code_" .. ("x"):rep(32), redirect_uri = REDIRECT })
      assert_oauth_error(400, "invalid_request", token{ grant_type = "authorization_code", redirect_uri = REDIRECT })
      -- refused attempts did not use the code up
      assert.equal(200, token{ grant_type = "authorization_code", code = code, redirect_uri = REDIRECT }.status)
      assert.same(server.oauth_counts{ token_requests = 5, codes_exchanged = 1, invalid_grant = 3 },
        server.oauth_stats())
    end)

    describe("with PKCE (RFC 7636, S256; issue 14 item 18)", function()
      -- RFC 7636 appendix B: a verifier and its S256 challenge
      local VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
      local CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
      local function pkce_code(challenge, method)
        local res = authorize{ client_id = server.oauth_client_id, response_type = "code", redirect_uri = REDIRECT,
                               code_challenge = challenge or CHALLENGE, code_challenge_method = method or "S256" }
        assert.equal(302, res.status)
        return (assert(res.headers.location:match("[?&]code=(code_%w+)")))
      end
      local function exchange(code, verifier)
        return token{ grant_type = "authorization_code", code = code, redirect_uri = REDIRECT,
                      code_verifier = verifier }
      end

      it("exchanges the code only with the verifier of its challenge", function()
        local code = pkce_code()
        local wrong = assert_oauth_error(400, "invalid_grant", exchange(code, VERIFIER:sub(1, -2) .. "l"))
        assert.equal("The code_verifier does not match the code_challenge.", wrong.error_description)
        local missing = assert_oauth_error(400, "invalid_grant", exchange(code, nil))
        assert.equal("The code_verifier is required: the authorization request had a code_challenge.",
          missing.error_description)
        assert_oauth_error(400, "invalid_grant", exchange(code, "short"))
        assert_oauth_error(400, "invalid_grant", exchange(code, CHALLENGE)) -- the challenge is no verifier
        -- refused attempts did not use the code up
        local res = exchange(code, VERIFIER)
        assert.equal(200, res.status)
        assert_token_pair(json(res))
        assert.same(server.oauth_counts{ token_requests = 5, codes_exchanged = 1, invalid_grant = 4,
          pkce_verified = 1 }, server.oauth_stats())
      end)

      it("checks the verifier with a SHA-256 of its own: verifiers of 43 and 128 characters", function()
        for _, v in ipairs({ ("a"):rep(43), ("-._~Az09"):rep(16) }) do
          local code = pkce_code(core.base64url(core.sha256(v)))
          assert.equal(200, exchange(code, v).status)
        end
      end)

      it("refuses a verifier for a code asked for without a challenge", function()
        local body = assert_oauth_error(400, "invalid_grant", exchange(new_code(), VERIFIER))
        assert.equal("A code_verifier was sent, but the authorization request had no code_challenge.",
          body.error_description)
      end)

      it("the authorize stand-in refuses method plain, a method alone, and a malformed challenge", function()
        local good = { client_id = server.oauth_client_id, response_type = "code", redirect_uri = REDIRECT }
        local cases = {
          { { code_challenge = CHALLENGE, code_challenge_method = "plain" }, "code_challenge_method must be S256." },
          { { code_challenge = CHALLENGE }, "code_challenge_method must be S256." },
          { { code_challenge_method = "S256" }, "code_challenge_method without a code_challenge." },
          { { code_challenge = CHALLENGE .. "A", code_challenge_method = "S256" },
            "code_challenge must be 43 characters of base64url (SHA-256, RFC 7636)." },
          { { code_challenge = CHALLENGE:sub(2) .. "=", code_challenge_method = "S256" },
            "code_challenge must be 43 characters of base64url (SHA-256, RFC 7636)." },
        }
        for _, case in ipairs(cases) do
          local q = {}
          for k, v in pairs(good) do q[k] = v end
          for k, v in pairs(case[1]) do q[k] = v end
          local res = authorize(q)
          assert.equal(400, res.status)
          assert.is_nil(res.headers.location)
          assert.equal(case[2], json(res).error_description)
        end
      end)
    end)

    it("works over plain HTTP too", function()
      local res = token({ grant_type = "authorization_code", code = new_code(), redirect_uri = REDIRECT },
                        { url = server.origin_http .. "/oauth2/token/" })
      assert.equal(200, res.status)
      assert_token_pair(json(res))
    end)
  end)

  describe("refresh_token grant", function()
    it("rotates: a new pair each time; the old access token keeps working", function()
      local g = server.oauth_grant()
      assert.equal(3600, g.expires_in)
      local r1 = json(refresh(g.refresh_token))
      assert_token_pair(r1)
      assert.equal(3600, r1.expires_in)
      assert.not_equal(g.access_token, r1.access_token)
      assert.not_equal(g.refresh_token, r1.refresh_token)
      local r2 = json(refresh(r1.refresh_token))
      assert_token_pair(r2)
      assert.not_equal(r1.refresh_token, r2.refresh_token)
      for _, t in ipairs{ g.access_token, r1.access_token, r2.access_token } do
        assert.equal(200, me(t).status)
      end
      assert.same(server.oauth_counts{ token_requests = 2, refreshes = 2 }, server.oauth_stats())
    end)

    it("refuses an unknown refresh token with invalid_grant", function()
      assert_oauth_error(400, "invalid_grant", refresh("refresh_" .. ("A"):rep(32)))
      assert_oauth_error(400, "invalid_request", token{ grant_type = "refresh_token" })
      assert.same(server.oauth_counts{ token_requests = 2, invalid_grant = 1 }, server.oauth_stats())
    end)

    it("revokes the whole family when a used refresh token comes back", function()
      local other = server.oauth_grant()
      local g = server.oauth_grant()
      local r1 = json(refresh(g.refresh_token))
      assert_token_pair(r1)

      local body = assert_oauth_error(400, "invalid_grant", refresh(g.refresh_token))
      assert.matches("already used", body.error_description)
      for _, t in ipairs{ g.access_token, r1.access_token } do
        local res = me(t)
        assert.equal(401, res.status)
        assert.equal("The access token has been revoked.", json(res).error)
        assert.matches('^Bearer error="invalid_token"', res.headers["www-authenticate"])
      end
      assert_oauth_error(400, "invalid_grant", refresh(r1.refresh_token))
      assert_oauth_error(400, "invalid_grant", refresh(g.refresh_token))
      assert.same(server.oauth_counts{ token_requests = 4, refreshes = 1, families_revoked = 1, invalid_grant = 3 },
                  server.oauth_stats())

      -- another family is untouched
      assert.equal(200, me(other.access_token).status)
      assert.equal(200, refresh(other.refresh_token).status)
    end)
  end)

  describe("access tokens", function()
    it("expire token_lifetime seconds after issue, also across a refresh", function()
      assert.equal(1, server.config{ token_lifetime = 1 }.token_lifetime)
      local g = server.oauth_grant()
      local now = core.time()
      assert.equal(1, g.expires_in)
      assert.is_true(g.expires_at > now and g.expires_at <= now + 1.05)
      local r1 = json(refresh(g.refresh_token))
      assert.equal(1, r1.expires_in)
      assert.equal(200, me(g.access_token).status)   -- rotated out, not expired yet
      assert.equal(200, me(r1.access_token).status)

      sleep_past(g.expires_at)
      local res = me(g.access_token)
      assert.equal(401, res.status)
      assert.equal("The access token has expired.", json(res).error)
      assert.matches('^Bearer error="invalid_token"', res.headers["www-authenticate"])
      -- the refresh token of the family still gives a working token
      local r2 = json(refresh(r1.refresh_token))
      assert.equal(200, me(r2.access_token).status)
    end)

    it("take a fractional lifetime precisely; expires_in is its ceiling", function()
      server.config{ token_lifetime = 0.4 }
      assert.equal(0.4, server.config{}.token_lifetime)
      local g = server.oauth_grant()
      assert.equal(1, g.expires_in)
      assert.is_true(g.expires_at <= core.time() + 0.45)
      assert.equal(200, me(g.access_token).status)
      sleep_past(g.expires_at)
      assert.equal("The access token has expired.", json(me(g.access_token)).error)
    end)

    it("refuses an unknown token as invalid; the fixed token stays valid", function()
      local res = me("access_" .. ("Z"):rep(32))
      assert.equal(401, res.status)
      assert.equal("The access token is invalid.", json(res).error)
      assert.equal(200, me(server.oauth_token).status)
    end)

    it("refuses a bad token_lifetime", function()
      for _, v in ipairs{ 0, -1, "60" } do
        local res = request{ method = "POST", url = server.control_url .. "/config",
                             headers = { ["Content-Type"] = "application/json" },
                             body = cjson.encode{ token_lifetime = v } }
        assert.equal(400, res.status)
        assert.matches("token_lifetime", json(res).error)
      end
      assert.equal(3600, server.config{}.token_lifetime)
    end)
  end)

  describe("token endpoint errors", function()
    it("refuses a wrong or missing client with 401 invalid_client", function()
      local g = server.oauth_grant()
      assert_oauth_error(401, "invalid_client",
        token{ grant_type = "refresh_token", refresh_token = g.refresh_token, client_secret = "oa2secret_wrong" })
      assert_oauth_error(401, "invalid_client",
        token{ grant_type = "refresh_token", refresh_token = g.refresh_token, client_secret = false })
      assert_oauth_error(401, "invalid_client",
        token{ grant_type = "refresh_token", refresh_token = g.refresh_token, client_id = "oa2client_other" })
      -- the refresh token was not used up
      assert.equal(200, refresh(g.refresh_token).status)
      assert.same(server.oauth_counts{ token_requests = 4, refreshes = 1 }, server.oauth_stats())
    end)

    it("needs a form body: another content type is 400 invalid_request", function()
      local params = { client_id = server.oauth_client_id, client_secret = server.oauth_client_secret,
                       grant_type = "refresh_token", refresh_token = server.oauth_grant().refresh_token }
      assert_oauth_error(400, "invalid_request",
        token({}, { content_type = "application/json", body = cjson.encode(params) }))
      assert_oauth_error(400, "invalid_request", token({}, { content_type = "text/plain", body = encode_form(params) }))
      assert.equal(200, token({}, { content_type = FORM .. "; charset=utf-8", body = encode_form(params) }).status)
    end)

    it("refuses an unknown or missing grant_type, and a repeated parameter", function()
      assert_oauth_error(400, "unsupported_grant_type", token{ grant_type = "password" })
      assert_oauth_error(400, "invalid_request", token{})
      local body = encode_form{ client_id = server.oauth_client_id, client_secret = server.oauth_client_secret,
                                grant_type = "refresh_token" } .. "&refresh_token=a&refresh_token=b"
      assert_oauth_error(400, "invalid_request", token({}, { body = body }))
      assert.same(server.oauth_counts{ token_requests = 3 }, server.oauth_stats())
    end)

    it("answers another method with 405, not counted as a token request", function()
      local res = request{ method = "GET", url = server.token_url }
      assert.equal(405, res.status)
      assert.equal("POST", res.headers.allow)
      assert.same(server.oauth_counts{}, server.oauth_stats())
    end)
  end)

  describe("faults with target oauth", function()
    it("hit token requests only; faults without a target hit API requests only", function()
      server.faults{ { mode = "status", status = 503, body = "upstream down", target = "oauth", times = 2 },
                     { mode = "status", status = 502, body = "bad gateway" } }
      local g = server.oauth_grant()
      local api = me(g.access_token)
      assert.equal(502, api.status)
      assert.equal("bad gateway", api.body)
      assert.equal(200, me(g.access_token).status)

      for _ = 1, 2 do
        local res = refresh(g.refresh_token)
        assert.equal(503, res.status)
        assert.equal("upstream down", res.body)
      end
      -- the faulted requests did not use the refresh token
      assert.equal(200, refresh(g.refresh_token).status)
      assert.same(server.oauth_counts{ token_requests = 3, refreshes = 1 }, server.oauth_stats())
      local faults = {}
      for _, r in ipairs(server.requests()) do faults[#faults + 1] = r.fault end
      assert.same({ "status", cjson.null, "status", "status", cjson.null }, faults)
    end)

    it("can reset the connection or answer garbage", function()
      server.faults{ { mode = "reset", target = "oauth" }, { mode = "garbage", target = "oauth" } }
      local g = server.oauth_grant()
      -- a fresh handle: on a reused connection curl would retry a reset once
      local res, err = core.http():request{ method = "POST", url = server.token_url, timeout = 5, connect_timeout = 2,
        ca_file = server.ca, headers = { ["Content-Type"] = FORM },
        body = encode_form{ client_id = server.oauth_client_id, client_secret = server.oauth_client_secret,
                            grant_type = "refresh_token", refresh_token = g.refresh_token } }
      assert.is_nil(res)
      assert.is_table(err)
      local garbage = refresh(g.refresh_token)
      assert.equal(200, garbage.status)
      assert.equal("<html>oops</html>", garbage.body)
      assert.equal(200, refresh(g.refresh_token).status)
      local faults = {}
      for _, r in ipairs(server.requests()) do faults[#faults + 1] = r.fault end
      assert.same({ "reset", "garbage", cjson.null }, faults)
    end)

    it("refuses an unknown target", function()
      local res = request{ method = "POST", url = server.control_url .. "/faults",
                           headers = { ["Content-Type"] = "application/json" },
                           body = cjson.encode{ { mode = "status", status = 500, target = "api" } } }
      assert.equal(400, res.status)
      assert.matches("target", json(res).error)
      assert.same({}, server.requests())
    end)
  end)

  it("logs token requests without a secret, a token or a code", function()
    local code = new_code()
    local pair = json(token{ grant_type = "authorization_code", code = code, redirect_uri = REDIRECT })
    local rotated = json(refresh(pair.refresh_token))
    refresh(pair.refresh_token)                       -- reuse: the family is revoked
    me(rotated.access_token)
    token({}, { content_type = "application/json",
                body = cjson.encode{ client_secret = server.oauth_client_secret } })
    token({}, { body = server.oauth_client_secret .. "&grant_type=" .. pair.access_token })

    local raw = request{ method = "GET", url = server.control_url .. "/requests" }.body
    local secrets = { server.oauth_client_secret, code, pair.access_token, pair.refresh_token,
                      rotated.access_token, rotated.refresh_token }
    for _, s in ipairs(secrets) do
      assert.is_nil(raw:find(s, 1, true), s)
    end
    local reqs = cjson.decode(raw)
    assert.equal(6, #reqs)
    local first = reqs[1]
    assert.equal("/oauth2/token/", first.uri)
    assert.equal("POST", first.method)
    assert.equal("<redacted form>", first.body)
    assert.same({ "client_id", "client_secret", "code", "grant_type", "redirect_uri" }, first.form_keys)
    assert.equal("authorization_code", first.grant_type)
    assert.equal("client_secret_post", first.auth_scheme)
    assert.is_true(first.authenticated)
    assert.equal("refresh_token", reqs[2].grant_type)
    assert.same({ "client_id", "client_secret", "grant_type", "refresh_token" }, reqs[2].form_keys)
    assert.equal("/api/v1/me/", reqs[4].uri)
    assert.equal("bearer", reqs[4].auth_scheme)
    assert.is_false(reqs[4].authenticated)
    assert.same({}, reqs[5].form_keys)
    assert.equal(cjson.null, reqs[5].grant_type)
    assert.same({ "<redacted name>", "grant_type" }, reqs[6].form_keys)
    assert.equal("<redacted>", reqs[6].grant_type)

    -- nginx's access log neither (it has no request bodies and no OAuth query strings)
    local dir = os.getenv("CLOSE_TEST_DIR")
    local f = dir and io.open(dir .. "/access.log", "rb")
    if f then
      local log = f:read("*a")
      f:close()
      assert.matches("POST /oauth2/token/ ", log, 1, true)
      for _, s in ipairs(secrets) do
        assert.is_nil(log:find(s, 1, true), s)
      end
    end
  end)

  it("reset clears the tokens, codes, counters and the token lifetime", function()
    server.config{ token_lifetime = 5 }
    local code = new_code()
    local g = server.oauth_grant()
    refresh(server.oauth_grant().refresh_token)
    server.faults{ { mode = "status", status = 500, target = "oauth" } }
    assert.same(server.oauth_counts{ token_requests = 1, refreshes = 1 }, server.oauth_stats())

    server.reset()
    assert.same(server.oauth_counts{}, server.oauth_stats())
    assert.equal(3600, server.config{}.token_lifetime)
    assert.same({}, server.requests())
    assert.equal("The access token is invalid.", json(me(g.access_token)).error)
    assert_oauth_error(400, "invalid_grant", refresh(g.refresh_token))  -- no fault left: 400, not 500
    assert_oauth_error(400, "invalid_grant",
      token{ grant_type = "authorization_code", code = code, redirect_uri = REDIRECT })
    local fresh = server.oauth_grant()
    assert.not_equal(g.access_token, fresh.access_token)
    assert.not_equal(g.refresh_token, fresh.refresh_token)
  end)
end)
