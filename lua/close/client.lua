--- The client object: what `close.new` makes. Its settings are fixed at
-- close.new; what changes lives in objects it owns, made there too: the
-- auth provider (close.auth), the pacer (close.pacer), the cache of rarely
-- changing reads (close.cache), the connection (close.connection) and the
-- batches running (close.batch). The membership and role calls are added to
-- the class by close.memberships and close.roles.
-- @module close.client

local core = require "close.core"
local Error = require "close.error"
local auth = require "close.auth"
local cache = require "close.cache"
local connection = require "close.connection"
local driver = require "close.driver"
local host = require "close.host"
local oauth = require "close.oauth"
local pacer = require "close.pacer"
local validate = require "close.validate"

local M = {}

--- The module's version (also `close.VERSION`, and in the User-Agent).
M.VERSION = "0.1.0"

-- A client's internals (settings and owned objects) live here, not in the
-- client table, so that printing or serializing a client cannot show a secret.
local private = setmetatable({}, { __mode = "k" })

local Client = {}
Client.__index = Client
M.Client = Client

-- The generator of a client's jitter: its own, since math.random is
-- unseeded before Lua 5.4 and clients (and forked nginx workers) must not
-- share a sequence. The generator itself goes to the retry verdict too,
-- which draws from it in C: one call into C less per retry.
local function own_random()
  local rng = core.rng()
  return function() return rng:next() end, rng
end

-- The transport and sleep of a client outside any batch, and the
-- `check_phase` that refuses calls from nginx phases without cosockets.
local function plain_io(parts, opts)
  local nginx = host.nginx() and require("close.transport.ngx")
  parts.check_phase = nginx and nginx.available or nil
  parts.conn = connection.new(opts.transport or (nginx and nginx.new()))
  parts.io = { transport = parts.conn.transport, sleep = opts.sleep or (nginx and nginx.sleep) or core.sleep,
    paced = parts.pace }
  parts.user_agent = ("close-lua/%s (%s; %s)"):format(M.VERSION, host.runtime_name(),
    nginx and nginx.runtime() or ("libcurl/" .. core.curl_version()))
end

--- Makes a client from settings checked by close.config and the options
-- they came from. Raises at close.new's caller for a bad credential.
-- @local
function M.new(settings, opts)
  local parts = settings
  parts.clock = opts.clock or core.now
  parts.wallclock = opts.wallclock or core.time
  if opts.random then parts.random = opts.random else parts.random, parts.rng = own_random() end
  plain_io(parts, opts)
  if opts.oauth then
    parts.token_url = opts.oauth.token_url or oauth.token_url(parts.base_url)
    parts.auth = auth.oauth(opts.oauth, parts)
  else
    local why
    parts.auth, why = auth.static(parts.credential, opts[parts.credential], parts.user_agent)
    if not parts.auth then error(("close.new: option '%s' %s"):format(parts.credential, why), 3) end
  end
  parts.secrets = parts.auth.secrets
  parts.pacer = pacer.new()
  parts.cache = cache.new(parts.cache_max_age, parts.clock)
  -- the batches running: the io of each batch item's coroutine (close.scheduler.*, close.driver.io)
  parts.batches = { by_co = setmetatable({}, { __mode = "k" }), running = false }
  local client = setmetatable({}, Client)
  private[client] = parts
  return client
end

--- Whether v is a client from close.new.
function M.is(v)
  return type(v) == "table" and private[v] ~= nil
end

--- The internals of a client, for its methods; raises at the caller of the
-- public method when it is not called on a client (`depth`: how many
-- functions of ours stand between that caller and this, default 1).
-- @local
function M.parts(self, method, depth)
  local parts = type(self) == "table" and private[self]
  if not parts then
    error(("close: call client:%s{...} with ':' on a client from close.new"):format(method), 2 + (depth or 1))
  end
  return parts
end

--- Raises at the caller of a public method when args is not a table.
-- @local
function M.check_args(method, args, depth)
  if type(args) ~= "table" then
    error(("close: %s expects a table of fields, got %s"):format(method, type(args)), 2 + (depth or 1))
  end
end

local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true }
local IDEMPOTENT = { GET = true, PUT = true, DELETE = true }

-- request's options, checked (raises at request's caller)
local function check_request(method, path, opts)
  if type(method) ~= "string" or not METHODS[method:upper()] then
    error("close: request: method must be one of GET, POST, PUT, PATCH, DELETE", 3)
  end
  if type(path) ~= "string" then error("close: request: path must be a string", 3) end
  M.check_args("request", opts, 2)
  for k in pairs(opts) do
    if k ~= "query" and k ~= "body" and k ~= "retry" then
      error("close: request: unknown option '" .. tostring(k) .. "'", 3)
    end
  end
  if opts.retry ~= nil and type(opts.retry) ~= "boolean" then
    error("close: request: option 'retry' must be a boolean", 3)
  end
end

