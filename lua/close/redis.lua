--- A small Redis client with the interface of lua-resty-redis (the subset
-- close uses), for hosts without it: nginx cosockets (ngx.socket.tcp) where
-- they exist, LuaSocket (Debian's lua-socket) elsewhere. Replies are read
-- by the C core's RESP2 parser (close.core.resp_parse), which says how
-- many bytes a reply still needs at least: parsed again only once they came.
--
--     local redis = require "close.redis"
--     local red = redis.new()
--     red:set_timeout(1000)                         -- milliseconds
--     assert(red:connect("127.0.0.1", 6379))
--     red:set("k", "v", "PX", 5000, "NX")           -- "OK" or redis.null
--     red:set_keepalive(10000, 16)
--
-- Every command returns its reply, or nil and an error: Redis's own error
-- reply as it sent it ("ERR ...", "WRONGTYPE ..."), or what went wrong on
-- the connection ("timeout", "closed", "bad reply: ..."), after which the
-- connection is closed. Arguments never appear in an error.
-- @module close.redis

local core = require "close.core"

local M = {}

local ngx = rawget(_G, "ngx")

--- The null of a reply (a nil bulk string or array): ngx.null inside nginx.
M.null = ngx and ngx.null or setmetatable({}, { __tostring = function() return "null" end })

-- phases of nginx without cosockets
local NO_COSOCKET = { init = true, init_worker = true, set = true, header_filter = true,
  body_filter = true, log = true }

local function use_cosockets()
  return ngx and ngx.socket and ngx.socket.tcp and not NO_COSOCKET[ngx.get_phase and ngx.get_phase() or "init"]
end

local luasocket
local function socket_lib()
  if luasocket == nil then
    local ok, lib = pcall(require, "socket")
    luasocket = ok and lib or false
  end
  return luasocket
end

-- Plain Lua's keepalive pool: idle LuaSocket connections by host:port[:pool].
local pool = {}

local Redis = {}
Redis.__index = Redis

--- A client, not yet connected.
function M.new()
  return setmetatable({ timeout = 1000 }, Redis)
end

local function apply_timeout(self)
  if not self.sock then return end
  if self.cosocket then
    self.sock:settimeouts(self.timeout, self.timeout, self.timeout)
  else
    self.sock:settimeout(self.timeout / 1000)
  end
end

--- Connect, send and read timeouts in milliseconds, all alike.
function Redis:set_timeout(ms)
  self.timeout = ms
  apply_timeout(self)
end

-- An idle pooled LuaSocket connection that the server has not closed.
local function from_pool(key, lib)
  local idle = pool[key]
  while idle and #idle > 0 do
    local entry = table.remove(idle)
    -- readable while idle: the server closed it (or broke the protocol)
    local readable = lib.select({ entry.sock }, nil, 0)
    if entry.expires > lib.gettime() and #readable == 0 then return entry end
    entry.sock:close()
  end
end

--- Connects to host:port (opts.pool names the keepalive pool; host:port by
-- default). Returns true, or nil and an error.
function Redis:connect(host, port, opts)
  if type(host) ~= "string" or type(port) ~= "number" then return nil, "expected a host and a port" end
  self:close()
  local key = (opts and opts.pool) or (host .. ":" .. port)
  if use_cosockets() then
    local sock = ngx.socket.tcp()
    self.sock, self.cosocket = sock, true
    apply_timeout(self)
    local ok, err = sock:connect(host, port, { pool = key })
    if not ok then self.sock = nil return nil, err end
    self.reused = sock:getreusedtimes()
    return true
  end
  local lib = socket_lib()
  if not lib then return nil, "close.redis needs nginx cosockets or LuaSocket (Debian's lua-socket)" end
  self.pool_key, self.cosocket = key, false
  local entry = from_pool(key, lib)
  if entry then
    self.sock, self.reused = entry.sock, entry.reused + 1
    apply_timeout(self)
    return true
  end
  local sock = lib.tcp()
  self.sock, self.reused = sock, 0
  apply_timeout(self)
  local ok, err = sock:connect(host, port)
  if not ok then
    sock:close()
    self.sock = nil
    return nil, err
  end
  sock:setoption("tcp-nodelay", true)
  apply_timeout(self)
  return true
end

--- How many times this connection came from the keepalive pool.
function Redis:get_reused_times()
  if not self.sock then return nil, "not connected" end
  return self.reused
end

--- Puts the connection into the keepalive pool (idle at most idle_ms;
-- nginx keeps at most size per pool). The client is then unconnected.
function Redis:set_keepalive(idle_ms, size)
  local sock = self.sock
  if not sock then return nil, "closed" end
  if self.rbuf then return self:close() end -- bytes nobody asked for: not reusable
  self.sock = nil
  if self.cosocket then return sock:setkeepalive(idle_ms, size) end
  local lib = socket_lib()
  local idle = pool[self.pool_key] or {}
  pool[self.pool_key] = idle
  if #idle >= (size or 30) then
    sock:close()
  else
    local ttl = (idle_ms == 0 and math.huge) or (idle_ms or 60000) / 1000 -- 0: no limit, as in nginx
    idle[#idle + 1] = { sock = sock, reused = self.reused, expires = lib.gettime() + ttl }
  end
  return true
end

--- Closes the connection (if any).
function Redis:close()
  local sock = self.sock
  self.sock, self.rbuf = nil, nil
  if sock then sock:close() end
  return true
end

-- a connection failure: the connection is of no further use
local function broken(self, err)
  self:close()
  return nil, err
end

local function arg_text(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then
    if v == math.floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then return ("%d"):format(v) end
    return ("%.17g"):format(v)
  end
  if t == "boolean" then return tostring(v) end
  return nil
end

-- the command as a RESP array of bulk strings
local function encode(name, ...)
  local n = select("#", ...)
  local out = { "*", tostring(n + 1), "\r\n$", tostring(#name), "\r\n", name, "\r\n" }
  for i = 1, n do
    local s = arg_text((select(i, ...)))
    if not s then return nil, ("%s: argument %d is not a string, number or boolean"):format(name, i) end
    out[#out + 1] = "$" .. #s .. "\r\n"
    out[#out + 1] = s
    out[#out + 1] = "\r\n"
  end
  return table.concat(out)
end

-- At least need bytes (which the reply still has) and what else has come.
local function receive_some(self, need)
  local sock = self.sock
  if self.cosocket then return sock:receiveany(math.max(need, 16384)) end
  local data, err = sock:receive(need) -- LuaSocket: these bytes are coming ...
  if not data then return nil, err end
  sock:settimeout(0)
  local more, _, partial = sock:receive(16384) -- ... and what else is there now
  sock:settimeout(self.timeout / 1000)
  return data .. (more or partial or "")
end

--- Reads one reply: the value, or nil and an error. Bytes are parsed only
-- once the C parser's lower bound of what the reply still needs has
-- arrived; with one command outstanding nothing past its reply can come
-- (what does is kept for the next read).
function Redis:read_reply()
  if not self.sock then return nil, "closed" end
  local buf = self.rbuf or ""
  self.rbuf = nil
  while true do
    local kind, v, used = core.resp_parse(buf, M.null)
    if kind == "value" or kind == "error" then
      if used < #buf then self.rbuf = buf:sub(used + 1) end
      if kind == "error" then return nil, v end
      return v
    end
    if kind == "bad" then return broken(self, "bad reply: " .. v) end
    local chunks, have = {}, 0
    while have < v do
      local data, err = receive_some(self, v - have)
      if not data then return broken(self, err) end
      chunks[#chunks + 1] = data
      have = have + #data
    end
    buf = buf .. table.concat(chunks)
  end
end

--- Sends any command: red:command("hset", "h", "f", "v").
function Redis:command(name, ...)
  if type(name) ~= "string" or not name:match("^[%a][%w_]*$") then return nil, "bad command name" end
  if not self.sock then return nil, "not connected" end
  local req, err = encode(name, ...)
  if not req then return nil, err end
  local ok, serr = self.sock:send(req)
  if not ok then return broken(self, serr) end
  return self:read_reply()
end

-- the commands as methods, the way lua-resty-redis names them
for _, name in ipairs({ "get", "set", "del", "exists", "expire", "pexpire", "ttl", "pttl", "incr", "incrby",
  "eval", "evalsha", "script", "multi", "exec", "discard", "watch", "unwatch", "auth", "select", "ping",
  "scan", "keys", "mget", "mset", "hget", "hset", "hdel", "hgetall", "getset", "setnx", "flushdb",
  "dbsize", "info" }) do
  Redis[name] = function(self, ...) return self:command(name, ...) end
end

-- ---------------------------------------------------------------------------
-- Connections as close's Redis stores make them.

--- Parses `redis://[[user]:password@]host[:port][/db]` into
-- `{host=, port=, password=, db=}`, or nil and the reason (which never
-- contains the password).
function M.parse_url(url)
  if type(url) ~= "string" then return nil, "the Redis URL must be a string" end
  local rest = url:match("^redis://(.*)$")
  if not rest then return nil, "the Redis URL must start with redis://" end
  local auth, hostpart = rest:match("^(.*)@([^@]*)$")
  hostpart = hostpart or rest
  local password
  if auth then password = auth:match("^[^:]*:(.*)$") or auth end
  if password == "" then password = nil end
  local host, port, db = hostpart:match("^([%w%.%-]+):?(%d*)/?(%d*)$")
  if not host then
    host, port, db = hostpart:match("^%[([%x:]+)%]:?(%d*)/?(%d*)$")
  end
  if not host then return nil, "the Redis URL needs a host (redis://HOST:PORT/DB)" end
  port, db = tonumber(port) or 6379, tonumber(db) or 0
  if port < 1 or port > 65535 then return nil, "the Redis URL's port must be 1-65535" end
  if db > 15 then return nil, "the Redis URL's database must be 0-15" end
  return { host = host, port = port, password = password, db = db }
end

-- lua-resty-redis inside nginx when it is there, else this module
local function default_lib()
  if ngx then
    local ok, resty = pcall(require, "resty.redis")
    if ok then return resty end
  end
  return M
end

-- connected clients for o (see connector)
local function connect_with(o)
  if o.connect then return o.connect end
  local lib = o.redis or default_lib()
  local host, port, db = o.host or "127.0.0.1", o.port or 6379, o.db or 0
  local timeout = (o.timeout or 2) * 1000
  local digest = o.password and core.base64url(core.sha256(o.password)) or ""
  local pool_name = ("%s:%d:%d:%s"):format(host, port, db, digest)
  return function()
    local red = lib:new()
    red:set_timeout(timeout)
    local ok, err = red:connect(host, port, { pool = pool_name })
    if not ok then return nil, "redis " .. host .. ":" .. port .. ": " .. tostring(err) end
    if (red:get_reused_times() or 0) == 0 then
      if o.password then
        ok, err = red:auth(o.password)
        if not ok then red:close() return nil, "redis auth: " .. tostring(err) end
      end
      if db ~= 0 then
        ok, err = red:select(db)
        if not ok then red:close() return nil, "redis select: " .. tostring(err) end
      end
    end
    return red
  end
end

--- One command at a time the way close's Redis stores send them:
-- `call(name, ...) -> reply | nil, err` on a connection from the keepalive
-- pool, put back when it worked, closed when not. o: host, port, password,
-- db, timeout (seconds, default 2), redis (a module like lua-resty-redis;
-- default: it inside nginx when installed, else this one), or connect (a
-- function returning a connected client with that interface). A fresh
-- connection is authenticated and its database selected once; pools are
-- per host, port, database and password (by a digest of it).
function M.connector(o)
  local connect = connect_with(o)
  return function(name, ...)
    local red, err = connect()
    if not red then return nil, err end
    local res, cerr = red[name](red, ...)
    if res == nil then
      red:close()
      return nil, "redis " .. name .. ": " .. tostring(cerr)
    end
    red:set_keepalive(10000, 16)
    return res
  end
end

--- Checks connector options; raises naming the option (who is the caller's name).
function M.check_options(o, who)
  assert(type(o) == "table", who .. ": expected a table of options")
  if o.connect then
    assert(type(o.connect) == "function", who .. ": connect must be a function")
    return
  end
  assert(o.host == nil or type(o.host) == "string", who .. ": host must be a string")
  assert(o.port == nil or (type(o.port) == "number" and o.port % 1 == 0), who .. ": port must be an integer")
  assert(o.db == nil or (type(o.db) == "number" and o.db >= 0 and o.db % 1 == 0),
    who .. ": db must be a database number")
  assert(o.password == nil or type(o.password) == "string", who .. ": password must be a string")
  assert(o.timeout == nil or (type(o.timeout) == "number" and o.timeout > 0), who .. ": timeout must be seconds")
end

return M
