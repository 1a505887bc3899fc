-- close.redis (LuaSocket outside nginx) against Debian's redis-server on a
-- free port with a private directory, and against a scripted server that
-- answers broken replies.
local redis = require "close.redis"
local server = require "spec.support.redis_server"

local LUA = os.getenv("CLOSE_TEST_LUA") or "lua5.4"

-- a scripted server (spec/support/resp_replay.lua) for records {after, bytes}
local function replay(records)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  for _, r in ipairs(records) do f:write(r[1], " ", #r[2], "\n", r[2], "\n") end
  f:close()
  local p = assert(io.popen(LUA .. " spec/support/resp_replay.lua " .. path))
  local port = tonumber((p:read("*l") or ""):match("^port (%d+)$"))
  assert(port, "resp_replay did not start")
  return port, function()
    p:read("*a")
    p:close()
    os.remove(path)
  end
end

describe("close.redis against redis-server", function()
  local srv, red

  setup(function() srv = server.start() end)
  teardown(function() srv:destroy() end)
  before_each(function() red = srv:client() end)
  after_each(function() red:close() end)

  it("gets, sets with options, deletes", function()
    assert.equal("OK", red:set("k1", "v1"))
    assert.equal("v1", red:get("k1"))
    assert.equal(redis.null, red:set("k1", "v2", "NX"))
    assert.equal("OK", red:set("k1", "v2", "XX", "PX", 60000))
    assert.equal("v2", red:get("k1"))
    local ttl = red:pttl("k1")
    assert.is_true(ttl > 50000 and ttl <= 60000)
    assert.equal(1, red:del("k1", "nothing"))
    assert.equal(redis.null, red:get("k1"))
    assert.equal(0, red:exists("k1"))
  end)

  it("carries any bytes, large values and numbers as arguments", function()
    local bytes = "a\r\nb\0c\255" .. ("x"):rep(1048576)
    assert.equal("OK", red:set("bin", bytes))
    assert.equal(bytes, red:get("bin"))
    assert.equal("OK", red:set("n", 42))
    assert.equal(43, red:incr("n"))
    assert.equal("OK", red:set("f", 2.5))
    assert.equal("2.5", red:get("f"))
    local v, err = red:set("t", {})
    assert.is_nil(v)
    assert.equal("set: argument 2 is not a string, number or boolean", err)
  end)

  it("runs scripts: eval, evalsha, arrays, integers, nulls and error replies", function()
    local script = "return {KEYS[1], ARGV[1], 7, false, {1, 'x'}}"
    assert.same({ "a", "b", 7, redis.null, { 1, "x" } }, red:eval(script, 1, "a", "b"))
    local sha = red:script("load", script)
    assert.equal(40, #sha)
    assert.same({ "c", "d", 7, redis.null, { 1, "x" } }, red:evalsha(sha, 1, "c", "d"))
    local v, err = red:eval("return redis.error_reply('MINE went wrong')", 0)
    assert.is_nil(v)
    assert.equal("MINE went wrong", err)
    red:set("s", "x")
    v, err = red:hget("s", "f")
    assert.is_nil(v)
    assert.matches("^WRONGTYPE", err)
    -- an error reply leaves the connection usable
    assert.equal("PONG", red:ping())
  end)

  it("queues commands between multi and exec, errors inside as {false, message}", function()
    assert.equal("OK", red:multi())
    assert.equal("QUEUED", red:set("m", "1"))
    assert.equal("QUEUED", red:hset("m", "f", "v")) -- fails when executed: wrong type
    assert.equal("QUEUED", red:get("m"))
    local res = red:exec()
    assert.equal("OK", res[1])
    assert.is_false(res[2][1])
    assert.matches("^WRONGTYPE", res[2][2])
    assert.equal("1", res[3])
  end)

  it("selects a database", function()
    assert.equal("OK", red:set("db", "zero"))
    assert.equal("OK", red:select(3))
    assert.equal(redis.null, red:get("db"))
    assert.equal("ERR DB index is out of range", select(2, red:select(99)))
  end)

  it("keeps connections alive in a pool, and drops the ones the server closed", function()
    assert.equal(0, red:get_reused_times())
    assert.is_true(red:set_keepalive(10000, 4))
    assert.equal("closed", select(2, red:set_keepalive(10000, 4)))
    local again = redis.new()
    assert.is_true(again:connect("127.0.0.1", srv.port))
    assert.equal(1, again:get_reused_times())
    assert.equal("PONG", again:ping())
    -- the server closes every idle client: the pool gives a fresh one
    assert.equal("OK", again:command("config", "set", "timeout", "1"))
    again:set_keepalive(10000, 4)
    require("close.core").sleep(2.5)
    local fresh = redis.new()
    assert.is_true(fresh:connect("127.0.0.1", srv.port))
    assert.equal(0, fresh:get_reused_times())
    assert.equal("OK", fresh:command("config", "set", "timeout", "0"))
    assert.equal("PONG", fresh:ping())
    fresh:close()
  end)

  it("times out on a reply that does not come, and closes the connection", function()
    red:set_timeout(200)
    local v, err = red:command("blpop", "empty-list", 0)
    assert.is_nil(v)
    assert.equal("timeout", err)
    assert.equal("not connected", select(2, red:ping()))
  end)

  it("refuses a wrong password without repeating it", function()
    local locked = server.start({ password = "s3cret-pass-0123456789" })
    finally(function() locked:destroy() end)
    local c = redis.new()
    assert.is_true(c:connect("127.0.0.1", locked.port))
    local v, err = c:get("x")
    assert.is_nil(v)
    assert.matches("^NOAUTH", err)
    v, err = c:auth("wrong-guess-9876")
    assert.is_nil(v)
    assert.matches("^WRONGPASS", err)
    assert.is_nil(err:find("wrong-guess", 1, true))
    assert.equal("OK", c:auth("s3cret-pass-0123456789"))
    assert.equal(redis.null, c:get("x"))
    c:close()
  end)
end)

describe("close.redis against a broken server", function()
  it("reports a connection refused", function()
    local c = redis.new()
    c:set_timeout(500)
    local ok, err = c:connect("127.0.0.1", server.free_port())
    assert.is_nil(ok)
    assert.equal("connection refused", err)
    assert.equal("not connected", select(2, c:get("x")))
    assert.equal("expected a host and a port", select(2, c:connect("127.0.0.1")))
  end)

  it("reports a bad reply, a closed connection and a timeout, and closes", function()
    local port, done = replay({
      { "hang", "+OK\r\n:01\r\n" },   -- a reply, then one that is not canonical
      { "close", "$10\r\nabc" },       -- closed midway
      { "hang", "*2\r\n:1\r\n" },      -- never finished
      { "close", "?what\r\n" },
    })
    local c = redis.new()
    c:set_timeout(3000) -- the server answers one connection at a time
    assert.is_true(c:connect("127.0.0.1", port))
    assert.equal("OK", c:ping())
    assert.same({ nil, "bad reply: bad number" }, { c:ping() })
    assert.equal("not connected", select(2, c:ping()))
    assert.is_true(c:connect("127.0.0.1", port))
    assert.same({ nil, "closed" }, { c:get("x") })
    c:set_timeout(300)
    assert.is_true(c:connect("127.0.0.1", port))
    assert.same({ nil, "timeout" }, { c:get("x") })
    c:set_timeout(3000)
    assert.is_true(c:connect("127.0.0.1", port))
    assert.same({ nil, "bad reply: unknown reply type" }, { c:get("x") })
    c:close()
    done()
  end)

  it("refuses a command name that could break the request", function()
    local c = redis.new()
    assert.same({ nil, "bad command name" }, { c:command("get\r\nflushall") })
  end)
end)
