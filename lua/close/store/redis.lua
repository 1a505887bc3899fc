--- The SCIM bridge's state in Redis, shared by every node: the interface of
-- close.store.sqlite (get, set, delete, scan, close), keys under a prefix.
-- A call either happened or returns `nil, err` with `err.kind == "store"`;
-- what "happened" survives a crash of Redis as its persistence says
-- (`appendonly yes` with `appendfsync always` for every answered write).
--
--     local store = require("close.store.redis"){ url = "redis://:secret@10.0.0.5:6379/0" }
--     store:set("user:memb_1", json)      --> true | nil, err
--     store:get("user:memb_1")            --> value | nil (absent) | nil, err
--     store:scan("user:")                 --> {key = value, ...} | nil, err
--
-- Connections come from close.redis.connector: lua-resty-redis or close.redis
-- (cosockets inside nginx), or the caller's `connect` factory.
-- @module close.store.redis

local Error = require "close.error"
local redis = require "close.redis"

local Store = {}
Store.__index = Store

local SCAN_COUNT = 500     -- keys a SCAN step looks at
local MAX_SCAN_STEPS = 100000

local function fail(what, why)
  return nil, Error.store(what, why)
end

local function check_string(v, name)
  if type(v) ~= "string" then
    error(("close.store.redis: %s must be a string, got %s"):format(name, type(v)), 3)
  end
end

local function call(self, what, ...)
  if self.closed then return fail(what, "the store is closed") end
  local res, err = self.call(...)
  if res == nil then return fail(what, err) end
  return res
end

--- The value at key, or nil when there is none.
function Store:get(key)
  check_string(key, "key")
  local v, err = call(self, "get", "get", self.prefix .. key)
  if v == nil then return nil, err end
  if type(v) ~= "string" then return nil end
  return v
end

--- Stores value at key.
function Store:set(key, value)
  check_string(key, "key")
  check_string(value, "value")
  local ok, err = call(self, "set", "set", self.prefix .. key, value)
  if not ok then return nil, err end
  return true
end

--- Removes key (true also when it was absent).
function Store:delete(key)
  check_string(key, "key")
  local ok, err = call(self, "delete", "del", self.prefix .. key)
  if not ok then return nil, err end
  return true
end

-- a SCAN pattern matching exactly the keys that start with s
local function glob_prefix(s)
  return (s:gsub("[%*%?%[%]\\]", "\\%0")) .. "*"
end

-- the values of keys (a list), into out by key without the prefix
local function fetch(self, keys, out)
  local values, err = call(self, "scan", "mget", (table.unpack or unpack)(keys)) -- luacheck: ignore 143
  if not values then return nil, err end
  local n = #self.prefix
  for i, k in ipairs(keys) do
    if type(values[i]) == "string" then out[k:sub(n + 1)] = values[i] end -- deleted meanwhile: skipped
  end
  return true
end

--- Every key that starts with prefix, with its value.
function Store:scan(prefix)
  check_string(prefix, "prefix")
  local out, cursor, pattern = {}, "0", glob_prefix(self.prefix .. prefix)
  for _ = 1, MAX_SCAN_STEPS do
    local step, err = call(self, "scan", "scan", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT)
    if not step then return nil, err end
    if type(step[2]) == "table" and #step[2] > 0 then
      local ok, ferr = fetch(self, step[2], out)
      if not ok then return nil, ferr end
    end
    cursor = step[1]
    if cursor == "0" then return out end
  end
  return fail("scan", "more than " .. MAX_SCAN_STEPS .. " SCAN steps")
end

--- Later calls fail; pooled connections stay with the pool.
function Store:close()
  self.closed = true
end

function Store:__tostring()
  return "close.store.redis(" .. self.where .. ")"
end

--- A store in Redis: `url` ("redis://[:password@]host[:port][/db]") or
-- host, port, password, db; prefix of every key (default "close:scim:");
-- timeout (seconds); redis (a module like lua-resty-redis) or connect (a
-- function returning a connected client).
-- @tparam table o
return function(o)
  if type(o) ~= "table" then error("close.store.redis: expected a table of options", 2) end
  local opts = {}
  for k, v in pairs(o) do opts[k] = v end
  if o.url then
    local u, err = redis.parse_url(o.url)
    if not u then error("close.store.redis: " .. err, 2) end
    for k, v in pairs(u) do opts[k] = v end
  end
  redis.check_options(opts, "close.store.redis")
  local prefix = opts.prefix or "close:scim:"
  if type(prefix) ~= "string" then error("close.store.redis: prefix must be a string", 2) end
  local where = opts.connect and "connect()" or ("%s:%d/%d"):format(opts.host or "127.0.0.1", opts.port or 6379,
    opts.db or 0)
  return setmetatable({ call = redis.connector(opts), prefix = prefix, where = where }, Store)
end
