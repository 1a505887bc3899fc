--- close.oauth.redis_store: the token pair of every node in Redis, so that
-- nodes and workers together make one refresh per expiry. The lock is a
-- key with an expiry and an owner token (SET NX PX; released only by its
-- owner, in a script); a save is a compare-and-set in one script: it writes
-- only when Redis still holds the pair this store last read (or already the
-- new one), so a node whose lock expired mid-refresh cannot overwrite the
-- pair another node rotated since.
-- @module close.oauth.redis_store

local cjson = require "cjson.safe"
local core = require "close.core"

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

local function default_redis()
  local ngx = rawget(_G, "ngx")
  if ngx then
    local ok, resty = pcall(require, "resty.redis")
    if ok then return resty end
  end
  return require "close.redis"
end

local function check_options(o)
  assert(type(o) == "table", "close.oauth.redis_store: expected a table of options")
  if o.connect then
    assert(type(o.connect) == "function", "close.oauth.redis_store: connect must be a function")
  else
    assert(o.host == nil or type(o.host) == "string", "close.oauth.redis_store: host must be a string")
    assert(o.port == nil or (type(o.port) == "number" and o.port % 1 == 0),
      "close.oauth.redis_store: port must be an integer")
    assert(o.db == nil or (type(o.db) == "number" and o.db >= 0 and o.db % 1 == 0),
      "close.oauth.redis_store: db must be a database number")
    assert(o.password == nil or type(o.password) == "string", "close.oauth.redis_store: password must be a string")
  end
  assert(o.key == nil or (type(o.key) == "string" and o.key ~= ""), "close.oauth.redis_store: key must be a string")
end

-- A connected client: the caller's factory, or new/connect/auth/select.
local function connector(o)
  if o.connect then return o.connect, function(red) red:set_keepalive(10000, 16) end end
  local lib = o.redis or default_redis()
  local host, port, db = o.host or "127.0.0.1", o.port or 6379, o.db or 0
  local timeout = (o.timeout or 2) * 1000
  -- pooled connections are authenticated: one pool per password (by a digest, never the password)
  local pool = ("%s:%d:%d:%s"):format(host, port, db, o.password and core.base64url(core.sha256(o.password)) or "")
  local function connect()
    local red = lib:new()
    red:set_timeout(timeout)
    local ok, err = red:connect(host, port, { pool = pool })
    if not ok then return nil, "redis " .. host .. ":" .. port .. ": " .. tostring(err) end
    if (red:get_reused_times() or 0) == 0 then
      -- a fresh connection: authenticate and pick the database once
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
  return connect, function(red) red:set_keepalive(10000, 16) end
end

--- The connection factory of these options (close.store.redis shares it):
-- connect() -> a connected client or nil, err; release(client).
function M.connector(o)
  check_options(o)
  return connector(o)
end

--- Builds the store (close.oauth.redis_store calls this with its checks).
-- @local
function M.new(o, checked, random_token)
  check_options(o)
  local key = o.key or "close:oauth"
  local lock_key = key .. ":lock"
  local connect, release = connector(o)
  local seen = "" -- the refresh token this store last read or wrote
  local owner

  -- one command on a connection that goes back to the pool when it worked
  local function call(name, ...)
    local red, err = connect()
    if not red then return nil, err end
    local res, cerr = red[name](red, ...)
    if res == nil then
      red:close()
      return nil, "redis " .. name .. ": " .. tostring(cerr)
    end
    release(red)
    return res
  end

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
        .. "refreshed): not overwritten"
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
