-- close-provision login --redis URL: the first OAuth pair written straight
-- into Redis, where close-scim --redis nodes (with CLOSE_CLIENT_SECRET and
-- no token file) take it; Redis unreachable or a bad URL: one line, no
-- authorization asked for.
local close = require "close"
local core = require "close.core"
local scim = require "spec.openresty.support.scim"
local server = require "spec.support.server"
local nodes = require "spec.nodes.support"
local redis_server = require "spec.support.redis_server"

local LUA = arg and arg[-1] or "lua"
local http = core.http()

local function login(args, env)
  return assert(io.popen(("env CLOSE_CLIENT_SECRET=%s CLOSE_BASE_URL=%s CLOSE_CA_FILE=%s CLOSE_AUTHORIZE_URL=%s %s "
    .. "%s bin/close-provision login --client-id %s --timeout 20 %s 2>&1; echo \"exit=$?\"")
    :format(server.oauth_client_secret, server.https_url, server.ca, server.authorize_url, env or "", LUA,
      server.oauth_client_id, args)))
end

describe("close-provision login --redis", function()
  local r
  before_each(function() server.reset() end)
  after_each(function() if r then r:destroy() end r = nil end)

  it("writes the pair into Redis, where a close-scim node without a token file takes it", function()
    r = redis_server.start{ password = "login-pass-42" }
    local p = login(("--redis redis://127.0.0.1:%d/2"):format(r.port), "CLOSE_REDIS_PASSWORD=login-pass-42")
    assert.equal("Open this URL in a browser and approve the app:", p:read("*l"))
    local url = p:read("*l"):match("^  (%S+)$")
    p:read("*l") -- Waiting for Close's redirect ...
    local res = assert(http:request{ method = "GET", url = url, ca_file = server.ca })
    assert.equal(302, res.status)
    assert.equal(200, assert(http:request{ method = "GET", url = res.headers.location, timeout = 5 }).status)
    local rest = p:read("*a")
    p:close()
    assert.matches(("Logged in to orga_%%w+; tokens saved in Redis 127%%.0%%.0%%.1:%d/2 for every "
      .. "close%%-scim %%-%%-redis node%%.\nexit=0\n$"):format(r.port), rest)
    local pair = assert(close.oauth.redis_store{ port = r.port, db = 2, password = "login-pass-42" }.load())
    assert.equal(server.oauth_client_id, pair.client_id)
    for _, secret in ipairs({ pair.access_token, pair.refresh_token, "login-pass-42" }) do
      assert.is_nil(rest:find(secret, 1, true))
    end
    -- a node with the secret and the URL alone
    local inst = assert(scim.start{ args = { "--redis", ("redis://:login-pass-42@127.0.0.1:%d/2"):format(r.port) },
      env = ("CLOSE_CLIENT_SECRET=%s CLOSE_BASE_URL=%s CLOSE_SCIM_TOKEN=%s")
        :format(server.oauth_client_secret, server.http_url, scim.TOKEN) })
    finally(function() scim.cleanup(inst) end)
    -- the password of the URL is in neither what close-scim prints nor nginx.conf
    assert.equal(("close-scim: listening on %s (2 workers, state in Redis 127.0.0.1:%d/2, logs in %s)")
      :format(inst.base, r.port, inst.state), inst.line)
    assert.is_nil(scim.read(inst.state .. "/nginx.conf"):find("login-pass-42", 1, true))
    assert.is_nil((scim.read(inst.err) or ""):find("login-pass-42", 1, true))
    local status, doc = scim.request("POST", inst.base .. "/Users", nodes.user("viaredis@acme.com", "Via Redis"))
    assert.equal(201, status, nodes.json.encode(doc))
  end)

  it("says Redis cannot be used before asking for an approval; exit 1", function()
    local port = scim.free_port()
    local p = login(("--redis redis://:hidden-pw-7@127.0.0.1:%d/0"):format(port))
    local out = p:read("*a")
    p:close()
    assert.equal(("close-provision login: Redis 127.0.0.1:%d/0 cannot be used: redis 127.0.0.1:%d: "
      .. "connection refused\nexit=1\n"):format(port, port), out)
  end)

  it("refuses a bad URL, and --redis with --token-file; exit 2", function()
    local p = login("--redis localhost:6379")
    assert.equal("close-provision login: --redis: the Redis URL must start with redis://\nexit=2\n", p:read("*a"))
    p:close()
    p = login("--redis redis://127.0.0.1:1/0 --token-file /nonexistent/t.json")
    assert.equal("close-provision login: --redis and --token-file go to different places: give one\nexit=2\n",
      p:read("*a"))
    p:close()
  end)
end)
