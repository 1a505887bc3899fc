-- close.store.redis against Debian's redis-server (free port, private
-- directory, AOF on): the store interface of close.store.sqlite, keys under
-- a prefix, what one node writes the other reads at once, a kill -9 of
-- Redis loses nothing answered, failures are kind "store"; and
-- close.redis.parse_url.
local redis = require "close.redis"
local redis_store = require "close.store.redis"
local redis_server = require "spec.support.redis_server"

describe("close.store.redis", function()
  local srv, store

  setup(function() srv = redis_server.start({ password = "store-test-password-0123456789" }) end)
  teardown(function() srv:destroy() end)
  before_each(function()
    local red = srv:client()
    assert.equal("OK", red:command("flushall"))
    red:close()
    store = redis_store({ url = ("redis://:%s@127.0.0.1:%d/1"):format(srv.password, srv.port) })
  end)

  it("answers nil for an absent key, and what was set for a present one", function()
    assert.is_nil(store:get("user:memb_1"))
    assert.is_true(store:set("user:memb_1", '{"name":"Jane"}'))
    assert.equal('{"name":"Jane"}', store:get("user:memb_1"))
    assert.is_true(store:set("user:memb_1", '{"name":"June"}'))
    assert.equal('{"name":"June"}', store:get("user:memb_1"))
    -- under the prefix, in the URL's database
    local red = srv:client()
    assert.equal(redis.null, red:get("close:scim:user:memb_1"))
    red:select(1)
    assert.equal('{"name":"June"}', red:get("close:scim:user:memb_1"))
    red:close()
  end)

  it("keeps keys and values byte for byte (NUL, UTF-8, empty, 0xff)", function()
    local k, v = "ext:\0\255é", "\0a\255\0"
    assert.is_true(store:set(k, v))
    assert.is_true(store:set("empty", ""))
    assert.equal(v, store:get(k))
    assert.equal("", store:get("empty"))
    assert.is_nil(store:get("ext:"))
  end)

  it("deletes, and deleting an absent key is fine", function()
    store:set("deleted:memb_1", "1")
    assert.is_true(store:delete("deleted:memb_1"))
    assert.is_nil(store:get("deleted:memb_1"))
    assert.is_true(store:delete("deleted:memb_1"))
  end)

  it("scans exactly the keys that start with a prefix, glob characters included", function()
    for _, k in ipairs({ "group:a", "group:b", "group;", "groupx", "user:a", "group\255", "group:\255\255",
      "g*[x]?\\:1", "g*[x]?\\:2", "gz[x]?\\:3" }) do
      store:set(k, "v" .. k)
    end
    assert.same({ ["group:a"] = "vgroup:a", ["group:b"] = "vgroup:b", ["group:\255\255"] = "vgroup:\255\255" },
      store:scan("group:"))
    assert.same({ ["g*[x]?\\:1"] = "vg*[x]?\\:1", ["g*[x]?\\:2"] = "vg*[x]?\\:2" }, store:scan("g*[x]?\\:"))
    assert.same({}, store:scan("nothing:"))
    local all = store:scan("")
    local n = 0
    for _ in pairs(all) do n = n + 1 end
    assert.equal(10, n)
  end)

  it("scans thousands of keys, over many SCAN steps", function()
    for i = 1, 3000 do assert.is_true(store:set(("user:memb_%04d"):format(i), tostring(i))) end
    local got = store:scan("user:")
    local n = 0
    for k, v in pairs(got) do
      n = n + 1
      assert.equal(tostring(tonumber(k:match("%d+$"))), v)
    end
    assert.equal(3000, n)
  end)

  it("is shared: what one node writes the other reads at once", function()
    local other = redis_store({ port = srv.port, password = srv.password, db = 1 })
    assert.is_true(store:set("group:role_1", "{}"))
    assert.equal("{}", other:get("group:role_1"))
    assert.is_true(other:delete("group:role_1"))
    assert.is_nil(store:get("group:role_1"))
  end)

  it("loses nothing it answered when Redis is killed with -9 (AOF, fsync always)", function()
    local dir = redis_server.tmpdir()
    local own = redis_server.start({ dir = dir })
    local s = redis_store({ port = own.port })
    for i = 1, 200 do assert.is_true(s:set("user:" .. i, ("x"):rep(i))) end
    own:stop("KILL")
    local again = redis_server.start({ dir = dir, port = own.port })
    finally(function() again:destroy() end)
    local got = s:scan("user:")
    for i = 1, 200 do assert.equal(("x"):rep(i), got["user:" .. i]) end
  end)

  it("fails with kind store, saying what and why, never the password", function()
    local port = redis_server.free_port()
    local down = redis_store({ url = "redis://:not-in-any-message-7@127.0.0.1:" .. port, timeout = 0.5 })
    local v, err = down:get("user:1")
    assert.is_nil(v)
    assert.equal("store", err.kind)
    assert.equal("store get: redis 127.0.0.1:" .. port .. ": connection refused", err.message)
    v, err = down:scan("user:")
    assert.is_nil(v)
    assert.equal("store scan: redis 127.0.0.1:" .. port .. ": connection refused", err.message)
    local wrong = redis_store({ port = srv.port, password = "not-in-any-message-7" })
    v, err = wrong:set("a", "b")
    assert.is_nil(v)
    assert.matches("^store set: redis auth: WRONGPASS", err.message)
    assert.is_nil(tostring(err):find("not-in-any-message", 1, true))
    assert.equal("close.store.redis(127.0.0.1:" .. port .. "/0)", tostring(down))
    store:close()
    assert.equal("store get: the store is closed", select(2, store:get("a")).message)
  end)

  it("checks its arguments", function()
    assert.has_error(function() store:get(1) end, "close.store.redis: key must be a string, got number")
    assert.has_error(function() store:set("a", {}) end, "close.store.redis: value must be a string, got table")
    assert.has_error(function() redis_store("x") end, "close.store.redis: expected a table of options")
    assert.has_error(function() redis_store({ url = "http://x" }) end,
      "close.store.redis: the Redis URL must start with redis://")
    assert.has_error(function() redis_store({ prefix = 1 }) end, "close.store.redis: prefix must be a string")
  end)
end)

describe("close.redis.parse_url", function()
  it("reads host, port, password and database", function()
    assert.same({ host = "10.0.0.5", port = 6380, password = "p@ss:w", db = 2 },
      redis.parse_url("redis://:p@ss:w@10.0.0.5:6380/2"))
    assert.same({ host = "redis.internal", port = 6379, db = 0 }, redis.parse_url("redis://redis.internal"))
    assert.same({ host = "h", port = 6379, password = "pw", db = 0 }, redis.parse_url("redis://user:pw@h/"))
    assert.same({ host = "::1", port = 7000, db = 3 }, redis.parse_url("redis://[::1]:7000/3"))
  end)

  it("refuses what is not a Redis URL, without repeating a password", function()
    local cases = {
      { "http://h", "the Redis URL must start with redis://" },
      { "redis://:secret@", "the Redis URL needs a host (redis://HOST:PORT/DB)" },
      { "redis://:secret@h:0", "the Redis URL's port must be 1-65535" },
      { "redis://h:99999", "the Redis URL's port must be 1-65535" },
      { "redis://h/16", "the Redis URL's database must be 0-15" },
      { "redis://h:6379/x", "the Redis URL needs a host (redis://HOST:PORT/DB)" },
      { 42, "the Redis URL must be a string" },
    }
    for _, c in ipairs(cases) do
      assert.same({ nil, c[2] }, { redis.parse_url(c[1]) })
    end
  end)
end)
