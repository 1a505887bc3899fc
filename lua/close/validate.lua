--- Argument validation for the public calls, before any I/O.
-- The string rules (email, role_id, ids) live in C (src/validate.c); this
-- layer checks the shape of the argument table: unknown fields, missing
-- fields and wrong types, and gathers every problem into `field_errors`.
-- @module close.validate

local core = require "close.core"
local cjson = require "cjson.safe"

local M = {}

local function check_string(check)
  return function(v)
    if type(v) ~= "string" then return "must be a string (got " .. type(v) .. ")" end
    local ok, reason = check(v)
    if not ok then return reason end
  end
end

--- The longest id taken (`role_...`, `memb_...`, `save_...`): Close's are
-- about 50 characters; a longer one is refused before anything is sent.
M.MAX_ID_LENGTH = 100

-- the length cap of every id, before its form is checked
local function capped(check)
  return function(v, ...)
    if #v > M.MAX_ID_LENGTH then return nil, ("must be at most %d characters"):format(M.MAX_ID_LENGTH) end
    return check(v, ...)
  end
end

M.email = check_string(core.validate_email)
--- `role_id`'s rule: a predefined role or `role_` plus letters and digits,
-- at most M.MAX_ID_LENGTH characters. Returns nil when valid, else the reason.
M.role_id = check_string(capped(core.validate_role))

--- A shallow copy of a table (an argument table, a token set).
function M.copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

--- The key an email address is matched by: Close matches addresses
-- without regard to case (the local part too), so Sam@acme.com is
-- sam@acme.com's membership. Not a string: "" (matches no valid address).
function M.address_key(email)
  return type(email) == "string" and email:lower() or ""
end

--- Close's predefined roles, whose ids are their names: `{admin = true, ...}`,
-- the set src/validate.c checks role ids against (close.core.ROLES).
M.PREDEFINED_ROLES = core.ROLES

