-- OAuth inside nginx with several workers (spec/openresty/oauth_workers_spec.lua):
-- every worker calls create_membership with a client of its own whose
-- tokens live in one close.oauth.shared_store (lua_shared_dict close_oauth),
-- so that all workers share one token pair and one refresh per expiry.
--
--   POST /oauth/setup       {client_id, client_secret, access_token, refresh_token,
--                           expires_at, expires_in, target, redis_port} -> {generation, pid}:
--                           the pair goes into the store (its save); every
--                           worker builds a new client at its next call.
--                           With redis_port, the store is close.oauth.redis_store
--                           on that loopback port (through close.redis's cosockets)
--   GET  /oauth/membership  ?email=&role= -> an outcome with the worker's pid
--   GET  /oauth/state       the store's expiry and the refreshes this app made
--                           (by worker pid), never a token
--
-- luacheck: globals ngx

local cjson = require "cjson.safe"
local close = require "close"
local transport = require "close.transport.ngx"

local M = {}

local DICT = "close_oauth"
local KEY = "close_oauth"                 -- the store's key (its lock is KEY .. ":lock")
local dict = ngx.shared[DICT]

local function send(status, obj)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.say(cjson.encode(obj))
end

local function base_url(target)
  local name = ({ http = "CLOSE_TEST_HTTP_URL", https = "CLOSE_TEST_HTTPS_LOCALHOST_URL" })[target or "http"]
  local v = name and os.getenv(name)
  if not v or v == "" then error("no base URL for target " .. tostring(target)) end
  return v
end

-- on_tokens: counts the refreshes of this app, by worker
local function on_tokens()
  dict:incr("app:refreshes", 1, 0)
  dict:incr("app:refreshed_by:" .. ngx.worker.pid(), 1, 0)
  return true
end

-- The token store of a setup: the shared dict, or Redis when the setup names a port.
local function store_of(cfg)
  if cfg.redis_port then return close.oauth.redis_store({ port = cfg.redis_port, key = KEY }) end
  return close.oauth.shared_store(DICT, KEY)
end

-- whether the store's lock is held now
local function locked(cfg)
  if not cfg.redis_port then return dict:get(KEY .. ":lock") ~= nil end
  local red = require("close.redis").new()
  if not red:connect("127.0.0.1", cfg.redis_port) then return nil end
  local v = red:get(KEY .. ":lock")
  red:close()
  return v ~= nil and v ~= ngx.null
end

-- This worker's client, rebuilt when a setup has been made since it was built.
local client, built_for

local function current_client()
  local cfg = cjson.decode(dict:get("app:config") or "null")
  if type(cfg) ~= "table" then return nil, "POST /oauth/setup first" end
  if built_for ~= cfg.generation then
    client = close.new{
      base_url = base_url(cfg.target),
      transport = transport.new{ pool = "oauth" }, sleep = transport.sleep,
      backoff_base = 0.05, timeout = 5, deadline = 20,
      oauth = {
        client_id = cfg.client_id, client_secret = cfg.client_secret,
        access_token = cfg.access_token, refresh_token = cfg.refresh_token, expires_at = cfg.expires_at,
        store = store_of(cfg), on_tokens = on_tokens,
      },
    }
    built_for = cfg.generation
  end
  return client
end

function M.setup()
  if ngx.req.get_method() ~= "POST" then return send(405, { error = "POST only" }) end
  ngx.req.read_body()
  local t = cjson.decode(ngx.req.get_body_data() or "")
  if type(t) ~= "table" then return send(400, { error = "a JSON object is required" }) end
  for _, k in ipairs({ "client_id", "client_secret", "access_token", "refresh_token" }) do
    if type(t[k]) ~= "string" then return send(400, { error = k .. " is required" }) end
  end
  -- a lock left by a previous case must not hold up this one
  dict:delete(KEY .. ":lock")
  local redis_port = tonumber(t.redis_port)
  if redis_port then
    local red = require("close.redis").new()
    local ok, err = red:connect("127.0.0.1", redis_port)
    if ok then ok, err = red:del(KEY, KEY .. ":lock") end
    red:close()
    if not ok then return send(500, { error = "redis: " .. tostring(err) }) end
  end
  local store = store_of({ redis_port = redis_port })
  local ok, err = store:save({ access_token = t.access_token, refresh_token = t.refresh_token,
                               expires_at = t.expires_at, expires_in = t.expires_in })
  if not ok then return send(500, { error = err }) end
  for _, k in ipairs(dict:get_keys(0)) do
    if k:find("^app:refresh") then dict:delete(k) end
  end
  local generation = dict:incr("app:generation", 1, 0)
  dict:set("app:config", cjson.encode({
    generation = generation, target = t.target or "http", client_id = t.client_id, redis_port = redis_port,
    client_secret = t.client_secret, access_token = t.access_token, refresh_token = t.refresh_token,
    expires_at = t.expires_at }))
  send(200, { generation = generation, pid = ngx.worker.pid() })
end

function M.membership()
  local args = ngx.req.get_uri_args()
  local c, why = current_client()
  if not c then return send(409, { error = why }) end
  ngx.update_time()
  local t0 = ngx.now()
  local m, err, meta = c:create_membership{ email = args.email or "oauth@acme.com", role_id = args.role or "user" }
  ngx.update_time()
  local out = { pid = ngx.worker.pid(), started = t0, finished = ngx.now() }
  if m then
    out.ok, out.id, out.status, out.attempts = true, m.id, meta.status, meta.attempts
  else
    out.ok, out.kind, out.status, out.message, out.attempts = false, err.kind, err.status, err.message, err.attempts
  end
  send(200, out)
end

function M.state()
  local cfg = cjson.decode(dict:get("app:config") or "null") or {}
  local t, err = store_of(cfg):load()
  local by = {}
  for _, k in ipairs(dict:get_keys(0)) do
    local pid = k:match("^app:refreshed_by:(%d+)$")
    if pid then by[pid] = dict:get(k) end
  end
  send(200, { generation = dict:get("app:generation"), error = err,
              expires_at = t and t.expires_at, expires_in = t and t.expires_in,
              locked = locked(cfg),
              refreshes = dict:get("app:refreshes") or 0, refreshed_by = by })
end

return M
