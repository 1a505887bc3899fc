--- close: a client for the Close CRM API, centred on membership provisioning.
--
--     local close = require "close"
--     local client = close.new{ api_key = os.getenv("CLOSE_API_KEY") }
--     local membership, err, meta = client:create_membership{ email = "jane@acme.com", role_id = "user" }
--
-- Runtime failures return `nil, err` (see `close.error` for the shape);
-- programmer mistakes (a non-table argument, an unknown option) raise an
-- error pointing at the caller's line.
-- @module close

local core = require "close.core"
local Error = require "close.error"
local validate = require "close.validate"
local driver = require "close.driver"

local close = {
  VERSION = "0.1.0",
  --- The error constructor and shape, for callers that build or test errors.
  error = Error,
}

local DEFAULTS = {
  base_url = "https://api.close.com/api/v1",
  timeout = 15,          -- seconds per attempt
  connect_timeout = 5,   -- seconds to connect, per attempt
  deadline = 60,         -- seconds for the whole call, retries and waits included
  max_retries = 3,
  max_wait = 30,         -- no single wait between attempts is longer
  backoff_base = 0.5,    -- first backoff; doubles per attempt, with jitter
  max_body = 1048576,    -- response bodies larger than this are a protocol error
}

local OPTION_TYPES = {
  api_key = "string", oauth_token = "string", base_url = "string", ca_file = "string",
  timeout = "number", connect_timeout = "number", deadline = "number",
  max_retries = "number", max_wait = "number", backoff_base = "number", max_body = "number",
  transport = "function", sleep = "function", clock = "function", wallclock = "function",
  random = "function", on_attempt = "function",
}

-- Credentials and resolved settings live here, not in the client table, so
-- that printing or serializing a client cannot show a secret.
local private = setmetatable({}, { __mode = "k" })

local Client = {}
Client.__index = Client

local function runtime_name()
  if type(jit) == "table" and jit.version then return jit.version end
  return _VERSION
end

local function fail(msg)
  error("close.new: " .. msg, 3)
end

--- Creates a client.
-- Options: `api_key` or `oauth_token` (exactly one), `base_url`, `timeout`,
-- `connect_timeout`, `deadline`, `max_retries`, `max_wait`, `backoff_base`,
-- `max_body`, `ca_file`, `transport`, `sleep`, `clock`, `wallclock`,
-- `random`, `on_attempt`. See README for their meaning and defaults.
-- @tparam table opts
-- @return the client
function close.new(opts)
  if type(opts) ~= "table" then
    error("close.new: expected a table of options, got " .. type(opts), 2)
  end
  for k, v in pairs(opts) do
    local want = OPTION_TYPES[k]
    if not want then fail("unknown option '" .. tostring(k) .. "'") end
    if type(v) ~= want then
      fail(("option '%s' must be a %s (got %s)"):format(k, want, type(v)))
    end
  end
  local c = {}
  for k, v in pairs(DEFAULTS) do c[k] = opts[k] == nil and v or opts[k] end
  for _, k in ipairs({ "timeout", "connect_timeout", "deadline", "max_wait", "max_body" }) do
    if c[k] ~= c[k] or c[k] <= 0 then fail(("option '%s' must be positive"):format(k)) end
  end
  if c.backoff_base ~= c.backoff_base or c.backoff_base < 0 then fail("option 'backoff_base' must not be negative") end
  if c.max_retries < 0 or c.max_retries ~= math.floor(c.max_retries) then
    fail("option 'max_retries' must be a whole number >= 0")
  end

  if (opts.api_key == nil) == (opts.oauth_token == nil) then
    fail("give exactly one of 'api_key' and 'oauth_token'")
  end
  local scheme, secret = "basic", opts.api_key
  if opts.oauth_token then scheme, secret = "bearer", opts.oauth_token end
  local header, reason = core.auth_header(scheme, secret)
  if not header then
    fail(("option '%s' %s"):format(opts.api_key and "api_key" or "oauth_token", reason))
  end
  c.auth_header = header
  c.secrets = { secret, header, (header:gsub("^%S+ ", "")) }

  local base, why = core.check_base_url(c.base_url)
  if not base then fail("option 'base_url' " .. why) end
  c.base_url = base
  c.ca_file = opts.ca_file

  c.user_agent = ("close-lua/%s (%s; libcurl/%s)"):format(close.VERSION, runtime_name(), core.curl_version())
  c.sleep = opts.sleep or core.sleep
  c.clock = opts.clock or core.now
  c.wallclock = opts.wallclock or os.time
  c.random = opts.random or math.random
  c.on_attempt = opts.on_attempt
  c.transport = opts.transport
  if not c.transport then
    c.transport, c.http = require("close.transport.curl").new()
  end
  c.auth_name = opts.api_key and "api_key" or "oauth_token"

  local client = setmetatable({}, Client)
  private[client] = c
  return client