--- Whether a role as written (a file's cell, an argument) is an id rather
-- than a name: empty (the default role), a valid role id, or anything
-- starting with `role_` (a malformed id is refused as an id, not looked up
-- as a name).
function M.reads_as_role_id(role)
  return role == "" or core.validate_role(role) == true or role:lower():match("^role_") ~= nil
end

--- The predefined roles' names as Close's UI shows them, in its order:
-- `{id, name}` pairs. They are accepted as names too.
M.PREDEFINED_NAMES = { { "admin", "Admin" }, { "superuser", "Super User" }, { "user", "User" },
  { "restricteduser", "Restricted User" } }

-- a lowercased id or UI name of a predefined role -> its id
local PREDEFINED_BY_NAME, PREDEFINED_NAME = {}, {}
for _, p in ipairs(M.PREDEFINED_NAMES) do
  PREDEFINED_BY_NAME[p[1]], PREDEFINED_BY_NAME[p[2]:lower()], PREDEFINED_NAME[p[1]] = p[1], p[1], p[2]
end

--- Every role name a user may type: the predefined roles' (as the UI shows
-- them) and then those of `roles` (GET /role/), sorted.
function M.role_names(roles)
  local names = {}
  for _, r in ipairs(roles or {}) do
    if type(r.name) == "string" then names[#names + 1] = r.name end
  end
  table.sort(names)
  for i = #M.PREDEFINED_NAMES, 1, -1 do table.insert(names, 1, M.PREDEFINED_NAMES[i][2]) end
  return names
end

--- A role id -> the name a person knows it by: a predefined role's as the
-- UI shows it, a custom role's from `roles`, else the id itself.
function M.role_name(role_id, roles)
  if role_id == nil then return nil end
  if PREDEFINED_NAME[role_id] then return PREDEFINED_NAME[role_id] end
  for _, r in ipairs(roles or {}) do
    if r.id == role_id and type(r.name) == "string" then return r.name end
  end
  return role_id
end

--- A role name (any case, spaces around ignored) -> its role id, from the
-- predefined roles (by id or by the name the UI shows: `Super User`) or
-- `roles` (the organization's, from GET /role/); or nil and the reason,
-- naming every role a user may type.
function M.role_named(name, roles)
  local wanted = name:lower():gsub("^%s+", ""):gsub("%s+$", "")
  if PREDEFINED_BY_NAME[wanted] then return PREDEFINED_BY_NAME[wanted] end
  local matches = {}
  for _, r in ipairs(roles or {}) do
    if type(r.name) == "string" and r.name:lower() == wanted then matches[#matches + 1] = r end
  end
  if #matches == 1 then return matches[1].id end
  if #matches > 1 then
    local ids = {}
    for _, r in ipairs(matches) do ids[#ids + 1] = r.id .. " (" .. r.name .. ")" end
    return nil, ("ambiguous role name '%s' matches %s: give role_id"):format(name, table.concat(ids, ", "))
  end
  return nil, ("unknown role '%s' (roles: %s)"):format(name, table.concat(M.role_names(roles), ", "))
end

--- A checker for an id with the given prefix ("memb_", "save_", ...).
function M.id(prefix)
  return check_string(capped(function(v)
    local ok, reason = core.validate_id(v, prefix)
    if ok then return true end
    return nil, reason:gsub("the id prefix", "'" .. prefix .. "'")
  end))
end

local function enum(...)
  local allowed, list = {}, table.concat({ ... }, ", ")
  for _, v in ipairs({ ... }) do allowed[v] = true end
  return check_string(function(v)
    if allowed[v] then return true end
    return nil, "must be one of " .. list
  end)
end

local function string_or_null(v)
  if v == cjson.null then return end
  if type(v) ~= "string" then return "must be a string or close.null (got " .. type(v) .. ")" end
end

local function boolean(v)
  if type(v) ~= "boolean" then return "must be a boolean (got " .. type(v) .. ")" end
end

-- A role given by name instead of id: checked for type here, resolved later.
local role_name = check_string(function(v)
  if v:match("^%s*$") then return nil, "must not be empty" end
  return true
end)

--- The fields of a membership create (`role`: a role name, resolved later).
M.CREATE = { email = M.email, role_id = M.role_id, role = role_name }

--- The fields a membership update takes (PUT /membership/{id}/ and bulk).
M.UPDATE = {
  role_id = M.role_id,
  role = role_name,
  auto_record_calls = enum("enabled", "disabled", "unset"),
  default_caller_id = string_or_null,
  hangup_recording_url = string_or_null,
  may_workflows_impersonate = boolean,
  track_email_opens = boolean,
}

--- Checks `args` against `schema` (`{field = checker}`, a checker returning
-- a reason or nil) with the `required` field names. Returns nil when valid,
-- else `{field = reason}` naming every bad field.
function M.fields(args, schema, required)
  local errs = {}
  for k in pairs(args) do
    if type(k) ~= "string" then
      errs[tostring(k)] = "unknown field (fields are named)"
    elseif not schema[k] then
      errs[k] = "unknown field"
    end
  end
  for _, k in ipairs(required or {}) do
    if args[k] == nil then errs[k] = "is required" end
  end
  for k, check in pairs(schema) do
    if args[k] ~= nil and not errs[k] then errs[k] = check(args[k]) end
  end
  if next(errs) then return errs end
end

--- `fields` for membership arguments, where a role is given either by id
-- (`role_id`) or by name (`role`), never both; with `need_role` one of them
-- is required.
function M.membership(args, schema, required, need_role)
  local errs = M.fields(args, schema, required)
  if args.role ~= nil and args.role_id ~= nil then
    errs = errs or {}
    errs.role = "give either role or role_id, not both"
  end
  if need_role and args.role_id == nil and args.role == nil then
    errs = errs or {}
    errs.role_id = "is required"
  end
  return errs
end

return M
