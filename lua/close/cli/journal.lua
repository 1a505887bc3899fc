--- The journal of a run: "email<TAB>action<TAB>role_id<TAB>membership_id" a
-- line, appended as each item finishes. An item is done when the journal
-- holds the same address, action and role.
-- @module close.cli.journal

local address_key = require("close.validate").address_key

local M = {}

local function key(email, action, role_id)
  return address_key(email) .. "\t" .. tostring(action) .. "\t" .. tostring(role_id or "")
end

--- The items a journal file holds: a set of keys (empty when there is no file).
function M.read(path)
  local done = {}
  local f = path and io.open(path, "r")
  if not f then return done end
  for line in f:lines() do
    local email, action, role = line:match("^([^\t]+)\t([^\t]*)\t([^\t]*)")
    if email then done[key(email, action, role)] = true end
  end
  f:close()
  return done
end

--- Whether `done` (from `read`) holds the item.
function M.holds(done, item)
  return done[key(item.email, item.action, item.role_id)] == true
end

--- Opens the journal for appending: an object with `record(item, id)` and
-- `close()`, or nil and the reason.
function M.open(path)
  local f, err = io.open(path, "a")
  if not f then return nil, err end
  local j = {}
  function j.record(item, id)
    f:write(item.email, "\t", item.action, "\t", tostring(item.role_id or ""), "\t", tostring(id), "\n")
    f:flush()
  end
  function j.close() f:close() end
  return j
end

return M
