-- close.store.redis (close.redis over LuaSocket) against Debian's
-- redis-server on a free port with a private directory (AOF on): the store
-- interface, passwords (never in an error), a stopped server (kind
-- "store", then working again once it is back) and the index's shared cache.
local redis_store = require "close.store.redis"
local server = require "spec.support.redis_server"

describe("close.store.redis", function()
  local srv, store

  setup(function() srv = server.start{ password = "s3cret-pass" } end)
  teardown(function() srv:destroy() end)
  before_each(function()
    local red = srv:client()
    red:flushdb()
    red:close()
    store = redis_store{ url = ("redis://:s3cret-pass@127.0.0.1:%d/0"):format(srv.port) }
  end)

  it("gets, sets, deletes and scans by prefix", function()
    assert.is_nil(store:get("user:a"))
    assert.is_true(store:set("user:a", "{\"x\":1}"))
    assert.is_true(store:set("user:b", "B"))
    assert.is_true(store:set("deleted:a", "1"))
    assert.is_true(store:set("user*[x]?", "glob"))
    assert.equal("{\"x\":1}", store:get("user:a"))
    assert.same({ ["user:a"] = "{\"x\":1}", ["user:b"] = "B" }, store:scan("user:"))
    -- glob characters in a prefix match only themselves
    assert.same({ ["user*[x]?"] = "glob" }, store:scan("user*[x"))
    assert.is_true(store:delete("user:a"))
    assert.is_true(store:delete("user:absent"))
    assert.is_nil(store:get("user:a"))
    assert.same({ ["user:b"] = "B" }, store:scan("user:"))
    assert.same({}, store:scan("group:"))
  end)

  it("scans more keys than one HSCAN round returns", function()
    for i = 1, 2500 do assert.is_true(store:set("user:" .. i, tostring(i))) end
    local all = assert(store:scan("user:"))
    local n = 0
    for k, v in pairs(all) do
      n = n + 1
      assert.equal("user:" .. v, k)
    end
    assert.equal(2500, n)
  end)

  it("keeps each database apart", function()
    local other = redis_store{ host = "127.0.0.1", port = srv.port, db = 3, password = "s3cret-pass" }
    assert.is_true(other:set("user:a", "three"))
    assert.is_nil(store:get("user:a"))
    assert.equal("three", other:get("user:a"))
  end)

  it("fails with kind store, never naming the password, when the password is wrong", function()
    local bad = redis_store{ url = ("redis://:wrong-pass-9@127.0.0.1:%d/0"):format(srv.port) }
    local v, err = bad:get("user:a")
    assert.is_nil(v)
    assert.equal("store", err.kind)
    assert.matches("auth", err.message)
    assert.is_nil(tostring(err):find("wrong-pass-9", 1, true))
    assert.is_nil(tostring(bad):find("wrong-pass-9", 1, true))
    assert.is_nil(select(2, bad:ping()):find("wrong-pass-9", 1, true))
  end)

  it("fails with kind store while Redis is down and works again once it is back", function()
    assert.is_true(store:set("user:a", "A"))
    local port, dir = srv.port, srv.dir
    srv:stop()
    local v, err = store:get("user:a")
    assert.is_nil(v)
    assert.equal("store", err.kind)
    local ok, serr = store:set("user:b", "B")
    assert.is_nil(ok)
    assert.equal("store", serr.kind)
    assert.is_nil(store:scan("user:"))
    srv = server.start{ port = port, dir = dir, password = "s3cret-pass" }
    -- the append-only file kept the write
    assert.equal("A", store:get("user:a"))
    assert.is_true(store:set("user:b", "B"))
  end)

  it("refuses bad URLs and options with the reason", function()
    for url, why in pairs{
      ["http://x"] = "must start with redis://",
      ["redis://user:pw@h:1/0"] = "no user name",
      ["redis://h:70000/0"] = "port must be from 1 to 65535",
      ["redis://h:1/16"] = "database must be a number from 0 to 15",
      ["redis://h h:1"] = "host must be",
    } do
      local ok, err = pcall(redis_store, { url = url })
      assert.is_false(ok)
      assert.matches(why, err, 1, true)
    end
    local u = assert(redis_store.parse_url("redis://:p%40ss@[::1]:7000/2"))
    assert.same({ host = "::1", port = 7000, db = 2, password = "p@ss" }, u)
    assert.same({ host = "h", port = 6379, db = 0 }, redis_store.parse_url("redis://h"))
    assert.has_error(function() store:set("k", 5) end, "close.store.redis: value must be a string, got number")
  end)

  it("fails every call after close", function()
    store:close()
    local v, err = store:get("user:a")
    assert.is_nil(v)
    assert.equal("store", err.kind)
  end)

  describe("shared(dict), the organization index's cache", function()
    local function dict()
      local t = {}
      return { get = function(_, k) return t[k] end, set = function(_, k, v) t[k] = v return true end, t = t }
    end

    it("keeps the generation, counter and changes in Redis and the snapshot in the node", function()
      local a_dict, b_dict = dict(), dict()
      local a, b = store:shared(a_dict), store:shared(b_dict)
      assert.is_true(a:set("scim:index", "snapshot-a"))
      assert.equal("snapshot-a", a_dict.t["scim:index"])
      assert.is_nil(b:get("scim:index"))
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

    it("reads as a generation no snapshot has while Redis is down", function()
      local shared = store:shared(dict())
      local port, dir = srv.port, srv.dir
      srv:stop()
      assert.equal("unavailable", shared:get("scim:index:gen"))
      assert.is_false(shared:set("scim:index:gen", "g2"))
      srv = server.start{ port = port, dir = dir, password = "s3cret-pass" }
      assert.is_true(shared:set("scim:index:gen", "g2"))
      assert.equal("g2", shared:get("scim:index:gen"))
    end)
  end)
end)
