--- The options of `close.new`: their types, their defaults and their
-- checks. A bad option raises at close.new's caller (a programmer mistake);
-- what comes back is the client's settings, fixed from then on.
-- @module close.config

local core = require "close.core"
local oauth = require "close.oauth"

local M = {}

--- The defaults of the numeric options and base_url (src/defaults.h, through close.core).
M.DEFAULTS = core.defaults

--- The longest timeout or connect_timeout, in seconds: C's cap
-- (`CLOSE_MAX_SECONDS` in defaults.h, a day).
M.MAX_SECONDS = core.defaults.max_seconds

--- How long a cached read (roles, the organization id) is used, in seconds.
M.CACHE_MAX_AGE = 300

--- The type of every option.
M.OPTION_TYPES = {
  api_key = "string", oauth_token = "string", oauth = "table", base_url = "string", ca_file = "string",
  timeout = "number", connect_timeout = "number", deadline = "number",
  max_retries = "number", max_wait = "number", backoff_base = "number", max_body = "number",
  transport = "function", sleep = "function", clock = "function", wallclock = "function",
  random = "function", on_attempt = "function", pace = "boolean", cache_max_age = "number",
}

local OAUTH_TYPES = {
  client_id = "string", client_secret = "string", refresh_token = "string", access_token = "string",
  expires_at = "number", token_url = "string", on_tokens = "function", store = "table",
  code = "string", redirect_uri = "string", code_verifier = "string",
}

-- Raises at the caller of close.new (close.new -> check -> ... -> fail):
-- `depth` counts the functions of this module between check and fail.
local function fail(msg, depth)
  error("close.new: " .. msg, 4 + (depth or 0))
end

local function check_types(opts, types, prefix, depth)
  local what = prefix == "" and "option" or "field"
  for k, v in pairs(opts) do
    local want = types[k]
    if not want then fail(("unknown %s '%s%s'"):format(what, prefix, tostring(k)), depth) end
    if type(v) ~= want then fail(("%s '%s%s' must be a %s (got %s)"):format(what, prefix, k, want, type(v)), depth) end
  end
end

local function check_oauth_credentials(o)
  for _, k in ipairs({ "client_id", "client_secret" }) do
    if not o[k] then fail("field 'oauth." .. k .. "' is required", 2) end
    if o[k] == "" or o[k]:find("[%c ]") then
      fail("field 'oauth." .. k .. "' must be non-empty, without spaces or control characters", 2)
    end
  end
  for _, k in ipairs({ "refresh_token", "access_token" }) do
    if o[k] and not oauth.valid_token(o[k]) then
      fail("field 'oauth." .. k .. "' must be a token (letters, digits and -._~+/, at most 4096)", 2)
    end
  end
  if o.expires_at and o.expires_at ~= o.expires_at then fail("field 'oauth.expires_at' must be a number", 2) end
  if not (o.refresh_token or o.access_token or o.store or o.code) then
    fail("field 'oauth' needs refresh_token, access_token, store or code", 2)
  end
end

-- The `oauth` option, checked field by field.
local function check_oauth(o)
  check_types(o, OAUTH_TYPES, "oauth.", 2)
  check_oauth_credentials(o)
  if o.code and not o.redirect_uri then fail("field 'oauth.redirect_uri' is required with 'code'", 1) end
  if o.code and not o.code:match("^[\32-\126]+$") then -- RFC 6749: 1*VSCHAR
    fail("field 'oauth.code' must be printable ASCII, not empty", 1)
  end
  if o.redirect_uri and not o.redirect_uri:match("^https?://[%w%-%._~%%!$&'()*+,;=:@/?]+$") then
    fail("field 'oauth.redirect_uri' must be an http or https URI", 1)
  end
  if o.code_verifier and not (o.code and oauth.valid_verifier(o.code_verifier)) then
    fail("field 'oauth.code_verifier' goes with 'code' and must be 43 to 128 of A-Z a-z 0-9 - . _ ~ (RFC 7636)", 1)
  end
  if o.store then
    for _, m in ipairs({ "load", "save", "lock", "unlock" }) do
      if type(o.store[m]) ~= "function" then fail("field 'oauth.store' must have a " .. m .. " function", 1) end
    end
  end
  if o.token_url then
    local ok, why = core.check_base_url(o.token_url)
    if not ok then fail("field 'oauth.token_url' " .. why, 1) end
  end
end

-- The numbers of the settings s, in range.
local function check_numbers(s)
  for _, k in ipairs({ "timeout", "connect_timeout", "deadline", "max_wait", "max_body" }) do
    if s[k] ~= s[k] or s[k] <= 0 then fail(("option '%s' must be positive"):format(k), 1) end
  end
  if s.backoff_base ~= s.backoff_base or s.backoff_base < 0 then
    fail("option 'backoff_base' must not be negative", 1)
  end
  if not (s.max_retries >= 0 and s.max_retries <= 100) or s.max_retries ~= math.floor(s.max_retries) then
    fail("option 'max_retries' must be a whole number from 0 to 100", 1)
  end
  for _, k in ipairs({ "timeout", "connect_timeout" }) do
    if s[k] > M.MAX_SECONDS then fail(("option '%s' must be at most %d seconds"):format(k, M.MAX_SECONDS), 1) end
  end
  if s.cache_max_age ~= s.cache_max_age or s.cache_max_age < 0 then
    fail("option 'cache_max_age' must not be negative", 1)
  end
end

--- The credential option given: "api_key", "oauth_token" or "oauth"
-- (exactly one must be).
local function credential_of(opts)
  local given = (opts.api_key and 1 or 0) + (opts.oauth_token and 1 or 0) + (opts.oauth and 1 or 0)
  if given ~= 1 then fail("give exactly one of 'api_key', 'oauth_token' and 'oauth'", 1) end
  return opts.api_key and "api_key" or opts.oauth_token and "oauth_token" or "oauth"
end

--- Checks the options of close.new and returns the settings they make:
-- every default filled in, base_url normalised, `credential` naming the
-- credential option. Raises at close.new's caller on a bad option.
-- @local
function M.check(opts)
  if type(opts) ~= "table" then
    error("close.new: expected a table of options, got " .. type(opts), 3)
  end
  check_types(opts, M.OPTION_TYPES, "", 1)
  local s = {}
  for k, v in pairs(M.DEFAULTS) do
    if opts[k] == nil then s[k] = v else s[k] = opts[k] end
  end
  s.cache_max_age = opts.cache_max_age or M.CACHE_MAX_AGE
  check_numbers(s)
  s.credential = credential_of(opts)
  if opts.oauth then check_oauth(opts.oauth) end
  local base, why = core.check_base_url(s.base_url)
  if not base then fail("option 'base_url' " .. why) end
  s.base_url = base
  s.ca_file, s.pace, s.on_attempt = opts.ca_file, opts.pace == true, opts.on_attempt
  return s
end

--- The message of an option error from `close.new`, without its prefix
-- (for `close.from_env`, which reports it as a validation error).
function M.message(raised)
  return (tostring(raised):gsub("^.-close%.new: ", ""))
end

return M