end

local function config(self, method)
  local c = type(self) == "table" and private[self]
  if not c then
    error(("close: call client:%s{...} with ':' on a client from close.new"):format(method), 3)
  end
  return c
end

local function check_args(method, args)
  if type(args) ~= "table" then
    error(("close: %s expects a table of fields, got %s"):format(method, type(args)), 3)
  end
end

--- Ensures an active membership for `email` with `role_id` (POST /membership/).
-- Close adds an existing user to the organization or provisions a new one;
-- repeating the call for the same email is harmless, so it is retried.
-- @tparam table args `{email = string, role_id = string}`
-- @return membership table, nil, meta (`status`, `headers`, `rate_limit`,
--   `attempts`, `duration`) ; or nil, err
function Client:create_membership(args)
  local c = config(self, "create_membership")
  check_args("create_membership", args)
  local errs = validate.fields(args, { email = validate.email, role_id = validate.role_id },
    { "email", "role_id" })
  if errs then return nil, Error.validation(errs, "POST", c.base_url .. "/membership/") end
  return driver.call(c, {
    method = "POST", path = "/membership/", idempotent = true,
    body = { email = args.email, role_id = args.role_id },
  })
end

--- Releases the client's connection. Idempotent; the client is unusable after.
function Client:close()
  local c = config(self, "close")
  if c.http then c.http:close() end
end
Client.__close = Client.close

function Client:__tostring()
  local c = private[self]
  return ("close.client(%s, %s)"):format(c.base_url, c.auth_name)
end

-- The module-level default client, built on first use from the environment:
-- CLOSE_API_KEY or CLOSE_ACCESS_TOKEN, and CLOSE_BASE_URL.
local default_client

--- The default client, or nil and an error when the environment has no
-- usable credentials.
function close.default()
  if default_client then return default_client end
  local opts = {
    api_key = os.getenv("CLOSE_API_KEY"),
    oauth_token = os.getenv("CLOSE_ACCESS_TOKEN"),
    base_url = os.getenv("CLOSE_BASE_URL"),
    ca_file = os.getenv("CLOSE_CA_FILE"),
  }
  for k, v in pairs(opts) do if v == "" then opts[k] = nil end end
  if not opts.api_key and not opts.oauth_token then
    return nil, Error.validation({ api_key = "no credentials: set CLOSE_API_KEY or CLOSE_ACCESS_TOKEN" })
  end
  if opts.api_key and opts.oauth_token then opts.oauth_token = nil end -- API key wins, as documented
  local ok, client = pcall(close.new, opts)
  if not ok then
    return nil, Error.validation({ environment = tostring(client):gsub("^.-close%.new: ", "") })
  end
  default_client = client
  return client
end

--- Replaces the default client (nil: rebuild from the environment on next use).
function close.set_default(client)
  if client ~= nil then config(client, "set_default") end
  default_client = client
end

--- `close.create_membership{...}`: create_membership on the default client.
function close.create_membership(args)
  check_args("create_membership", args)
  local client, err = close.default()
  if not client then return nil, err end
  return client:create_membership(args)
end

return close
