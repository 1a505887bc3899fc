--- `close-provision export`: the active members as CSV.
-- @module close.cli.export

local credentials = require "close.cli.credentials"
local rows_mod = require "close.rows"
local address_key = require("close.validate").address_key

local M = {}

--- Runs the export; returns the exit status.
function M.run(env, opts, errout)
  local client, cerr = credentials.make(env, opts)
  if not client then
    errout("close-provision: " .. tostring(cerr))
    return 2
  end
  local all, err = client:memberships()
  if not all then
    errout("close-provision: " .. tostring(err))
    return 1
  end
  local list = {}
  for _, m in ipairs(all) do list[#list + 1] = { email = m.email, role_id = m.role_id } end
  table.sort(list, function(a, b) return address_key(a.email) < address_key(b.email) end)
  local text = rows_mod.to_csv(list)
  if not opts.file or opts.file == "-" then
    (env.write or function(s) io.stdout:write(s) end)(text)
    return 0
  end
  local f, ferr = io.open(opts.file, "w")
  if not f then
    errout("close-provision: cannot write " .. opts.file .. ": " .. tostring(ferr))
    return 2
  end
  f:write(text)
  f:close()
  return 0
end

return M