-- why path or query cannot be sent, as field errors (nil when they can)
local function bad_path_or_query(path, query)
  local why
  if path:sub(1, 1) ~= "/" then why = "must start with '/'"
  elseif path:find("%.%.") then why = "must not contain '..'"
  elseif path:find("[%s%c?#]") then why = "must not contain spaces, '?' or '#' (pass query = {...})"
  end
  if why then return { path = why } end
  if query == nil then return nil end
  local bad = type(query) ~= "table" and "must be a table"
  for k, v in pairs(type(query) == "table" and query or {}) do
    if type(k) ~= "string" then bad = "keys must be strings"
    elseif type(v) ~= "string" and type(v) ~= "number" and type(v) ~= "boolean" then
      bad = ("'%s' must be a string, number or boolean"):format(k)
    end
  end
  if bad then return { query = bad } end
end

--- Any other Close endpoint, with the client's auth, retries and error shape.
-- Retries only idempotent methods (GET, PUT, DELETE) unless `retry = true`.
-- @tparam string method "GET", "POST", "PUT", "PATCH" or "DELETE"
-- @tparam string path relative to base_url, e.g. "/lead/"
-- @tparam[opt] table opts `{query = {...}, body = {...}, retry = boolean}`
-- @return the decoded response, nil, meta ; or nil, err
function Client:request(method, path, opts)
  local parts = M.parts(self, "request")
  opts = opts or {}
  check_request(method, path, opts)
  method = method:upper()
  local errs = bad_path_or_query(path, opts.query)
  if errs then return nil, Error.validation(errs, method, parts.base_url .. path) end
  return driver.call(parts, { method = method, path = path, query = opts.query, body = opts.body,
    idempotent = IDEMPOTENT[method] or opts.retry == true })
end

--- Releases the client's connections. Idempotent; every call after it
-- returns `nil, err` of kind `closed`.
function Client:close()
  M.parts(self, "close").conn:close()
end
Client.__close = Client.close

--- Drops what the client has cached (roles, the organization id): the next
-- calls read them again. (They expire by themselves after `cache_max_age`.)
function Client:refresh()
  M.parts(self, "refresh").cache:clear()
end

--- What the pacer knows per endpoint group (after a batch or with `pace`):
-- `{[group] = {interval=, factor=, paused_until=, limited=}}`, `limited`
-- counting the 429s the group got.
function Client:pacing()
  return M.parts(self, "pacing").pacer:snapshot()
end

--- Runs `fn(client, item)` for every item, each in a coroutine of its own,
-- up to `opts.concurrency` at once (a number, or `"auto"`, the default:
-- starts at 4 and grows while the server's limits leave room, up to
-- `opts.max_concurrency`, 64). Every call of the client made inside `fn`
-- runs concurrently with the others and is paced by the server's rate
-- limits, per endpoint group. After an `auth` or `tls` error no new item
-- starts. `opts.on_result(i, item, result, err, meta)` is called as each
-- item finishes; `opts.stop()` returning a reason stops new items.
-- @tparam table items
-- @tparam function fn
-- @tparam[opt] table opts
-- @return outcomes in input order, `{ok=, result=, err=, meta=}` (an item
-- never started has `err.kind == "not_started"`); nil; `{stopped=,
-- not_started=, peak_concurrency=}`
function Client:batch(items, fn, opts)
  local parts = M.parts(self, "batch")
  return require("close.batch").run(parts, self, items, fn, opts)
end

--- The plan of a sync: what each row would change (see `close.sync`).
-- @tparam table rows `{ {line=, email=, role_id= | role=}, ... }` (from `close.rows`)
-- @tparam[opt] table opts `deactivate_missing`, `keep`, `max_deactivate`, `only`
-- @return plan (`over_limit` set when it deactivates more than
--   max_deactivate), nil, meta ; or nil, err
function Client:plan_sync(rows, opts)
  M.parts(self, "plan_sync")
  M.check_args("plan_sync", rows)
  return require("close.sync").plan(self, rows, opts)
end

--- Carries out a plan of `plan_sync` through `batch`.
-- @tparam table plan
-- @tparam[opt] table opts `concurrency`, `on_result(item, result, err, meta)`, `stop`
-- @return outcomes `{ {item=, ok=, result=, err=, meta=}, ... }`, nil, meta ; or
--   nil, err (validation) for a plan over its limit
function Client:apply_plan(plan, opts)
  M.parts(self, "apply_plan")
  M.check_args("apply_plan", plan)
  return require("close.sync").apply(self, plan, opts)
end

--- The OAuth tokens the client holds (refreshed first when they are due),
-- e.g. to save them after `close.oauth.exchange_code`.
-- @return tokens, nil, meta (empty: no request of its own) ; or nil, err
function Client:tokens()
  local parts = M.parts(self, "tokens")
  if parts.auth.name ~= "oauth" then
    return nil, Error.validation({ oauth = "this client has no OAuth provider (it has " .. parts.auth.name .. ")" })
  end
  local t, err = parts.auth:token(parts, parts.deadline)
  if not t then return nil, err end
  return validate.copy(t), nil, {}
end

--- The kind of credential the client sends: `"api_key"` (HTTP Basic),
-- `"oauth_token"` (a fixed Bearer token) or `"oauth"` (tokens that refresh).
-- @treturn string
function Client:credential()
  return M.parts(self, "credential").auth.name
end

function Client:__tostring()
  local parts = private[self]
  return ("close.client(%s, %s)"):format(parts.base_url, parts.auth.name)
end

return M
