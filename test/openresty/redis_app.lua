-- close.redis inside nginx (spec/openresty/redis_spec.lua): the client on
-- cosockets against redis-server and against a scripted broken server.
--
--   GET /redis/check?port=P     commands, replies, keepalive reuse, a timeout
--   GET /redis/broken?port=P    one command against the scripted server
--
-- luacheck: globals ngx

local cjson = require "cjson.safe"
local redis = require "close.redis"

local M = {}

local function send(obj)
  ngx.header["Content-Type"] = "application/json"
  ngx.say(cjson.encode(obj))
end

-- nulls as the string "null", so that JSON shows them
local function plain(v)
  if v == redis.null then return "null" end
  if type(v) ~= "table" then return v end
  local out = {}
  for i, x in ipairs(v) do out[i] = plain(x) end
  return out
end

-- a reply and its error, nil shown as "nil"
local function both(v, err)
  return { value = v == nil and "nil" or plain(v), err = err }
end

local function port()
  return tonumber(ngx.req.get_uri_args().port)
end

function M.check()
  local out = {}
  local red = redis.new()
  red:set_timeout(2000)
  local ok, err = red:connect("127.0.0.1", port())
  if not ok then return send({ connect_error = err }) end
  out.cosocket = red.cosocket
  out.first_reused = red:get_reused_times()
  out.set = red:set("app:k", "a\r\nb\0c", "PX", 60000)
  out.get = red:get("app:k")
  out.nx = plain(red:set("app:k", "x", "NX"))
  out.eval = plain(red:eval("return {KEYS[1], 7, false, {ARGV[1]}}", 1, "k", "v"))
  out.error = both(red:hget("app:k", "f"))
  out.multi = { red:multi(), red:set("app:m", "1"), red:hget("app:m", "f") }
  out.exec = plain(red:exec())
  out.big = #(red:set("app:big", ("x"):rep(1048576)) and red:get("app:big") or "")
  out.del = red:del("app:k", "app:m", "app:big")
  out.keepalive = red:set_keepalive(10000, 8)
  local again = redis.new()
  again:set_timeout(2000)
  again:connect("127.0.0.1", port())
  out.reused = again:get_reused_times()
  again:set_timeout(100)
  out.timeout = both(again:command("blpop", "app:empty", 0))
  out.after_timeout = both(again:ping())
  send(out)
end

function M.broken()
  local red = redis.new()
  red:set_timeout(300) -- the scripted server's "hang" lasts 1 s
  local ok, err = red:connect("127.0.0.1", port())
  if not ok then return send({ connect_error = err }) end
  send({ get = both(red:get("x")), after = both(red:ping()) })
end

return M
