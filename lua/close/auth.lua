--- Auth providers: what the driver asks, before every attempt, for the
-- headers to send. A static API key or token is a provider as an OAuth one
-- is (`close.oauth`), so the driver has no special case for either.
--
-- A provider has `secrets` (the strings never to show, see `M.secrets`),
-- `name` ("api_key", "oauth_token", "oauth"), `headers(c, remaining)` ->
-- header set | nil, err, and `rejected(token)` -> true when a 401 for that
-- token should make it fetch another and retry once.
-- @module close.auth

local core = require "close.core"
local driver = require "close.driver"
local oauth = require "close.oauth"

local M = {}

--- How many token strings the scrub list keeps besides the fixed secrets:
-- the newest ones, those of the last 16 refreshes (each adds the access
-- token, the refresh token and the Bearer header). Bounded: a client
-- refreshing every hour for a year sees thousands.
M.MAX_TOKENS = 48

local Secrets = {}
Secrets.__index = Secrets

--- The strings that must not appear in any text: the fixed ones (a key, a
-- client secret) and the M.MAX_TOKENS newest tokens. It is a list
-- (`ipairs` gives every secret; `Error.new` takes it as it is) with an `add`.
function M.secrets(fixed)
  local s = setmetatable({}, Secrets)
  rawset(s, "_known", {})
  for _, v in ipairs(fixed) do s:add(v, true) end
  rawset(s, "_fixed", #s)
  rawset(s, "_next", 0)
  return s
end

--- Adds a secret; a token (`fixed` not set) replaces the oldest token once
-- M.MAX_TOKENS are held.
function Secrets:add(v, fixed)
  local known = rawget(self, "_known")
  if type(v) ~= "string" or v == "" or known[v] then return end
  known[v] = true
  local n = #self
  if fixed or n < rawget(self, "_fixed") + M.MAX_TOKENS then
    self[n + 1] = v
    return
  end
  local slot = rawget(self, "_fixed") + 1 + rawget(self, "_next")
  known[self[slot]] = nil
  self[slot] = v
  rawset(self, "_next", (rawget(self, "_next") + 1) % M.MAX_TOKENS)
end

local Static = {}
Static.__index = Static

--- The provider of a fixed credential: `kind` "api_key" (HTTP Basic) or
-- "oauth_token" (Bearer). Returns nil and the reason for a bad credential.
function M.static(kind, secret, user_agent)
  local header, reason = core.auth_header(kind == "api_key" and "basic" or "bearer", secret)
  if not header then return nil, reason end
  return setmetatable({
    name = kind,
    secrets = M.secrets({ secret, header, (header:gsub("^%S+ ", "")) }),
    set = driver.headers(header, user_agent),
  }, Static)
end

function Static:headers() return self.set end

-- a fixed credential refused stays refused: nothing to fetch
function Static.rejected() return false end

--- The provider of the `oauth` option (checked by close.config), which
-- refreshes and rotates its tokens.
-- @tparam table o the `oauth` option
-- @tparam table parts the client's parts (clock, wallclock, user_agent, base_url)
function M.oauth(o, parts)
  parts.secrets = M.secrets({ o.client_secret })
  local p = oauth.provider(o, parts)
  p.name, p.secrets = "oauth", parts.secrets
  return p
end

return M
