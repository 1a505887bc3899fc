--- The journal of a run: a record of what was done, never a reason to skip
-- (what to do is decided from the organization's state, read when
-- planning). One tab-separated line per write, appended as it finishes:
--
--     organization_id  time (UTC, ISO 8601)  email  action  role_id  membership_id  outcome
--
-- `outcome` is `done`, or `failed:KIND` (the error's kind). The file is
-- created at its first record: a run that writes nothing leaves none.
-- @module close.cli.journal

local M = {}

local function field(v) return (tostring(v == nil and "" or v):gsub("[\t\r\n]", " ")) end

-- Whether the directory a new journal goes in exists (opening it reads
-- nothing): a missing one is said before any write.
local function directory_of(path)
  local dir = path:match("^(.*)/[^/]*$")
  if dir == "" then dir = "/" end
  dir = dir or "."
  local f, err = io.open(dir, "r")
  if not f then return nil, err end
  f:close()
  return true
end

--- Opens the journal for appending: an object with `record(item, outcome,
-- id)` (true, or nil and why the file cannot be written) and `close()`, or
-- nil and the reason. An existing journal is opened now; a new one at the
-- first record.
function M.open(path, organization_id)
  local f = io.open(path, "r")
  if f then
    f:close()
    local err
    f, err = io.open(path, "a")
    if not f then return nil, err end
  else
    local ok, err = directory_of(path)
    if not ok then return nil, err end
  end
  local j = {}
  function j.record(item, outcome, id)
    if not f then
      local err
      f, err = io.open(path, "a")
      if not f then return nil, err end
    end
    f:write(table.concat({ field(organization_id), os.date("!%Y-%m-%dT%H:%M:%SZ"), field(item.email),
      field(item.action), field(item.role_id), field(id or item.membership_id), field(outcome) }, "\t"), "\n")
    f:flush()
    return true
  end
  function j.close() if f then f:close() end end
  return j
end

return M
