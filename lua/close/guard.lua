--- The safety rule of every writer (CLI and SCIM bridge): never deactivate
-- or demote the account whose credentials are in use, nor the last active
-- admin of the organization.
--
-- `guard.check(state, change)`: state `{caller = {id=, email=}, members =
-- {{id, user_id, email, role_id, active}, ...}}`; change `{member = one of
-- state.members, role_id = the new role or nil, active = the new state or
-- nil}`. Returns true, or nil and the reason.
-- @module close.guard

local M = {}

M.ADMIN = "admin"

local function is_caller(caller, m)
  if type(caller) ~= "table" then return false end
  if caller.id and m.user_id == caller.id then return true end
  return type(caller.email) == "string" and type(m.email) == "string" and caller.email:lower() == m.email:lower()
end

function M.check(state, change)
  local m = change.member
  if not m or not m.active then return true end
  local deactivates = change.active == false
  local demotes = change.role_id ~= nil and change.role_id ~= m.role_id
  if not deactivates and not demotes then return true end
  local what = deactivates and "deactivated" or "moved to another role"
  if is_caller(state.caller, m) then
    return nil, ("%s is the account whose credentials the bridge uses: it is never %s"):format(m.email, what)
  end
  if m.role_id == M.ADMIN then
    for _, o in ipairs(state.members or {}) do
      if o.active and o.role_id == M.ADMIN and o.id ~= m.id then return true end
    end
    return nil, ("%s is the last active admin: it is never %s"):format(m.email, what)
  end
  return true
end

return M
