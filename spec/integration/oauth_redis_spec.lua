-- close.oauth.redis_store against Debian's redis-server (free port, private
-- directory, AOF on): the pair, the compare-and-set save, the lock with an
-- expiry and an owner, failures; and two "nodes" (two clients, each with its
-- own store) sharing one grant through Redis against the local server's
-- rotating refresh tokens with reuse detection on.
local close = require "close"
local core = require "close.core"
local redis = require "close.redis"
local redis_server = require "spec.support.redis_server"
local server = require "spec.support.server"
local cli = require "spec.support.cli"

local PAIR = { access_token = "at1", refresh_token = "rt1", expires_at = 2e9, expires_in = 3600 }

local function with(t, fields)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  for k, v in pairs(fields) do out[k] = v end
  return out
end

describe("close.oauth.redis_store", function()
  local srv

  setup(function() srv = redis_server.start({ password = "redis-test-password-0123456789" }) end)
  teardown(function() srv:destroy() end)

  local function store(extra)
    local o = { port = srv.port, password = srv.password, key = "t:" .. tostring(extra and extra.key or "pair") }
    for k, v in pairs(extra or {}) do o[k] = v end
    return close.oauth.redis_store(o)
  end

  before_each(function()
    local red = srv:client()
    assert.equal("OK", red:command("flushall"))
    red:close()
  end)

  it("holds no pair at first, then the pair saved, in the database asked for", function()
    local s = store({ db = 2 })
    assert.same({}, { s.load() })
    assert.is_true(s:save(PAIR))
    assert.same(PAIR, s.load())
    local red = srv:client()
    assert.equal(redis.null, red:get("t:pair"))
    red:select(2)
    assert.same(PAIR, require("cjson").decode(red:get("t:pair")))
    red:close()
  end)

  it("saves only over the pair it read: a node that lost the race cannot overwrite", function()
    local a, b = store(), store()
    assert.is_true(a:save(PAIR))
    assert.same(PAIR, a.load())
    assert.same(PAIR, b.load())
    local rotated_by_a = with(PAIR, { access_token = "at2", refresh_token = "rt2" })
    local rotated_by_b = with(PAIR, { access_token = "at3", refresh_token = "rt3" })
    assert.is_true(a:save(rotated_by_a))
    local ok, err = b:save(rotated_by_b)
    assert.is_nil(ok)
    assert.equal("the token pair in redis key t:pair changed since it was read (another node refreshed): "
      .. "not overwritten", err)
    assert.same(rotated_by_a, b.load())
    -- saving the pair it holds again (a refused mark, say) is fine
    assert.is_true(b:save(with(rotated_by_a, { refused = "invalid_grant" })))
    assert.is_true(a:save(with(rotated_by_a, { refused = "invalid_grant" })))
  end)

  it("locks with an owner and an expiry: one holder, released by its owner only", function()
    local a, b, c = store(), store(), store()
    assert.is_true(a:lock(5))
    assert.is_false(b:lock(5))
    a:unlock()
    assert.is_true(b:lock(0.2))
    core.sleep(0.3) -- b died holding it: the lock expires
    assert.is_true(c:lock(5))
    b:unlock() -- b's lock is gone; c's stays
    assert.is_false(a:lock(5))
    c:unlock()
    assert.is_true(a:lock(5))
    a:unlock()
  end)

  it("refuses a pair that is not tokens", function()
    local red = srv:client()
    red:set("t:pair", '{"access_token":"a b"}')
    red:close()
    assert.same({ nil, "redis key t:pair has an invalid access_token" }, { store().load() })
  end)

  it("fails with a clear error, no password in it, when Redis is unreachable or refuses", function()
    local port = redis_server.free_port()
    local s = close.oauth.redis_store({ port = port, password = "not-in-any-message-42", timeout = 0.5 })
    local _, err = s.load()
    assert.equal("redis 127.0.0.1:" .. port .. ": connection refused", err)
    assert.same({ nil, "redis 127.0.0.1:" .. port .. ": connection refused" }, { s:lock(1) })
    local wrong = close.oauth.redis_store({ port = srv.port, password = "not-in-any-message-42" })
    _, err = wrong.load()
    assert.matches("^redis auth: WRONGPASS", err)
    assert.is_nil(err:find("not-in-any-message", 1, true))
  end)

  it("takes a connection factory compatible with lua-resty-redis", function()
    local made = 0
    local s = close.oauth.redis_store({ key = "t:factory", connect = function()
      made = made + 1
      return srv:client()
    end })
    assert.is_true(s:save(PAIR))
    assert.same(PAIR, s.load())
    assert.equal(2, made)
  end)

  it("checks its options", function()
    assert.has_error(function() close.oauth.redis_store("x") end,
      "close.oauth.redis_store: expected a table of options")
    assert.has_error(function() close.oauth.redis_store({ port = "6379" }) end,
      "close.oauth.redis_store: port must be an integer")
    assert.has_error(function() close.oauth.redis_store({ key = "" }) end,
      "close.oauth.redis_store: key must be a string")
    assert.has_error(function() close.oauth.redis_store({ connect = 1 }) end,
      "close.oauth.redis_store: connect must be a function")
  end)
end)

