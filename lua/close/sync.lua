--- Keeping a team in sync with a list: a plan first, then its application.
--
-- `client:plan_sync(rows, opts)` reads the organization once (memberships,
-- active and inactive; roles; the caller) and says per row what would be
-- done: `create`, `reactivate`, `change_role`, `unchanged`, or `invalid`
-- with the reason; with `deactivate_missing`, every active member not in
-- the rows becomes `deactivate` (never one in `keep`). What `close.guard`
-- refuses (the caller deactivated or its role lowered, the last active
-- admin lost) is `invalid` with its reason. A plan deactivating more than
-- `max_deactivate` is whole, marked `over_limit`;
-- `client:apply_plan(plan, opts)` refuses it, and carries any other out
-- through `client:batch`.
-- Uses only the client's public calls.
-- @module close.sync

local Error = require "close.error"
local core = require "close.core"
local guard = require "close.guard"
local validate = require "close.validate"
local memberships = require "close.memberships"

local M = {}

local key = validate.address_key

-- role (a name or an id) -> role id, or nil and why
local function resolve(role_id, role, roles)
  if role_id and role_id ~= "" then
    if validate.PREDEFINED_ROLES[role_id] then return role_id end
    for _, r in ipairs(roles) do if r.id == role_id then return role_id end end
    return nil, ("unknown role id '%s'"):format(role_id)
  end
  if not role or role:match("^%s*$") then return "user" end -- no role: the default role of Close
  return validate.role_named(role, roles)
end

--- The checks of a row that need no server: the email, the role's form,
-- and duplicates (the same address twice with different roles is refused on
-- both lines; twice with the same role, the second is a duplicate: a
-- warning, done once).
-- Returns `{[row] = reason}` (refused rows) and `{[row] = reason}` (duplicates).
function M.check_rows(rows)
  local bad, dups, first = {}, {}, {}
  for _, row in ipairs(rows) do
    if row.error then
      bad[row] = row.error
    else
      local ok, why = core.validate_email(row.email or "")
      if not ok then
        bad[row] = "email " .. why
      elseif row.role_id and row.role_id ~= "" and validate.role_id(row.role_id) then
        bad[row] = "role_id " .. validate.role_id(row.role_id)
      else
        local k = key(row.email)
        local prev = first[k]
        if prev then
          local a, b = prev.role_id or prev.role or "", row.role_id or row.role or ""
          if a:lower() ~= b:lower() then
            bad[row] = ("the same address as line %d with another role (%s, not %s)"):format(prev.line, b, a)
            bad[prev] = bad[prev] or ("the same address as line %d with another role (%s, not %s)"):format(
              row.line, a, b)
          else
            dups[row] = ("a duplicate of line %d"):format(prev.line)
          end
        else
          first[k] = row
        end
      end
    end
  end
  return bad, dups
end

local function check_opts(opts)
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "deactivate_missing" and k ~= "keep" and k ~= "max_deactivate" and k ~= "only" then
      error("close: plan_sync: unknown option '" .. tostring(k) .. "'", 4)
    end
  end
  return opts
end

-- The guard's view of the organization: a copy of the members (the plan
-- records its changes in it) and the caller.
local function guard_state(me, all)
  local members, caller = {}, { user_id = me.id, email = me.email }
  for i, m in ipairs(all) do
    members[i] = { id = m.id, user_id = m.user_id, email = m.email, role_id = m.role_id, active = m.active }
  end
  return { caller = caller, members = members }
end

-- An item the guard refuses becomes invalid with its reason; one it allows
-- is recorded, so that the next is checked against what the plan leaves.
local function guarded(state, item)
  local change = { email = item.email, membership_id = item.membership_id, action = item.action,
    role_id = item.role_id }
  local ok, why = guard.check(state, change)
  if not ok then
    item.action, item.reason = "invalid", why
  else
    guard.record(state, change)
  end
  return item
end

-- The limit on deactivations: `max_deactivate`, and why it is that number.
local function deactivate_limit(opts, active)
  if opts.max_deactivate then return opts.max_deactivate, "" end
  return math.max(1, math.floor(active / 10)), (" (10%% of %d active members, at least 1)"):format(active)
end

-- What the organization holds: the caller, every membership (active and
-- inactive), the roles (none for `only = "deactivate"`); or nil, err.
local function read_organization(client, opts)
  local me, err = client:request("GET", "/me/", { query = { _fields = "id,email,organization_id" } })
  if not me then return nil, err end
  local all
  all, err = client:memberships{ inactive = true }
  if not all then return nil, err end
  local roles = {}
  if opts.only ~= "deactivate" then
    roles, err = client:roles()
    if not roles then return nil, err end
  end
  return { me = me, all = all, roles = roles, by_email = memberships.by_address(all) }
end

-- A role id's name, or nil when only the id is known.
local function name_of(role_id, roles)
  local name = validate.role_name(role_id, roles)
  if name ~= role_id then return name end
end

