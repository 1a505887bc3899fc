-- close.redis inside nginx, on cosockets (test/openresty/redis_app.lua):
-- commands and replies against Debian's redis-server, keepalive reuse, a
-- read timeout that closes the connection, and broken replies from a
-- scripted server.
local app = require "spec.openresty.support.app"
local redis_server = require "spec.support.redis_server"

local replay = redis_server.replay

describe("close.redis in nginx", function()
  local srv

  setup(function() srv = redis_server.start() end)
  teardown(function() srv:destroy() end)

  it("sends commands and reads every kind of reply over cosockets, and reuses pooled connections", function()
    local status, doc = app.get("/redis/check", { port = srv.port })
    assert.equal(200, status)
    assert.is_nil(doc.connect_error)
    assert.is_true(doc.cosocket)
    assert.equal("OK", doc.set)
    assert.equal("a\r\nb\0c", doc.get)
    assert.equal("null", doc.nx)
    assert.same({ "k", 7, "null", { "v" } }, doc.eval)
    assert.equal("nil", doc.error.value)
    assert.matches("^WRONGTYPE", doc.error.err)
    assert.same({ "OK", "QUEUED", "QUEUED" }, doc.multi)
    assert.equal("OK", doc.exec[1])
    assert.is_false(doc.exec[2][1])
    assert.matches("^WRONGTYPE", doc.exec[2][2])
    assert.equal(1048576, doc.big)
    assert.equal(3, doc.del)
    assert.equal(1, doc.keepalive)
    assert.is_true(doc.reused >= 1)
    assert.same({ value = "nil", err = "timeout" }, doc.timeout)
    assert.same({ value = "nil", err = "not connected" }, doc.after_timeout)
  end)

  it("reports broken replies and closes the connection", function()
    local port, done = replay({
      { "close", "$5\r\nab" },
      { "close", ":007\r\n" },
      { "hang", "*2\r\n:1\r\n" },
    })
    local cases = { "closed", "bad reply: bad number", "timeout" }
    for _, want in ipairs(cases) do
      local status, doc = app.get("/redis/broken", { port = port })
      assert.equal(200, status)
      assert.same({ value = "nil", err = want }, doc.get)
      assert.same({ value = "nil", err = "not connected" }, doc.after)
    end
    done()
  end)
end)
