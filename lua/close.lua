--- close: a client for the Close CRM API, centred on membership provisioning.
--
--     local close = require "close"
--     local client = close.new{ api_key = os.getenv("CLOSE_API_KEY") }
--     local membership, err, meta = client:create_membership{ email = "jane@acme.com", role_id = "user" }
--
-- Runtime failures return `nil, err` (see `close.error` for the shape);
-- programmer mistakes (a non-table argument, an unknown option) raise an
-- error pointing at the caller's line.
--
-- This file is the entry point: `new`, `default`, `from_env` and the
-- module-level shortcuts. The client is `close.client`; its calls live in
-- `close.memberships` and `close.roles`; the options in `close.config`.
-- @module close

local Error = require "close.error"
local Client = require "close.client"
local config = require "close.config"
local oauth = require "close.oauth"
require "close.roles"       -- client:roles()
require "close.memberships" -- the membership calls

local close = {
  VERSION = Client.VERSION,
  --- The error constructor and shape, for callers that build or test errors.
  error = Error,
  --- OAuth: token stores, `authorize_url`, `exchange_code` (see `close.oauth`).
  oauth = oauth,
  --- JSON null, for fields that accept it (`default_caller_id = close.null`).
  null = require("cjson.safe").null,
  --- What a missing credential is called, everywhere (library and CLI).
  NO_CREDENTIALS = "no credentials: set CLOSE_API_KEY, CLOSE_ACCESS_TOKEN or CLOSE_TOKEN_FILE",
}

--- Creates a client.
-- Options: `api_key` or `oauth_token` or `oauth` (exactly one), `base_url`,
-- `timeout`, `connect_timeout`, `deadline`, `max_retries`, `max_wait`,
-- `backoff_base`, `max_body`, `ca_file`, `pace`, `cache_max_age`,
-- `transport`, `sleep`, `clock`, `wallclock`, `random`, `on_attempt`.
-- See README for their meaning and defaults.
-- @tparam table opts
-- @return the client
function close.new(opts)
  local client = Client.new(config.check(opts), opts) -- not a tail call: errors name the caller's line
  return client
end

-- The module-level default client, built on first use from the environment:
-- module state because a process has one environment (close.set_default
-- replaces it).
local default_client

--- A client from the environment, as `close.default` builds it: CLOSE_API_KEY,
-- else CLOSE_ACCESS_TOKEN, else CLOSE_TOKEN_FILE (a token file written by
-- `close-provision login`, kept rotated; the secret from CLOSE_CLIENT_SECRET,
-- the client id from the file or CLOSE_CLIENT_ID); CLOSE_BASE_URL and
-- CLOSE_CA_FILE optional.
-- @tparam[opt=os.getenv] function getenv where the variables come from
-- @tparam[opt] table extra more `close.new` options (a server's retry
-- budget), and `token_store(path)`, the store for CLOSE_TOKEN_FILE's tokens
-- (default `close.oauth.file_store(path)`; the SCIM bridge shares them
-- between nginx workers)
-- @return the client ; or nil, err
function close.from_env(getenv, extra)
  getenv = getenv or os.getenv
  local function var(k)
    local v = getenv(k)
    if v ~= "" then return v end
  end
  local opts = { base_url = var("CLOSE_BASE_URL"), ca_file = var("CLOSE_CA_FILE") }
  for k, v in pairs(extra or {}) do
    if k ~= "token_store" then opts[k] = v end
  end
  local token_file = var("CLOSE_TOKEN_FILE")
  if var("CLOSE_API_KEY") then
    opts.api_key = var("CLOSE_API_KEY") -- the key wins, as documented
  elseif var("CLOSE_ACCESS_TOKEN") then
    opts.oauth_token = var("CLOSE_ACCESS_TOKEN")
  elseif token_file then
    local store = (extra and extra.token_store or oauth.file_store)(token_file)
    local t, why = store.load()
    if not t then
      return nil, Error.validation({ token_file = why or ("token file " .. token_file
        .. " does not exist: run close-provision login first") })
    end
    local client_id, secret = var("CLOSE_CLIENT_ID") or t.client_id, var("CLOSE_CLIENT_SECRET")
    if not client_id or not secret then
      return nil, Error.validation({ token_file = "refreshing its tokens needs CLOSE_CLIENT_SECRET"
        .. (client_id and "" or " and CLOSE_CLIENT_ID") .. " set" })
    end
    opts.oauth = { client_id = client_id, client_secret = secret, store = store }
  else
    return nil, Error.validation({ api_key = close.NO_CREDENTIALS })
  end
  local ok, client = pcall(close.new, opts)
  if not ok then return nil, Error.validation({ environment = config.message(client) }) end
  return client
end

--- The default client, or nil and an error when the environment has no
-- usable credentials (see `close.from_env`).
function close.default()
  if default_client then return default_client end
  local client, err = close.from_env()
  if not client then return nil, err end
  default_client = client
  return client
end

--- Replaces the default client (nil: rebuild from the environment on next use).
function close.set_default(client)
  if client ~= nil and not Client.is(client) then
    error("close.set_default: expected a client from close.new (or nil)", 2)
  end
  default_client = client
end

--- `close.create_membership{...}`: create_membership on the default client.
function close.create_membership(args)
  Client.check_args("create_membership", args)
  local client, err = close.default()
  if not client then return nil, err end
  return client:create_membership(args)
end

return close
