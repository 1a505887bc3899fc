--- The SCIM bridge inside nginx: `serve(opts)` is the content handler that
-- adapts ngx.req to the pure handler's `h:handle(request)` and writes its
-- response. `require("close.scim").serve(opts)` calls it.
--
--     location /scim/v2 {
--         content_by_lua_block {
--             require("close.scim").serve{ state_dir = "/var/lib/close-scim" }
--         }
--     }
--
-- Each worker builds its handler once, at its first request: the Close
-- client from the environment (as `close-provision` takes it; a token file's
-- pair is shared by the workers through `lua_shared_dict close_oauth` and
-- its rotations are written back to the file), the SQLite store
-- `state_dir/scim.db`, the organization index cached in
-- `lua_shared_dict close_scim` (so every worker reads one copy), and the
-- audit log `state_dir/audit.log` (JSON lines).
--
-- opts: `state_dir` (required), `token` or `token_file` (default: the
-- environment's CLOSE_SCIM_TOKEN; 32 characters at least), `default_role`
-- ("user"), `base_path` ("/scim/v2"), `max_results` (100), `index_max_age`
-- (seconds, 30), `handler_module` ("close.scim": the module whose
-- `handler{...}` builds the handler), `redis` (a `redis://` URL, or true for
-- the environment's CLOSE_REDIS_URL; password also from CLOSE_REDIS_PASSWORD):
-- the state, the token pair and the index's generation in Redis, shared by
-- every node (close.store.redis) instead of state_dir/scim.db.
-- @module close.scim.serve

-- luacheck: globals ngx
local cjson = require "cjson.safe"
local close = require "close"
local core = require "close.core"
local oauth = require "close.oauth"
local sqlite = require "close.store.sqlite"
local redis = require "close.redis"
local redis_store = require "close.store.redis"
local redis_index = require "close.store.redis_index"
local validate = require "close.validate"

local M = {}

M.MAX_BODY = 1048576         -- a larger request body is 413
M.MIN_TOKEN = 32             -- characters of the bearer token, at least
local OAUTH_DICT, INDEX_DICT = "close_oauth", "close_scim"
local ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
local SCIM_TYPE = "application/scim+json"

local built = {}             -- this worker's handlers, by their options

local function var(k)
  local v = os.getenv(k)
  if v ~= "" then return v end
end

--- A SCIM error response (RFC 7644 section 3.12).
function M.error_response(status, detail, scim_type)
  return { status = status, headers = { ["Content-Type"] = SCIM_TYPE },
           body = cjson.encode{ schemas = { ERROR_SCHEMA }, status = tostring(status),
                                scimType = scim_type, detail = detail } }
end

-- Tokens of a token file, shared by the workers: read from the dict (or
-- the file, the first time), saved to the file first so that a restart
-- finds the rotated pair, then to the dict; one lock for all workers.
local function token_store(file)
  local shared, disk = oauth.shared_store(OAUTH_DICT), oauth.file_store(file)
  return {
    load = function()
      local t, err = shared.load()
      if t or err then return t, err end
      return disk.load()
    end,
    save = function(_, t)
      local ok, err = disk:save(t)
      if not ok then return nil, err end
      return shared:save(t)
    end,
    lock = shared.lock,
    unlock = shared.unlock,
  }
end

-- A bridge's retry budget: a provider's burst meets Close's rate limit, and
-- a 429 the provider sees is a change it must send again.
M.CLIENT_OPTIONS = { max_retries = 8, deadline = 40 }

-- With Redis the pair is in Redis for every node; CLOSE_TOKEN_FILE (when
-- set) seeds it once, when Redis holds no pair yet.
local NO_FILE = "(the pair in Redis)"
local function redis_token_store(r)
  return function(file)
    local shared = oauth.redis_store{ host = r.host, port = r.port, db = r.db, password = r.password }
    local function load()
      local t, err = shared.load()
      if t or err then return t, err end
      if file == NO_FILE then return nil, "Redis holds no token pair: run close-provision login --redis URL" end
      local seed, serr = oauth.file_store(file).load()
      if not seed then return nil, serr end
      -- refused when another node seeded or refreshed first: its pair wins
      shared:save(seed)
      return shared.load()
    end
    return { load = load, save = shared.save, lock = shared.lock, unlock = shared.unlock }
  end
end

-- The Close client from the environment (close.from_env's variables).
local function client_from_env(r, options)
  local extra = { token_store = r and redis_token_store(r) or token_store }
  for k, v in pairs(options or M.CLIENT_OPTIONS) do extra[k] = v end
  local getenv = os.getenv
  if r then
    getenv = function(k)
      local v = os.getenv(k)
      if k == "CLOSE_TOKEN_FILE" and (v == nil or v == "") then return NO_FILE end
      return v
    end
  end
  return close.from_env(getenv, extra)
end

-- {host, port, db, password} of opts.redis, or nil (no Redis), or nil, err
local function redis_options(o)
  if not o.redis then return nil end
  local url = o.redis == true and var("CLOSE_REDIS_URL") or o.redis
  if type(url) ~= "string" then return nil, "opts.redis is true but CLOSE_REDIS_URL is not set" end
  local r, err = redis.parse_url(url)
  if not r then return nil, err end
  r.password = r.password or var("CLOSE_REDIS_PASSWORD")
  return r
end

local function read_token(o)
  local token = o.token
  if not token and o.token_file then
    local f, err = io.open(o.token_file, "rb")
    if not f then return nil, "cannot read the SCIM token file: " .. tostring(err) end
    token = (f:read("*a") or ""):match("^%s*(.-)%s*$")
    f:close()
  end
  token = token or var("CLOSE_SCIM_TOKEN")
  if not token then return nil, "no SCIM token: set CLOSE_SCIM_TOKEN (or opts.token_file)" end
  if #token < M.MIN_TOKEN then
    return nil, ("the SCIM token has %d characters; at least %d are needed"):format(#token, M.MIN_TOKEN)
  end
  return token
end

local function iso_now()
  local t = ngx.now()
  return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(t)) .. (".%03dZ"):format(math.floor((t % 1) * 1000))
end

-- audit(record): one JSON line appended to state_dir/audit.log, with the
-- time when the handler gave none. A failed write is logged, never raised:
-- the change it records has been made.
local function audit_log(path)
  local file, err = core.open_append(path)
  if not file then return nil, err end
  return function(record)
    local r = {}
    for k, v in pairs(record) do r[k] = v end
    r.time = r.time or iso_now()
    local line = cjson.encode(r)
    local ok, why = false, "a record that is not JSON"
    if line then ok, why = file:write(line .. "\n") end
    if not ok then ngx.log(ngx.ERR, "close-scim: audit log: ", tostring(why)) end
  end
end

local function build(o)
  if type(o.state_dir) ~= "string" or o.state_dir == "" then return nil, "opts.state_dir is required" end
  local token, err = read_token(o)
  if not token then return nil, err end
  local r, rerr = redis_options(o)
  if rerr then return nil, rerr end
  local client, cerr = client_from_env(r)
  if not client then return nil, tostring(cerr) end
  local audit, aerr = audit_log(o.state_dir .. "/audit.log")
  if not audit then return nil, aerr end
  local scim = require(o.handler_module or "close.scim")
  local store, cache
  if r then
    store = redis_store(r)
    cache = redis_index(store, ngx.shared[INDEX_DICT])
  else
    store, cache = sqlite{ path = o.state_dir .. "/scim.db" }, ngx.shared[INDEX_DICT]
  end
  local clock = function() return ngx.time() end
  -- requests wait for a read under way (sleep); an index only too old is
  -- read again in the background (spawn: a timer) while it still answers
  local index = scim.index and scim.index{ client = client, store = store, max_age = o.index_max_age or 30,
    cache = cache, clock = clock, sleep = ngx.sleep,
    spawn = function(f) return ngx.timer.at(0, f) ~= nil end }
  return scim.handler{
    client = client, store = store, index = index, default_role = o.default_role or "user", token = token,
    audit = audit, clock = clock, base_path = o.base_path or "/scim/v2", max_results = o.max_results or 100,
  }, nil, cache.prefetch and cache
end

local function options_key(o)
  local keys = {}
  for k, v in pairs(o) do keys[#keys + 1] = tostring(k) .. "=" .. tostring(v) end
  table.sort(keys)
  return table.concat(keys, "\0")
end

-- This worker's handler for these options, built once; a configuration
-- that does not work is answered with 500, logged and tried again after
-- RETRY_BUILD seconds (a token file that is being written, a full disk).
local RETRY_BUILD = 5

local function handler_for(o)
  local key = options_key(o)
  local entry = built[key]
  if not entry or (not entry.handler and ngx.now() - entry.at > (o.redis and 1 or RETRY_BUILD)) then
    -- shared: the Redis cache, checked before each request
    local ok, h, err, shared = pcall(build, o)
    if not ok then h, err = nil, h end
    entry = { handler = h, err = err, at = ngx.now(), shared = shared }
    built[key] = entry
    if not h then ngx.log(ngx.ERR, "close-scim: not configured: ", tostring(err)) end
  end
  return entry.handler, entry.err, entry.shared
end

local function read_file(path, max)
  local f = io.open(path, "rb")
  if not f then return nil end
  local body = f:read(max + 1)
  f:close()
  return body or ""
end

-- The request body as a string (nginx may have spooled it to a file), or
-- nil when it is larger than max.
local function read_body(max)
  local declared = tonumber(ngx.var.http_content_length or "")
  if declared and declared > max then return nil end
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if not body then
    local file = ngx.req.get_body_file()
    body = file and read_file(file, max) or ""
  end
  if #body > max then return nil end
  return body
end

local function headers()
  local out = {}
  for k, v in pairs(ngx.req.get_headers(100)) do
    out[k:lower()] = type(v) == "table" and table.concat(v, ", ") or v
  end
  return out
end

--- The request as the handler takes it, or nil when its body is too large.
function M.request(max_body)
  local body = read_body(max_body or M.MAX_BODY)
  if not body then return nil end
  return { method = ngx.req.get_method(), path = ngx.var.uri, query = ngx.var.args or "",
           headers = headers(), body = body }
end

--- Writes a handler's response.
function M.respond(res)
  ngx.status = res.status
  for k, v in pairs(res.headers or {}) do ngx.header[k] = v end
  if res.body and res.body ~= "" then ngx.print(res.body) end
end

--- bin/close-scim's check at start, outside nginx: CLOSE_REDIS_URL (and
-- CLOSE_REDIS_PASSWORD) reach a Redis that answers PING. Prints HOST:PORT/DB
-- and exits 0, or prints one line saying why and exits 1.
function M.check_redis_env()
  local r, err = redis_options{ redis = true }
  if not r then
    io.write("--redis: ", tostring(err), "\n")
    os.exit(1)
  end
  local where = ("%s:%d/%d"):format(r.host, r.port, r.db)
  local pong, why = redis_store(r).call("ping")
  if pong == nil then
    io.write(("Redis at %s cannot be used: %s\n"):format(where, (tostring(why):gsub("^redis [^ ]+:%d+: ", ""))))
    os.exit(1)
  end
  io.write(where, "\n")
  os.exit(0)
end

-- The check of --default-role at start is quick: a stuck Close delays the start this long at most.
local ROLE_CHECK_OPTIONS = { max_retries = 1, deadline = 15 }

-- The role id a default role names without Close's list (a predefined role's
-- id or name), false when only Close's list can tell, or nil and why.
local function default_role_offline(role)
  if role:match("^%s*$") then return nil, "--default-role is empty" end
  if validate.reads_as_role_id(role) and core.validate_role(role) ~= true then
    return nil, ("--default-role: '%s' is not a valid role id"):format(role)
  end
  return validate.role_named(role, {}) or (validate.PREDEFINED_ROLES[role] and role) or false
end

--- bin/close-scim's check of its --default-role at start, outside nginx: a
-- predefined role passes; a custom one must be in Close's role list (GET
-- /role/ with the environment's credentials). Exits 1 printing one line
-- when the role is invalid or not Close's; prints a warning line and exits 0
-- when Close's list cannot be read now (the handler checks it per request).
-- The role: CLOSE_SCIM_DEFAULT_ROLE.
function M.check_default_role_env()
  local role = os.getenv("CLOSE_SCIM_DEFAULT_ROLE") or ""
  local ok, why = default_role_offline(role)
  if ok == nil then io.write(why, "\n"); os.exit(1) end
  if ok then os.exit(0) end
  local r = os.getenv("CLOSE_REDIS_URL") and redis_options{ redis = true } or nil
  local client, cerr = client_from_env(r, ROLE_CHECK_OPTIONS)
  local roles, err
  if client then roles, err = client:roles() end
  if not roles then
    io.write(("warning: --default-role '%s' not checked: %s\n"):format(role, tostring(cerr or err)))
    os.exit(0)
  end
  for _, x in ipairs(roles) do
    if x.id == role then os.exit(0) end
  end
  if validate.reads_as_role_id(role) then
    io.write(("--default-role: Close has no role with the id '%s'\n"):format(role))
    os.exit(1)
  end
  ok, why = validate.role_named(role, roles)
  if not ok then io.write("--default-role: ", why, "\n"); os.exit(1) end
  os.exit(0)
end

-- 503 with Retry-After: the state in Redis cannot be reached now
local function unavailable()
  local res = M.error_response(503, "the bridge's store (Redis) cannot be reached now; try again later")
  res.headers["Retry-After"] = tostring(require("close.scim.errors").RETRY_AFTER)
  return res
end

--- The content handler: see the module's description for opts.
function M.serve(opts)
  local o = opts or {}
  local h, _, shared = handler_for(o)
  if not h and o.redis then
    -- with Redis, what fails here is most often Redis (the token pair): retried
    return M.respond(unavailable())
  end
  if not h then
    -- the reason is in the error log: the provider learns nothing of the host
    return M.respond(M.error_response(500, "the SCIM bridge is not configured; its error log says why"))
  end
  local req = M.request(o.max_body)
  if not req then
    local max = o.max_body or M.MAX_BODY
    return M.respond(M.error_response(413, ("the request body is larger than %d bytes"):format(max)))
  end
  -- Redis unreachable: 503 at once, before any read of Close or write
  local up, why = true, nil
  if shared then up, why = shared:prefetch() end
  if not up then
    ngx.log(ngx.ERR, "close-scim: ", tostring(why))
    return M.respond(unavailable())
  end
  local ok, res = pcall(h.handle, h, req)
  if not ok or type(res) ~= "table" then
    ngx.log(ngx.ERR, "close-scim: the handler failed: ", tostring(res))
    res = M.error_response(500, "internal error")
  end
  return M.respond(res)
end

return M
