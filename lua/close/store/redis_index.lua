--- The organization index's cache across nodes: a table like a
-- lua_shared_dict for close.scim.index whose shared keys (the generation,
-- the change counter and the recorded changes) live in Redis, beside the
-- close.store.redis they belong to, while the snapshot itself stays in
-- this node's lua_shared_dict. So what one node writes (an invalidation,
-- its own writes) the other sees at its next request, for one round trip
-- (MGET of the generation and the counter).
--
--     local store = require("close.store.redis"){ url = url }
--     local cache = require("close.store.redis_index")(store, ngx.shared.close_scim)
--     assert(cache:prefetch())   -- before each request: nil, err when Redis is down
--
-- A failed Redis call reads as a generation no snapshot has: the index
-- then reads again, and its read of the store reports the failure.
-- @module close.store.redis_index

local Cache = {}
Cache.__index = Cache

local GEN, SEQ, CHANGE = "scim:index:gen", "scim:index:seq", "scim:index:change:"

-- the keys every node shares; the rest (the snapshot, its stamp, the lock
-- of its one reader) are this node's
local function shared(k)
  return k == GEN or k == SEQ or k:sub(1, #CHANGE) == CHANGE
end

-- Redis's reply, or nil and the error (never raises)
function Cache:call(...)
  if self.store.closed then return nil, "the store is closed" end
  return self.store.call(...)
end

function Cache:rkey(k) return self.store.prefix .. k end

-- where one request's prefetched values wait: its ngx.ctx inside nginx
local function memo(self)
  local ngx = rawget(_G, "ngx")
  local ok, ctx = pcall(function() return ngx and ngx.ctx end)
  return ok and ctx or self
end

--- Reads the generation and the change counter in one round trip, for the
-- index's next look at them in this request: true, or nil and the error.
function Cache:prefetch()
  local res, err = self:call("mget", self:rkey(GEN), self:rkey(SEQ))
  if type(res) ~= "table" then return nil, err or "redis mget: an unexpected reply" end
  local gen, seq = type(res[1]) == "string" and res[1] or false, tonumber(res[2]) or 0
  if seq < self.seen_seq or (not gen and self.seen_gen) then gen = self:reset() end
  self.seen_seq, self.seen_gen = seq, gen or nil
  local m = memo(self)
  m.close_index_gen, m.close_index_seq = gen, tostring(seq)
  return true
end

-- Redis lost the index's keys (restarted without its files, flushed): the
-- changes this worker has seen are numbered again from 1, so every node
-- must read the organization again: a new generation for all of them.
function Cache:reset()
  local gen = ("reset:%d:%s"):format(os.time(), tostring(self):match("0x%x+") or tostring(self))
  self:call("set", self:rkey(GEN), gen)
  return gen
end

function Cache:get(k)
  if not shared(k) then return self.dict:get(k) end
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
  local v = self:call("get", self:rkey(k))
  return type(v) == "string" and v or nil
end

function Cache:set(k, v, ttl)
  if not shared(k) then return self.dict:set(k, v, ttl) end
  local ok
  if ttl and ttl > 0 then
    ok = self:call("set", self:rkey(k), v, "PX", math.floor(ttl * 1000))
  else
    ok = self:call("set", self:rkey(k), v)
  end
  return ok ~= nil
end

function Cache:incr(k, by)
  if not shared(k) then return self.dict:incr(k, by, 0) end
  return self:call("incrby", self:rkey(k), by)
end

-- this node's lock of its one reader of the organization
function Cache:add(k, v, ttl) return self.dict:add(k, v, ttl) end
function Cache:delete(k) return self.dict:delete(k) end

--- The cache of `store` (a close.store.redis) with the snapshot in `dict`
-- (this node's lua_shared_dict, or a table with get/set).
return function(store, dict)
  assert(type(store) == "table" and type(store.call) == "function" and type(store.prefix) == "string",
    "close.store.redis_index: expected a close.store.redis")
  assert(type(dict) == "table" or type(dict) == "userdata", "close.store.redis_index: expected a dict")
  return setmetatable({ store = store, dict = dict, seen_seq = 0 }, Cache)
end