-- A row's item: what the row changes for its member `m` (nil: none); a
-- duplicate of an earlier row changes nothing.
local function row_item(row, m, why_bad, opts, roles, duplicate)
  local item = { line = row.line, email = row.email, text = row.text }
  if why_bad then
    item.action, item.reason = "invalid", why_bad
  elseif duplicate then
    item.action, item.reason = "duplicate", duplicate
  elseif opts.only == "deactivate" then
    if m and m.active then
      item.action, item.membership_id, item.previous_role_id = "deactivate", m.id, m.role_id
    else
      item.action, item.reason = "unchanged", m and "already inactive" or "not a member"
    end
  else
    local role_id, why = resolve(row.role_id, row.role, roles)
    if not role_id then
      item.action, item.reason = "invalid", why
    else
      item.role_id, item.action = role_id, memberships.action(m, role_id)
      if m then item.membership_id, item.previous_role_id = m.id, m.role_id end
    end
  end
  return item
end

-- The active members no row lists, never one kept, never the caller, by address.
local function missing_members(org, listed, keep_list)
  local keep = {}
  for _, e in ipairs(keep_list or {}) do keep[key(e)] = true end
  local me = org.me
  local function is_caller(m) return m.user_id == me.id or key(m.email) == key(me.email) end
  local missing = {}
  for _, m in ipairs(org.all) do
    if m.active and not listed[key(m.email)] and not keep[key(m.email)] and not is_caller(m) then
      missing[#missing + 1] = m
    end
  end
  table.sort(missing, function(a, b) return key(a.email) < key(b.email) end)
  return missing
end

--- The plan. `opts`: `deactivate_missing` (bool), `keep` (list of emails never
-- deactivated), `max_deactivate` (default 10% of the organization, at least
-- 1), `only = "deactivate"` (rows name members to deactivate).
-- @return `{items = {{line=, email=, action=, role_id=, previous_role_id=,
--   role=, previous_role= (their names), membership_id=, reason=}...}
--   (`action` also `duplicate`: a line repeating an earlier one, not done
--   twice), counts = {[action] = n}, organization_id=,
--   organization_size=, max_deactivate=, over_limit= (a sentence, when the
--   plan deactivates more than max_deactivate)}`, nil, meta ; or nil, err
function M.plan(client, rows, opts)
  opts = check_opts(opts)
  local org, err = read_organization(client, opts)
  if not org then return nil, err end
  local active = 0
  for _, m in ipairs(org.all) do
    if m.active then active = active + 1 end
  end
  local bad, dups = M.check_rows(rows)
  local items, counts, listed = {}, {}, {}
  local state = guard_state(org.me, org.all)
  local function add(item)
    items[#items + 1] = guarded(state, item)
    counts[item.action] = (counts[item.action] or 0) + 1
    -- the names people know the roles by, beside the ids (none where the
    -- name is unknown: a deactivate plan reads no roles)
    item.role, item.previous_role = name_of(item.role_id, org.roles), name_of(item.previous_role_id, org.roles)
  end
  for _, row in ipairs(rows) do
    listed[key(row.email)] = true
    add(row_item(row, row.email and org.by_email[key(row.email)], bad[row], opts, org.roles, dups[row]))
  end
  if opts.deactivate_missing then
    for _, m in ipairs(missing_members(org, listed, opts.keep)) do
      add({ email = m.email, action = "deactivate", membership_id = m.id, previous_role_id = m.role_id })
    end
  end
  local max, why = deactivate_limit(opts, active)
  local plan = { items = items, counts = counts, organization_id = org.me.organization_id, organization_size = active,
    max_deactivate = max }
  if (counts.deactivate or 0) > max then
    plan.over_limit = ("the plan deactivates %d member%s, more than max_deactivate %d%s"):format(counts.deactivate,
      counts.deactivate == 1 and "" or "s", max, why)
  end
  return plan, nil, { organization_size = active }
end

M.ACTIONS = { create = true, reactivate = true, change_role = true, deactivate = true }

-- one item of a plan, carried out
local function apply_item(client, item)
  local a = item.action
  if a == "create" or a == "reactivate" then
    -- the plan has read the organization already: no find first
    return memberships.create_with_role(client, item.email, item.role_id)
  elseif a == "change_role" then
    return client:update_membership(item.membership_id, { role_id = item.role_id })
  elseif a == "deactivate" then
    return client:deactivate_membership(item.membership_id)
  end
end

--- Carries a plan out: the items whose action writes, through
-- `client:batch` (`opts.concurrency`, `opts.on_result(item, result, err,
-- meta)`, `opts.stop`).
-- @return outcomes (one per item that writes, `{item=, ok=, result=, err=}`),
--   nil, batch meta ; or nil and a validation error for a plan over its
--   limit (nothing written)
function M.apply(client, plan, opts)
  opts = opts or {}
  if plan.over_limit then
    return nil, Error.validation({ max_deactivate = plan.over_limit .. ": raise max_deactivate to allow it" })
  end
  local todo = {}
  for _, item in ipairs(plan.items) do
    if M.ACTIONS[item.action] then todo[#todo + 1] = item end
  end
  local outcomes, _, meta = client:batch(todo, apply_item, {
    concurrency = opts.concurrency, stop = opts.stop,
    on_result = opts.on_result and function(_, item, result, err, m) opts.on_result(item, result, err, m) end,
  })
  local out = {}
  for i, o in ipairs(outcomes) do
    out[i] = { item = todo[i], ok = o.ok, result = o.result, err = o.err, meta = o.meta }
  end
  return out, nil, meta
end

return M