describe("two nodes sharing one grant through close.oauth.redis_store", function()
  local srv

  setup(function() srv = redis_server.start() end)
  teardown(function() srv:destroy() end)
  before_each(function() server.reset() end)

  it("make one refresh per expiry between them, with no refresh token used twice", function()
    server.config{ token_lifetime = 2 }
    local g = server.oauth_grant()
    local seed = close.oauth.redis_store({ port = srv.port })
    assert.is_nil(seed.load())
    assert.is_true(seed:save({ access_token = g.access_token, refresh_token = g.refresh_token,
      expires_at = g.expires_at, expires_in = 2 }))
    local nodes = {}
    for i = 1, 2 do
      nodes[i] = close.new({ base_url = server.https_url, ca_file = server.ca, oauth = {
        client_id = server.oauth_client_id, client_secret = server.oauth_client_secret,
        store = close.oauth.redis_store({ port = srv.port }) } })
    end
    local t0 = core.now()
    for i = 1, 30 do
      local m, err = nodes[i % 2 + 1]:create_membership{ email = ("redis%d@acme.com"):format(i), role_id = "user" }
      assert.is_nil(err and tostring(err))
      assert.matches("^memb_", m.id)
      core.sleep(0.2)
    end
    local elapsed = core.now() - t0
    local stats = server.oauth_stats()
    assert.equal(0, stats.families_revoked)
    assert.equal(stats.refreshes, stats.token_requests)
    assert.is_true(stats.refreshes >= math.floor(elapsed / 2), stats.refreshes .. " in " .. elapsed)
    assert.is_true(stats.refreshes <= math.ceil(elapsed / 1.8) + 1, stats.refreshes .. " in " .. elapsed)
    -- the pair in Redis is the last one the server issued: both nodes use it
    local last = seed.load()
    assert.is_not.equal(g.refresh_token, last.refresh_token)
  end)

  it("a node killed -9 while holding the refresh lock delays the other by at most the lock's expiry", function()
    server.config{ token_lifetime = 60 }
    local g = server.oauth_grant()
    local red = srv:client()
    red:del("close:oauth", "close:oauth:lock")
    -- an expired pair: the next call of either node refreshes
    assert.is_true(close.oauth.redis_store({ port = srv.port }):save({ access_token = g.access_token,
      refresh_token = g.refresh_token, expires_at = core.time() - 1, expires_in = 60 }))
    -- node 1, a process of its own with a 3 s deadline (so a 4 s lock): its
    -- token request hangs at the server, which then issues nothing
    server.faults{ { mode = "hang", seconds = 20, target = "oauth" } }
    local script = ("local close = require 'close'; local c = close.new{ base_url = %q, ca_file = %q, "
      .. "deadline = 3, oauth = { client_id = %q, client_secret = %q, "
      .. "store = close.oauth.redis_store{ port = %d } } }; "
      .. "c:create_membership{ email = 'dies@acme.com', role_id = 'user' }")
      :format(server.https_url, server.ca, server.oauth_client_id, server.oauth_client_secret, srv.port)
    local p = assert(io.popen(("%s -e %s >/dev/null 2>&1 & echo $!"):format(cli.lua, cli.quote(script))))
    local pid = tonumber(p:read("*l"))
    p:close()
    local ttl
    for _ = 1, 200 do -- up to 10 s: the lock taken and the token request at the server
      ttl = red:pttl("close:oauth:lock")
      if ttl > 0 and server.oauth_stats().token_requests == 1 then break end
      core.sleep(0.05)
    end
    assert.is_true(ttl > 0 and ttl <= 4000, "the lock's expiry: " .. tostring(ttl) .. " ms")
    os.execute("kill -9 " .. pid)
    local killed = core.now()
    -- node 2 waits for the lock to expire, then refreshes with the pair in Redis
    local node = close.new({ base_url = server.https_url, ca_file = server.ca, oauth = {
      client_id = server.oauth_client_id, client_secret = server.oauth_client_secret,
      store = close.oauth.redis_store({ port = srv.port }) } })
    local m, err = node:create_membership{ email = "survives@acme.com", role_id = "user" }
    local waited = core.now() - killed
    assert.is_nil(err and tostring(err))
    assert.matches("^memb_", m.id)
    -- beyond the lock's expiry: one refresh and one create (2 s under valgrind)
    assert.is_true(waited <= ttl / 1000 + 2, ("waited %.2f s for a lock of %d ms"):format(waited, ttl))
    assert.is_true(waited >= ttl / 1000 - 0.5, ("waited only %.2f s for a lock of %d ms"):format(waited, ttl))
    -- the grant lives on: one refresh, the old refresh token used once
    assert.same(server.oauth_counts{ token_requests = 2, refreshes = 1 }, server.oauth_stats())
    assert.equal(0, red:exists("close:oauth:lock"))
    red:close()
  end)

  it("a node whose save lost the race adopts the pair another node stored, and never overwrites it", function()
    server.config{ token_lifetime = 60 }
    local g, other = server.oauth_grant(), server.oauth_grant()
    local key = "close:oauth"
    local seed = close.oauth.redis_store({ port = srv.port })
    local red = srv:client()
    red:del(key)
    red:close()
    -- an expired pair: the first call refreshes
    assert.is_true(seed:save({ access_token = g.access_token, refresh_token = g.refresh_token,
      expires_at = core.time() - 1, expires_in = 60 }))
    local theirs = { access_token = other.access_token, refresh_token = other.refresh_token,
      expires_at = other.expires_at, expires_in = 60 }
    local node = close.new({ base_url = server.https_url, ca_file = server.ca, oauth = {
      client_id = server.oauth_client_id, client_secret = server.oauth_client_secret,
      store = close.oauth.redis_store({ port = srv.port }),
      -- another node stores its rotation between this node's token request and its save
      on_tokens = function()
        local r = srv:client()
        r:set(key, require("cjson").encode(theirs))
        r:close()
        return true
      end } })
    local m, err = node:create_membership{ email = "race@acme.com", role_id = "user" }
    assert.is_nil(err and tostring(err))
    assert.matches("^memb_", m.id)
    assert.same(theirs, seed.load())
    assert.equal(other.access_token, (node:tokens()).access_token)
    assert.equal(1, server.oauth_stats().refreshes)
  end)
end)
