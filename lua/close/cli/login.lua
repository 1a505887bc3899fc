--- `close-provision login`: the first OAuth tokens. Prints the authorize
-- URL, takes Close's redirect once on 127.0.0.1, exchanges the code and
-- writes the token file.
-- @module close.cli.login

local close = require "close"
local core = require "close.core"

local M = {}

-- the state parameter: 16 bytes of the system's random source, in hex
local function random_state()
  local bytes = close.oauth.random_bytes(16)
  return bytes and (bytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

local function decode(x)
  return (x:gsub("%+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function query_args(q)
  local t = {}
  for k, v in (q or ""):gmatch("([^&=]+)=([^&]*)") do t[decode(k)] = decode(v) end
  return t
end

--- The default token file: $XDG_CONFIG_HOME/close/tokens.json (~/.config/...),
-- and the configuration directory it is in.
function M.default_token_file(getenv)
  getenv = getenv or os.getenv
  local base = getenv("XDG_CONFIG_HOME")
  if not base or base == "" then
    local home = getenv("HOME")
    if not home or home == "" then return nil end
    base = home .. "/.config"
  end
  return base .. "/close/tokens.json", base
end

local function nonempty(v) return v ~= "" and v or nil end

local PAGE = "<!doctype html><title>close-provision</title>"
  .. "<p>close-provision got Close's answer: see your terminal. You may close this tab.</p>"

-- login's arguments: options, or nil and why ("help" for --help)
local function parse(argv)
  local o = { port = 0, timeout = 300 }
  local i = 2
  while i <= #argv do
    local a, v = argv[i], argv[i + 1]
    if a == "--client-id" then o.client_id = v
    elseif a == "--token-file" then o.token_file = v
    elseif a == "--redis" then o.redis = v
    elseif a == "--port" then o.port = tonumber(v)
    elseif a == "--timeout" then o.timeout = tonumber(v)
    elseif a == "-h" or a == "--help" then o.help = true return o
    else return nil, "unknown argument " .. a end
    if v == nil or (a == "--port" or a == "--timeout") and not tonumber(v) then
      local what = (a == "--port" or a == "--timeout") and "number" or "value"
      return nil, a .. " needs a " .. what
    end
    i = i + 2
  end
  if o.port % 1 ~= 0 or o.port < 0 or o.port > 65535 then
    return nil, "--port needs a whole number from 0 to 65535 (0: any free port)"
  end
  if not (o.timeout > 0 and o.timeout < math.huge) then return nil, "--timeout needs a number of seconds over 0" end
  if not o.client_id then return nil, "--client-id is required (the OAuth app's client id)" end
  if o.redis and o.token_file then return nil, "--redis and --token-file go to different places: give one" end
  return o
end

-- the token file to write: the one given, or the default (its directories made private)
local function token_file(o, getenv)
  if o.token_file then return o.token_file end
  local path, dir = M.default_token_file(getenv)
  if not path then return nil, "no HOME or XDG_CONFIG_HOME: give --token-file" end
  for _, d in ipairs({ dir, dir .. "/close" }) do
    local ok, why = core.mkdir_private(d)
    if not ok then return nil, d .. " " .. why end
  end
  return path
end

-- --redis URL: the store of the nodes' pair in Redis (password from the URL
-- or CLOSE_REDIS_PASSWORD), read once so that a new login replaces the
-- pair there; or nil, why and the exit status
local function redis_store(o, getenv)
  local r, why = require("close.redis").parse_url(o.redis)
  if not r then return nil, "--redis: " .. why, 2 end
  r.password = r.password or nonempty(getenv("CLOSE_REDIS_PASSWORD"))
  o.where = ("Redis %s:%d/%d"):format(r.host, r.port, r.db)
  local store = close.oauth.redis_store{ host = r.host, port = r.port, db = r.db, password = r.password }
  local _, err = store.load()
  if err then return nil, o.where .. " cannot be used: " .. tostring(err), 1 end
  return store
end

-- Waits for the redirect carrying `state`: the code, or nil and why (the
-- app refused, or no redirect came in time).
local function wait_for_code(listener, state, timeout, errout)
  local deadline = core.now() + timeout
  for _ = 1, 50 do -- bounded: a browser may ask for a favicon or two first
    local left = deadline - core.now()
    if left <= 0 then break end
    local target = listener:accept(left, 200, PAGE)
    if target then
      local path, q = target:match("^([^?]*)%??(.*)$")
      local args = query_args(q)
      if path == "/callback" and args.state == state then
        if args.error then
          return nil, ("the app was not approved (%s%s)"):format(args.error,
            args.error_description and (": " .. args.error_description) or "")
        end
        if args.code then return args.code end
      elseif path == "/callback" then
        errout("close-provision login: ignored a redirect whose state is not this login's")
      end
    end
  end
  return nil, ("no redirect came within %gs"):format(timeout)
end

--- Where the user approves the app: CLOSE_AUTHORIZE_URL; else, when
-- CLOSE_BASE_URL points at a loopback host (the local Close-compatible
-- server), its origin's /oauth2/authorize/; else Close's.
function M.authorize_endpoint(getenv)
  local given = nonempty(getenv("CLOSE_AUTHORIZE_URL"))
  if given then return given end
  local origin = (getenv("CLOSE_BASE_URL") or ""):match("^https?://[^/?#@]+")
  local authority = origin and origin:match("//(.*)$")
  local host = authority and (authority:match("^%[.-%]") or authority:match("^[^:]+"))
  if host and core.is_loopback_host(host) then return origin .. "/oauth2/authorize/" end
  return close.oauth.AUTHORIZE_URL
end

-- Prints the URL, takes the redirect and exchanges the code: the tokens, or nil and why.
local function authorize(env, o, secret, out, errout)
  local getenv = env.getenv or os.getenv
  local state, pkce = random_state(), close.oauth.pkce()
  if not (state and pkce) then return nil, "cannot read /dev/urandom for the state and PKCE parameters", 2 end
  local listener, lerr = core.listen(o.port)
  if not listener then return nil, lerr, 2 end
  local redirect_uri = ("http://127.0.0.1:%d/callback"):format(listener:port())
  -- PKCE (RFC 7636): the code is worth nothing without the verifier, which never leaves this process
  local url = close.oauth.authorize_url{ client_id = o.client_id, redirect_uri = redirect_uri, state = state,
    code_challenge = pkce.challenge, authorize_url = M.authorize_endpoint(getenv) }
  out("Open this URL in a browser and approve the app:")
  out("  " .. url)
  out("Waiting for Close's redirect to " .. redirect_uri .. " ...")
  if env.flush then env.flush() else io.stdout:flush() end -- whoever reads the URL needs it now
  local code, why = wait_for_code(listener, state, o.timeout, errout)
  listener:close()
  if not code then return nil, why, 1 end
  local tokens, err = close.oauth.exchange_code{ client_id = o.client_id, client_secret = secret, code = code,
    redirect_uri = redirect_uri, code_verifier = pkce.verifier, base_url = nonempty(getenv("CLOSE_BASE_URL")),
    ca_file = nonempty(getenv("CLOSE_CA_FILE")), store = o.store or close.oauth.file_store(o.token_file) }
  if not tokens then return nil, tostring(err), 1 end
  return tokens
end

--- Runs `close-provision login ...` (`env.argv`); returns the exit status.
function M.run(env, out, errout, usage)
  local getenv = env.getenv or os.getenv
  local function fail(why, code)
    errout("close-provision login: " .. why)
    return code or 2
  end
  local o, why = parse(env.argv)
  if not o then return fail(why) end
  if o.help then out(usage) return 0 end
  local secret = getenv("CLOSE_CLIENT_SECRET")
  if not secret or secret == "" then return fail("set CLOSE_CLIENT_SECRET to the OAuth app's client secret") end
  local code
  if o.redis then
    o.store, why, code = redis_store(o, getenv)
    if not o.store then return fail(why, code) end
  else
    o.token_file, why = token_file(o, getenv)
    if not o.token_file then return fail(why) end
  end
  local tokens, aerr
  tokens, aerr, code = authorize(env, o, secret, out, errout)
  if not tokens then return fail(aerr, code) end
  if o.redis then
    out(("Logged in%s; tokens saved in %s for every close-scim --redis node."):format(
      tokens.organization_id and (" to " .. tokens.organization_id) or "", o.where))
    return 0
  end
  out(("Logged in%s; tokens saved to %s (mode 0600)."):format(
    tokens.organization_id and (" to " .. tokens.organization_id) or "", o.token_file))
  out(("Run: CLOSE_CLIENT_SECRET=... close-provision --token-file %s FILE"):format(o.token_file))
  return 0
end

return M
