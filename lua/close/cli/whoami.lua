--- `close-provision whoami`: who the credentials act as. The organization,
-- the caller, its role and the kind of credential (an API key, a fixed
-- token, OAuth tokens with their expiry); nothing secret.
-- @module close.cli.whoami

local cjson = require "cjson.safe"
local core = require "close.core"
local credentials = require "close.cli.credentials"
local validate = require "close.validate"

local M = {}

local ME_FIELDS = "id,email,first_name,last_name,organization_id,organizations"

-- The caller (GET /me/), its organization's name, and its membership's role.
local function identity(client)
  local me, err = client:request("GET", "/me/", { query = { _fields = ME_FIELDS } })
  if not me then return nil, err end
  local who = { user_id = me.id, email = me.email, organization_id = me.organization_id,
    name = table.concat({ me.first_name or "", me.last_name or "" }, " "):match("^%s*(.-)%s*$") }
  for _, o in ipairs(type(me.organizations) == "table" and me.organizations or {}) do
    if type(o) == "table" and o.id == me.organization_id then who.organization = o.name end
  end
  local members
  members, err = client:memberships()
  if not members then return nil, err end
  for _, m in ipairs(members) do
    if m.user_id == me.id then who.role_id = m.role_id end
  end
  if who.role_id and not validate.PREDEFINED_ROLES[who.role_id] then
    local roles = client:roles() -- a custom role's name; without it the id says enough
    who.roles = roles
  end
  who.role = validate.role_name(who.role_id, who.roles)
  return who
end

-- The credential: its kind, where it came from, and an OAuth pair's expiry.
local function credential(env, opts, client)
  local getenv = env.getenv or os.getenv
  local kind = client:credential()
  local cred = { kind = kind }
  if kind == "api_key" then cred.source = "CLOSE_API_KEY"
  elseif kind == "oauth_token" then cred.source = "CLOSE_ACCESS_TOKEN"
  else
    cred.token_file = opts["token-file"] or getenv("CLOSE_TOKEN_FILE")
    local t, err = client:tokens()
    if not t then return nil, err end
    cred.expires_at = t.expires_at
  end
  return cred
end

local function credential_text(c, now)
  if c.kind == "api_key" then return "API key (" .. c.source .. ")" end
  if c.kind == "oauth_token" then
    return "OAuth access token (" .. c.source .. "), not refreshed: its expiry is Close's"
  end
  local text = "OAuth, refreshed and rotated as needed" .. (c.token_file and (", tokens in " .. c.token_file) or "")
  if c.expires_at then
    text = text .. ("; the access token expires %s (in %d min)"):format(
      os.date("!%Y-%m-%d %H:%M:%S UTC", math.floor(c.expires_at)), math.floor((c.expires_at - now) / 60))
  end
  return text
end

local function show(out, opts, who, cred, now)
  if opts.json then
    return out(cjson.encode({
      organization = { id = who.organization_id, name = who.organization },
      user = { id = who.user_id, email = who.email, name = who.name ~= "" and who.name or nil },
      role = who.role, role_id = who.role_id, credential = cred }))
  end
  out(("organization: %s (%s)"):format(tostring(who.organization or "?"), tostring(who.organization_id)))
  out(("caller: %s<%s> (%s)"):format(who.name ~= "" and (who.name .. " ") or "", tostring(who.email),
    tostring(who.user_id)))
  out(("role: %s"):format(who.role_id and (who.role .. (who.role ~= who.role_id and (" (" .. who.role_id .. ")")
    or "")) or "none: not an active member"))
  out("credential: " .. credential_text(cred, now))
end

--- Runs `whoami`; returns the exit status.
function M.run(env, opts, errout)
  local out = env.out or print
  local client, cerr = credentials.make(env, opts)
  if not client then
    errout("close-provision: " .. tostring(cerr))
    return 2
  end
  local who, err = identity(client)
  local cred
  if who then cred, err = credential(env, opts, client) end
  if not (who and cred) then
    errout("close-provision: " .. tostring(err))
    return err.kind == "auth" and 2 or 1
  end
  show(out, opts, who, cred, (env.now or core.time)())
  return 0
end

return M
