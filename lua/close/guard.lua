--- The safety rule of every change to memberships made on someone's behalf
-- (close-provision's plans, the SCIM bridge): never the caller's own
-- membership deactivated or its role lowered, and never an organization
-- left without an active admin.
--
-- `state` is `{caller = membership, members = {member, ...}}`, a member
-- `{id=, user_id=, email=, role_id=, active=}` (the caller as found among
-- the members, or at least its `user_id`/`email`); `change` is
-- `{email= | membership_id=, action=, role_id=}`, the action one of
-- `"create"`, `"reactivate"`, `"change_role"`, `"deactivate"`, ...
-- Only `deactivate` and `change_role` can be refused.
-- @module close.guard

local M = {}

-- The predefined roles by rank; a custom role (role_...) ranks unknown.
local RANK = { restricteduser = 1, user = 2, superuser = 3, admin = 4 }

local address_key = require("close.validate").address_key

local function same(a, b)
  if not a or not b then return false end
  if a.id and b.id and a.id == b.id then return true end
  if a.user_id and b.user_id and a.user_id == b.user_id then return true end
  local ea, eb = address_key(a.email), address_key(b.email)
  return ea ~= "" and ea == eb
end

-- the active member a change is about, if any
local function target(state, change)
  local want = { id = change.membership_id, email = change.email }
  for _, m in ipairs(state.members or {}) do
    if m.active and same(m, want) then return m end
  end
end

local function active_admins(state)
  local n = 0
  for _, m in ipairs(state.members or {}) do
    if m.active and m.role_id == "admin" then n = n + 1 end
  end
  return n
end

-- whether `to` is not known to rank at least as high as `from`
local function lowers(from, to)
  if from == to then return false end
  local a, b = RANK[from], RANK[to]
  return not (a and b and b >= a)
end

--- Whether `change` may be made in `state`.
-- @return true, or nil and the reason (a sentence naming the rule)
function M.check(state, change)
  if change.action ~= "deactivate" and change.action ~= "change_role" then return true end
  local m = target(state, change)
  if not m then return true end -- not an active member: nothing to protect
  local is_caller = state.caller ~= nil and same(m, state.caller)
  if change.action == "deactivate" then
    if is_caller then return nil, "the caller's own membership is never deactivated" end
    if m.role_id == "admin" and active_admins(state) <= 1 then
      return nil, "the organization's last active admin is never deactivated"
    end
    return true
  end
  if is_caller and lowers(m.role_id, change.role_id) then
    return nil, ("the caller's own role is never lowered (%s, not %s)"):format(tostring(m.role_id),
      tostring(change.role_id))
  end
  if m.role_id == "admin" and change.role_id ~= "admin" and active_admins(state) <= 1 then
    return nil, "the organization's last active admin keeps the admin role"
  end
  return true
end

--- Records an allowed change in `state` (a plan of several changes checks
-- each against the state the earlier ones leave).
function M.record(state, change)
  local m = target(state, change)
  if not m then return end
  if change.action == "deactivate" then m.active = false
  elseif change.action == "change_role" then m.role_id = change.role_id end
end

return M
