--- Argument validation for the public calls, before any I/O.
-- The string rules (email, role_id, ids) live in C (src/validate.c); this
-- layer checks the shape of the argument table: unknown fields, missing
-- fields and wrong types, and gathers every problem into `field_errors`.
-- @module close.validate

local core = require "close.core"

local M = {}

local function check_string(check)
  return function(v)
    if type(v) ~= "string" then return "must be a string (got " .. type(v) .. ")" end
    local ok, reason = check(v)
    if not ok then return reason end
  end
end

M.email = check_string(core.validate_email)
M.role_id = check_string(core.validate_role)

--- A checker for an id with the given prefix ("memb_", "save_", ...).
function M.id(prefix)
  return check_string(function(v)
    local ok, reason = core.validate_id(v, prefix)
    if ok then return true end
    return nil, reason:gsub("the id prefix", "'" .. prefix .. "'")
  end)
end

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

return M
