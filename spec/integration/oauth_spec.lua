-- OAuth through libcurl against the local server's token endpoint (rotating
-- refresh tokens, reuse detection, expiring access tokens): refresh across
-- expiries, a reused refresh token, and close-provision login end to end.
local close = require "close"
local core = require "close.core"
local server = require "spec.support.server"
local files = require "spec.support.files"

local http = core.http()

local function client(oauth, extra)
  local o = { client_id = server.oauth_client_id, client_secret = server.oauth_client_secret }
  for k, v in pairs(oauth) do o[k] = v end
  local opts = { oauth = o, base_url = server.https_url, ca_file = server.ca }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return close.new(opts)
end

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

describe("OAuth against the local server", function()
  before_each(function() server.reset() end)

  it("40 creates over 8 s with 2 s tokens: no auth error, one refresh per expiry", function()
    server.config{ token_lifetime = 2 }
    local g = server.oauth_grant()
    local statuses, handed = {}, {}
    local c = client({ access_token = g.access_token, refresh_token = g.refresh_token, expires_at = g.expires_at,
      on_tokens = function(t) handed[#handed + 1] = t end },
      { on_attempt = function(info) statuses[#statuses + 1] = info.status end })
    local t0 = core.now()
    for i = 1, 40 do
      local m, err = c:create_membership{ email = ("oauth%d@acme.com"):format(i), role_id = "user" }
      assert.is_nil(err and tostring(err))
      assert.matches("^memb_", m.id)
      core.sleep(0.2)
    end
    local elapsed = core.now() - t0
    for _, s in ipairs(statuses) do assert.equal(200, s) end -- not one 401, token requests included
    local stats = server.oauth_stats()
    assert.equal(#handed, stats.refreshes)
    assert.equal(#handed, stats.token_requests)
    -- a 2 s token is refreshed 0.2 s before it ends: one refresh each 1.8 s
    assert.is_true(stats.refreshes >= math.floor(elapsed / 2), stats.refreshes .. " in " .. elapsed)
    assert.is_true(stats.refreshes <= math.ceil(elapsed / 1.8), stats.refreshes .. " in " .. elapsed)
    assert.equal(0, stats.families_revoked)
  end)

  it("a reused refresh token ends in kind auth after at most 2 token requests, and stays refused", function()
    local g = server.oauth_grant()
    -- someone else uses the refresh token first (a copy of the token file, say)
    local res = assert(http:request{ method = "POST", url = server.token_url, ca_file = server.ca,
      headers = { ["Content-Type"] = "application/x-www-form-urlencoded" },
      body = ("grant_type=refresh_token&refresh_token=%s&client_id=%s&client_secret=%s"):format(
        g.refresh_token, server.oauth_client_id, server.oauth_client_secret) })
    assert.equal(200, res.status)
    local c = client({ refresh_token = g.refresh_token })
    local m, err = c:create_membership{ email = "reuse@acme.com", role_id = "user" }
    assert.is_nil(m)
    assert.equal("auth", err.kind)
    assert.equal("invalid_grant", err.code)
    assert.matches("authorize again", err.message)
    local _, again = c:create_membership{ email = "reuse@acme.com", role_id = "user" }
    assert.equal("auth", again.kind)
    local stats = server.oauth_stats()
    assert.is_true(stats.token_requests <= 2)
    assert.equal(1, stats.families_revoked)
    for _, r in ipairs(server.requests()) do assert.equal("/oauth2/token/", r.uri) end -- no API call was made
  end)

  it("a 401 for a revoked token: one refresh, the call succeeds", function()
    local g = server.oauth_grant()
    local c = client({ access_token = g.access_token, refresh_token = g.refresh_token, expires_at = g.expires_at })
    assert.truthy(c:create_membership{ email = "first@acme.com", role_id = "user" })
    -- the server's access token dies early (its lifetime shortened to a blink, then passed)
    server.config{ token_lifetime = 0.001 }
    local g2 = server.oauth_grant()
    local c2 = client({ access_token = g2.access_token, refresh_token = g2.refresh_token,
      expires_at = g2.expires_at + 3600 }) -- the client believes it valid for an hour
    core.sleep(0.01)
    server.config{ token_lifetime = 3600 }
    local m, err, meta = c2:create_membership{ email = "second@acme.com", role_id = "user" }
    assert.is_nil(err and tostring(err))
    assert.truthy(m)
    assert.equal(2, meta.attempts)
    assert.equal(1, server.oauth_stats().refreshes)
  end)

  describe("close-provision login", function()
    local dir
    before_each(function()
      dir = files.tmpdir()
    end)
    after_each(function() os.execute("rm -rf " .. sh_quote(dir)) end)

    it("prints the authorize URL, takes the redirect, writes a private token file for provisioning", function()
      local lua = arg and arg[-1] or "lua"
      local tokens = dir .. "/tokens.json"
      local env = ("CLOSE_CLIENT_SECRET=%s CLOSE_BASE_URL=%s CLOSE_CA_FILE=%s CLOSE_AUTHORIZE_URL=%s"):format(
        sh_quote(server.oauth_client_secret), sh_quote(server.https_url), sh_quote(server.ca),
        sh_quote(server.authorize_url))
      local p = assert(io.popen(("%s %s bin/close-provision login --client-id %s --token-file %s --timeout 20 2>&1")
        :format(env, lua, server.oauth_client_id, sh_quote(tokens))))
      assert.equal("Open this URL in a browser and approve the app:", p:read("*l"))
      local url = p:read("*l"):match("^  (%S+)$")
      assert.matches("^" .. server.authorize_url:gsub("%p", "%%%0") .. "%?client_id=", url)
      -- PKCE and the scope a refresh token needs (issue 14 item 18)
      assert.matches("[?&]code_challenge=[%w%-_]+&", url)
      assert.equal(43, #url:match("[?&]code_challenge=([%w%-_]+)"))
      assert.matches("&code_challenge_method=S256&", url, 1, true)
      assert.matches("&scope=all.full_access%20offline_access&", url, 1, true)
      local waiting = p:read("*l")
      local redirect_uri = waiting:match("^Waiting for Close's redirect to (http://127%.0%.0%.1:%d+/callback) %.%.%.$")
      assert.is_string(redirect_uri, waiting)
      -- the browser: the authorize page answers with a redirect to the CLI
      local res = assert(http:request{ method = "GET", url = url, ca_file = server.ca })
      assert.equal(302, res.status)
      local location = res.headers.location
      assert.matches("^" .. redirect_uri:gsub("%p", "%%%0") .. "%?code=", location)
      -- a redirect with another state first: ignored, the login waits on
      local forged = location:gsub("state=[^&]*", "state=forged")
      local fres = assert(http:request{ method = "GET", url = forged, timeout = 5 })
      assert.equal(200, fres.status)
      local ok = assert(http:request{ method = "GET", url = location, timeout = 5 })
      assert.equal(200, ok.status)
      assert.matches("see your terminal", ok.body)
      local rest = p:read("*a")
      p:close()
      assert.matches("ignored a redirect whose state is not this login's", rest, 1, true)
      assert.matches("Logged in to orga_%w+; tokens saved to " .. tokens:gsub("%p", "%%%0") .. " %(mode 0600%)%.", rest)
      assert.is_true(core.check_private(tokens))
      assert.equal(1, server.oauth_stats().codes_exchanged)
      assert.equal(1, server.oauth_stats().pkce_verified) -- the server checked the verifier against the challenge
      local saved = assert(close.oauth.file_store(tokens).load())
      assert.equal(server.oauth_client_id, saved.client_id)
      for _, secret in ipairs({ saved.access_token, saved.refresh_token, server.oauth_client_secret }) do
        assert.is_nil(rest:find(secret, 1, true))
      end

      -- provisioning with the token file, past an expiry: it refreshes and rotates the file
      local team = dir .. "/team.csv"
      local f = assert(io.open(team, "w"))
      f:write("ann@acme.com,user\nbob@acme.com,user\n")
      f:close()
      server.config{ token_lifetime = 3600 }
      local state = assert(io.open(tokens)):read("*a")
      local doc = require("cjson").decode(state)
      doc.expires_at = 0 -- as if an hour had passed
      assert(core.write_private(tokens, require("cjson").encode(doc)))
      local run = assert(io.popen(("CLOSE_CLIENT_SECRET=%s CLOSE_BASE_URL=%s CLOSE_CA_FILE=%s CLOSE_API_KEY= %s "
        .. "bin/close-provision --token-file %s %s 2>&1; echo \"exit=$?\""):format(sh_quote(server.oauth_client_secret),
        sh_quote(server.https_url), sh_quote(server.ca), lua, sh_quote(tokens), sh_quote(team))))
      local out = run:read("*a")
      run:close()
      assert.matches("2 items: 2 done", out, 1, true)
      assert.matches("exit=0", out, 1, true)
      local after = assert(close.oauth.file_store(tokens).load())
      assert.are_not.equal(saved.refresh_token, after.refresh_token)
      assert.equal(1, server.oauth_stats().refreshes)
      for _, secret in ipairs({ saved.refresh_token, after.refresh_token, after.access_token }) do
        assert.is_nil(out:find(secret, 1, true))
      end
    end)

    it("finds the local server's authorize page from CLOSE_BASE_URL alone, and logs in with PKCE", function()
      local lua = arg and arg[-1] or "lua"
      local tokens = dir .. "/tokens.json"
      local p = assert(io.popen(("CLOSE_AUTHORIZE_URL= CLOSE_CLIENT_SECRET=%s CLOSE_BASE_URL=%s CLOSE_CA_FILE=%s "
        .. "%s bin/close-provision login --client-id %s --token-file %s --timeout 20 2>&1; echo \"exit=$?\"")
        :format(sh_quote(server.oauth_client_secret), sh_quote(server.https_url), sh_quote(server.ca), lua,
          server.oauth_client_id, sh_quote(tokens))))
      p:read("*l")
      local url = p:read("*l"):match("^  (%S+)$")
      p:read("*l")
      assert.equal(server.authorize_url, url:match("^[^?]+"))
      local res = assert(http:request{ method = "GET", url = url, ca_file = server.ca })
      assert.equal(302, res.status)
      assert(http:request{ method = "GET", url = res.headers.location, timeout = 5 })
      local rest = p:read("*a")
      p:close()
      assert.matches("Logged in to orga_%w+", rest)
      assert.matches("exit=0", rest, 1, true)
      assert.same(server.oauth_counts{ token_requests = 1, codes_exchanged = 1, pkce_verified = 1 },
        server.oauth_stats())
    end)

    it("fails with status 1 and says so when the app is not approved", function()
      local lua = arg and arg[-1] or "lua"
      local p = assert(io.popen(("CLOSE_CLIENT_SECRET=x %s bin/close-provision login --client-id cid --token-file %s "
        .. "--timeout 10 2>&1; echo \"exit=$?\""):format(lua, sh_quote(dir .. "/t.json"))))
      p:read("*l")
      local url = p:read("*l")
      local redirect_uri = p:read("*l"):match("(http://%S+/callback)")
      local state = url:match("state=([%w]+)")
      assert(http:request{ method = "GET", url = redirect_uri .. "?error=access_denied&state=" .. state, timeout = 5 })
      local rest = p:read("*a")
      p:close()
      assert.matches("the app was not approved (access_denied)", rest, 1, true)
      assert.matches("exit=1", rest, 1, true)
      assert.is_nil(io.open(dir .. "/t.json"))
    end)

    it("refuses to start without the client secret or the client id", function()
      local lua = arg and arg[-1] or "lua"
      local p = assert(io.popen(("CLOSE_CLIENT_SECRET= %s bin/close-provision login --client-id cid 2>&1; "
        .. "echo \"exit=$?\""):format(lua)))
      local out = p:read("*a")
      p:close()
      assert.equal("close-provision login: set CLOSE_CLIENT_SECRET to the OAuth app's client secret\nexit=2\n", out)
      p = assert(io.popen(("CLOSE_CLIENT_SECRET=s %s bin/close-provision login 2>&1; echo \"exit=$?\""):format(lua)))
      out = p:read("*a")
      p:close()
      assert.equal("close-provision login: --client-id is required (the OAuth app's client id)\nexit=2\n", out)
    end)
  end)
end)
