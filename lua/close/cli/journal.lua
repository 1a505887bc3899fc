--- The journal of a run: a record of what was done, never a reason to skip
-- (what to do is decided from the organization's state, read when
-- planning). One tab-separated line per write, appended as it finishes:
--
--     organization_id  time (UTC, ISO 8601)  email  action  role_id  membership_id  outcome
--
-- `outcome` is `done`, or `failed:KIND` (the error's kind).
-- @module close.cli.journal

local M = {}

local function field(v) return (tostring(v == nil and "" or v):gsub("[\t\r\n]", " ")) end

--- Opens the journal for appending: an object with `record(item, outcome,
-- id)` and `close()`, or nil and the reason.
function M.open(path, organization_id)
  local f, err = io.open(path, "a")
  if not f then return nil, err end
  local j = {}
  function j.record(item, outcome, id)
    f:write(table.concat({ field(organization_id), os.date("!%Y-%m-%dT%H:%M:%SZ"), field(item.email),
      field(item.action), field(item.role_id), field(id or item.membership_id), field(outcome) }, "\t"), "\n")
    f:flush()
  end
  function j.close() f:close() end
  return j
end

return M
