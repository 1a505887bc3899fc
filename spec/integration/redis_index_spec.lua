-- close.store.redis_index against Debian's redis-server (free port, private
-- directory, AOF on): the organization index's generation, change counter
-- and changes in Redis for every node, the snapshot in the node's dict; a
-- stopped Redis reads as a generation no snapshot has.
local redis_store = require "close.store.redis"
local redis_index = require "close.store.redis_index"
local server = require "spec.support.redis_server"

describe("close.store.redis_index", function()
  local srv, store

  local function dict()
    local t = {}
    return { get = function(_, k) return t[k] end, set = function(_, k, v) t[k] = v return true end, t = t }
  end

  setup(function() srv = server.start{ password = "index-pass-0123" } end)
  teardown(function() srv:destroy() end)
  before_each(function()
    local red = srv:client()
    red:flushdb()
    red:close()
    store = redis_store{ url = ("redis://:index-pass-0123@127.0.0.1:%d/0"):format(srv.port) }
  end)

  it("keeps the generation, counter and changes in Redis, the snapshot, its stamp and lock in the node", function()
    local a_dict, b_dict = dict(), dict()
    local a, b = redis_index(store, a_dict), redis_index(store, b_dict)
    assert.is_true(a:set("scim:index", "snapshot-a"))
    assert.equal("snapshot-a", a_dict.t["scim:index"])
    assert.is_nil(b:get("scim:index"))
    assert.is_true(a:set("scim:index:stamp", "s1"))
    assert.equal("s1", a_dict.t["scim:index:stamp"])
    assert.is_nil(b:get("scim:index:stamp"))
    assert.is_nil(b:get("scim:index:gen"))
    assert.is_true(a:set("scim:index:gen", "g1"))
    assert.equal(1, a:incr("scim:index:seq", 1, 0))
    assert.is_true(a:set("scim:index:change:1", "{}", 60))
    assert.equal("g1", b:get("scim:index:gen"))
    assert.equal("1", b:get("scim:index:seq"))
    assert.equal("{}", b:get("scim:index:change:1"))
    local red = srv:client()
    local ttl = red:pttl("close:scim:scim:index:change:1")
    red:close()
    assert.is_true(ttl > 50000 and ttl <= 60000)
  end)

  it("serves one prefetch (one round trip) once, then reads Redis again", function()
    local a, b = redis_index(store, dict()), redis_index(store, dict())
    assert.is_true(a:set("scim:index:gen", "g1"))
    assert.is_true(b:prefetch())
    assert.is_true(a:set("scim:index:gen", "g2"))
    assert.equal("g1", b:get("scim:index:gen")) -- prefetched
    assert.equal("g2", b:get("scim:index:gen")) -- read again
  end)

  it("reads as a generation no snapshot has while Redis is down, and recovers", function()
    local cache = redis_index(store, dict())
    local port, dir = srv.port, srv.dir
    srv:stop()
    finally(function() -- a failed assertion must not leave the next specs without Redis
      if not srv.pid then srv = server.start{ port = port, dir = dir, password = "index-pass-0123" } end
    end)
    local ok, err = cache:prefetch()
    assert.is_nil(ok)
    assert.matches("connection refused", err)
    assert.is_nil(err:find("index-pass-0123", 1, true))
    assert.equal("unavailable", cache:get("scim:index:gen"))
    assert.is_false(cache:set("scim:index:gen", "g2"))
    assert.is_nil(cache:incr("scim:index:seq", 1, 0))
    srv = server.start{ port = port, dir = dir, password = "index-pass-0123" }
    assert.is_true(cache:set("scim:index:gen", "g2"))
    assert.equal("g2", cache:get("scim:index:gen"))
  end)

  it("starts a new generation for every node when Redis lost the index's keys", function()
    local a, b = redis_index(store, dict()), redis_index(store, dict())
    assert.is_true(a:set("scim:index:gen", "g1"))
    assert.equal(1, a:incr("scim:index:seq", 1))
    assert.equal(2, a:incr("scim:index:seq", 1))
    assert.equal("g1", b:get("scim:index:gen"))
    assert.equal("2", b:get("scim:index:seq"))
    local red = srv:client()
    red:flushdb() -- as a Redis restarted without its append-only file
    red:close()
    assert.equal(1, a:incr("scim:index:seq", 1)) -- a change numbered 1 again
    local gen = b:get("scim:index:gen")
    assert.matches("^reset:%d+:", gen)
    -- in Redis, for the other nodes too
    assert.equal(gen, a:get("scim:index:gen"))
    assert.equal(gen, b:get("scim:index:gen")) -- and only once
  end)

  it("refuses what is not a store", function()
    assert.has_error(function() redis_index({}, dict()) end, "close.store.redis_index: expected a close.store.redis")
  end)
end)
