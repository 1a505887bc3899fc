--- close.oauth.redis_store: the token pair of every node in Redis, so that
-- nodes and workers together make one refresh per expiry. The lock is a
-- key with an expiry and an owner token (SET NX PX; released only by its
-- owner, in a script); a save is a compare-and-set in one script: it writes
-- only when Redis still holds the pair this store last read (or already the
-- new one), so a node whose lock expired mid-refresh cannot overwrite the
-- pair another node rotated since.
-- @module close.oauth.redis_store

local cjson = require "cjson.safe"
local redis = require "close.redis"

local M = {}

-- KEYS[1] the pair; ARGV: the refresh token last read ("" for none), the
-- new pair's JSON, the new pair's refresh token. 1 written, 0 refused.
local SAVE = [[
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, doc = pcall(cjson.decode, cur)
  local rt = ok and type(doc) == 'table' and type(doc.refresh_token) == 'string' and doc.refresh_token or ''
  if rt ~= ARGV[1] and rt ~= ARGV[3] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
]]

-- KEYS[1] the lock; ARGV[1] the owner token
local UNLOCK = [[
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
]]

--- Builds the store (close.oauth.redis_store calls this with its checks).
-- @local
function M.new(o, checked, random_token)
  redis.check_options(o, "close.oauth.redis_store")
  assert(o.key == nil or (type(o.key) == "string" and o.key ~= ""), "close.oauth.redis_store: key must be a string")
  local key = o.key or "close:oauth"
  local lock_key = key .. ":lock"
  local call = redis.connector(o)
  local seen = "" -- the refresh token this store last read or wrote
  local owner

  local store = {}

  function store.load()
    local text, err = call("get", key)
    if text == nil then return nil, err end
    if type(text) ~= "string" then -- null: no pair yet
      seen = ""
      return nil
    end
    local t, bad = checked(cjson.decode(text))
    if not t then return nil, "redis key " .. key .. " " .. bad end
    seen = t.refresh_token or ""
    return t
  end

  function store.save(_, t)
    local text = cjson.encode(t)
    local res, err = call("eval", SAVE, 1, key, seen, text, t.refresh_token or "")
    if res == nil then return nil, err end
    if res ~= 1 then
      return nil, "the token pair in redis key " .. key .. " changed since it was read (another node "
        .. "refreshed): not overwritten", "newer"
    end
    seen = t.refresh_token or ""
    return true
  end

  -- the lock expires by itself, so a node that dies holding it delays the others by at most ttl
  function store.lock(_, ttl)
    local token, terr = random_token()
    if not token then return nil, terr end
    local ms = math.max(1, math.floor((ttl or 60) * 1000))
    local res, err = call("set", lock_key, token, "NX", "PX", ms)
    if res == nil then return nil, err end
    if res ~= "OK" then return false end
    owner = token
    return true
  end

  function store.unlock()
    local token = owner
    owner = nil
    if token then return call("eval", UNLOCK, 1, lock_key, token) end
  end

  return store
end

return M
