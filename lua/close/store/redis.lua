--- The SCIM bridge's state in Redis, shared by every node: the store
-- interface of close.store.sqlite (get/set/delete/scan/close; a failure is
-- `nil, err` with `err.kind == "store"`) on one Redis hash, plus `shared()`,
-- the organization index's cache whose generation and change records live
-- in Redis (so a write on one node is seen by the others at their next
-- request) and whose snapshot stays in the node's lua_shared_dict.
--
--     local store = require("close.store.redis"){ url = "redis://127.0.0.1:6379/0" }
--     store:set("user:memb_1", json)      --> true | nil, err
--
-- Options: url (`redis://[:password@]HOST[:PORT][/DB]`) or host, port, db;
-- password (else the URL's, else CLOSE_REDIS_PASSWORD); key (the hash,
-- default "close:scim"); timeout (seconds, 2); redis (a module like
-- lua-resty-redis: OpenResty's resty.redis inside nginx when present, else
-- close.redis) or connect (a function returning a connected client with
-- that interface). The password never appears in an error or tostring.
-- @module close.store.redis

local Error = require "close.error"
local connector = require("close.oauth.redis_store").connector

local M = {}

local Store = {}
Store.__index = Store

local SCAN_COUNT, SCAN_ROUNDS = 1000, 100000 -- bounds a scan: 10^8 keys at most

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

--- Parses `redis://[:password@]HOST[:PORT][/DB]`: {host, port, db,
-- password} or nil and what is wrong (never the password).
function M.parse_url(url)
  if type(url) ~= "string" then return nil, "the Redis URL must be a string" end
  local rest = url:match("^redis://(.+)$")
  if not rest then return nil, "the Redis URL must start with redis://" end
  local o = {}
  local auth, hostpart = rest:match("^(.*)@([^@]*)$")
  if auth then
    local user, pass = auth:match("^([^:]*):(.*)$")
    if not user or user ~= "" then return nil, "the Redis URL's credentials must be :password@ (no user name)" end
    o.password = unescape(pass)
    rest = hostpart
  end
  local host, port, db = rest:match("^([%w%.%-]+):?(%d*)/?(%d*)$")
  if not host then
    host, port, db = rest:match("^%[([%x:]+)%]:?(%d*)/?(%d*)$")
  end
  if not host then return nil, "the Redis URL's host must be a name or address, as HOST[:PORT][/DB]" end
  o.host, o.port, o.db = host, tonumber(port) or 6379, tonumber(db) or 0
  if o.port < 1 or o.port > 65535 then return nil, "the Redis URL's port must be from 1 to 65535" end
  if o.db > 15 then return nil, "the Redis URL's database must be a number from 0 to 15" end
  return o
end

local function fail(what, why)
  return nil, Error.new("store", ("store %s: %s"):format(what, tostring(why)))
end

-- one command on a pooled connection: the reply, or nil and a store error
local function call(self, what, name, ...)
  if self.closed then return fail(what, "the store is closed") end
  local red, err = self.connect()
  if not red then return fail(what, err) end
  local f = red[name]
  local res, cerr
  if f then res, cerr = f(red, ...) else res, cerr = red:command(name, ...) end
  if res == nil then
    red:close()
    return fail(what, "redis " .. name .. ": " .. tostring(cerr))
  end
  self.release(red)
  return res
end
Store.call = call

local function check_string(v, name)
  if type(v) ~= "string" then
    error(("close.store.redis: %s must be a string, got %s"):format(name, type(v)), 3)
  end
end

--- The value at key, or nil when there is none.
function Store:get(key)
  check_string(key, "key")
  local v, err = call(self, "get", "hget", self.key, key)
  if v == nil then return nil, err end
  if type(v) ~= "string" then return nil end -- null: absent
  return v
end

--- Stores value at key; in Redis (and its append-only file) when it returns true.
function Store:set(key, value)
  check_string(key, "key")
  check_string(value, "value")
  local ok, err = call(self, "set", "hset", self.key, key, value)
  if ok == nil then return nil, err end
  return true
end

--- Removes key (true also when it was absent).
function Store:delete(key)
  check_string(key, "key")
  local ok, err = call(self, "delete", "hdel", self.key, key)
  if ok == nil then return nil, err end
  return true
end

-- a prefix as a glob matching itself and anything after it
local function glob(prefix)
  return (prefix:gsub("[%*%?%[%]\\]", "\\%0")) .. "*"
end

--- Every key that starts with prefix, with its value.
function Store:scan(prefix)
  check_string(prefix, "prefix")
  local out, cursor = {}, "0"
  for _ = 1, SCAN_ROUNDS do
    local res, err = call(self, "scan", "hscan", self.key, cursor, "MATCH", glob(prefix), "COUNT", SCAN_COUNT)
    if res == nil then return nil, err end
    if type(res) ~= "table" or type(res[2]) ~= "table" then return fail("scan", "redis hscan: an unexpected reply") end
    local pairs_ = res[2]
    for i = 1, #pairs_ - 1, 2 do
      if pairs_[i]:sub(1, #prefix) == prefix then out[pairs_[i]] = pairs_[i + 1] end
    end
    cursor = tostring(res[1])
    if cursor == "0" then return out end
  end
  return fail("scan", "more than " .. SCAN_ROUNDS .. " rounds of HSCAN")
end

--- Later calls fail (pooled connections stay with the pool).
function Store:close()
  self.closed = true
end

function Store:__tostring()
  return ("close.store.redis(%s:%s/%s %s)"):format(self.host, self.port, self.db, self.key)
end

-- A cache like a lua_shared_dict for close.scim.index: the keys it shares
-- between nodes (the generation, the change counter and the changes) in
-- Redis, the snapshot in `dict` (this node's). A failed Redis call reads as
-- a generation no snapshot has, so the index reads again and its read of
-- the store reports the failure.
local Shared = {}
Shared.__index = Shared

local LOCAL = { ["scim:index"] = true }
local GEN, SEQ = "scim:index:gen", "scim:index:seq"

function Shared:rkey(k) return self.store.key .. ":" .. k end

-- where one request's prefetched values wait: its ngx.ctx in nginx
local function memo(self)
  local ngx = rawget(_G, "ngx")
  local ok, ctx = pcall(function() return ngx and ngx.ctx end)
  return ok and ctx or self
end

--- Reads the generation and the change counter in one round trip, for the
-- index's next look at them in this request: true, or nil and the error.
function Shared:prefetch()
  local res, err = call(self.store, "index", "mget", self:rkey(GEN), self:rkey(SEQ))
  if type(res) ~= "table" then return nil, err or "redis mget: an unexpected reply" end
  local m = memo(self)
  m.close_index_gen = type(res[1]) == "string" and res[1] or false
  m.close_index_seq = type(res[2]) == "string" and res[2] or "0"
  return true
end

function Shared:get(k)
  if LOCAL[k] then return self.dict:get(k) end
  local m = memo(self)
  -- each prefetched value serves once: a later look reads Redis again
  if k == GEN then
    if m.close_index_gen == nil and not self:prefetch() then return "unavailable" end
    local v = m.close_index_gen
    m.close_index_gen = nil
    return v or nil
  elseif k == SEQ and m.close_index_seq ~= nil then
    local v = m.close_index_seq
    m.close_index_seq = nil
    return v
  end
  local v = call(self.store, "index", "get", self:rkey(k))
  return type(v) == "string" and v or nil
end

function Shared:set(k, v, ttl)
  if LOCAL[k] then return self.dict:set(k, v, ttl) end
  local ok
  if ttl and ttl > 0 then
    ok = call(self.store, "index", "set", self:rkey(k), v, "PX", math.floor(ttl * 1000))
  else
    ok = call(self.store, "index", "set", self:rkey(k), v)
  end
  return ok ~= nil
end

function Shared:incr(k, by)
  if LOCAL[k] then return self.dict:incr(k, by, 0) end
  return call(self.store, "index", "incrby", self:rkey(k), by)
end

--- The organization index's cache for this store (see Shared above):
-- `dict` is this node's lua_shared_dict (or a table with get/set).
function Store:shared(dict)
  return setmetatable({ store = self, dict = dict }, Shared)
end

--- Answers PING (and AUTH, SELECT): true, or nil and a one-line reason.
function Store:ping()
  local pong, err = call(self, "ping", "ping")
  if pong == nil then
    local why = err.message:gsub("^store ping: ", ""):gsub("^redis [^ ]+:%d+: ", "")
    return nil, ("Redis at %s:%d/%d cannot be used: %s"):format(self.host, self.port, self.db, why)
  end
  return true
end

--- bin/close-scim's check at start: CLOSE_REDIS_URL (and
-- CLOSE_REDIS_PASSWORD) reach a Redis that answers. Prints HOST:PORT/DB and
-- exits 0, or prints one line saying why and exits 1.
function M.check_env()
  local ok, store = pcall(M.new, { url = os.getenv("CLOSE_REDIS_URL") or "" })
  if not ok then
    io.write("--redis: ", (tostring(store):gsub("^.-close%.store%.redis: ", "")), "\n")
    os.exit(1)
  end
  local up, why = store:ping()
  if not up then
    io.write(why, "\n")
    os.exit(1)
  end
  io.write(("%s:%d/%d\n"):format(store.host, store.port, store.db))
  os.exit(0)
end

local function options(o)
  if type(o) ~= "table" then error("close.store.redis: expected a table of options", 3) end
  local c = {}
  for k, v in pairs(o) do c[k] = v end
  if o.url then
    local u, err = M.parse_url(o.url)
    if not u then error("close.store.redis: " .. err, 3) end
    c.host, c.port, c.db = u.host, u.port, u.db
    c.password = o.password or u.password
    c.url = nil
  end
  if not c.connect and c.password == nil then
    local env = os.getenv("CLOSE_REDIS_PASSWORD")
    if env and env ~= "" then c.password = env end
  end
  if c.key ~= nil and (type(c.key) ~= "string" or c.key == "") then
    error("close.store.redis: key must be a non-empty string", 3)
  end
  return c
end

--- A store (see the module's description for the options).
function M.new(o)
  local c = options(o)
  local ok, connect, release = pcall(connector, c)
  if not ok then error((tostring(connect):gsub("close.oauth.redis_store", "close.store.redis")), 2) end
  return setmetatable({ connect = connect, release = release, key = c.key or "close:scim",
    host = c.host or "127.0.0.1", port = c.port or 6379, db = c.db or 0 }, Store)
end

return setmetatable(M, { __call = function(_, o) return M.new(o) end })
