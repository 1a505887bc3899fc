--- `close-provision export`: the active members as CSV, on stdout or into
-- `-o FILE` (never replacing a file without --force); roles by name, or by
-- id with --ids.
-- @module close.cli.export

local core = require "close.core"
local apply_mod = require "close.cli.apply"
local credentials = require "close.cli.credentials"
local rows_mod = require "close.rows"
local address_key = require("close.validate").address_key

local M = {}


-- Writes the CSV to `path`: an existing file only with --force. Returns
-- the exit status.
local function write_file(path, text, force, errout)
  if not force then
    local existing = io.open(path, "r")
    if existing then
      existing:close()
      errout("close-provision: " .. path .. " exists: export replaces it only with --force")
      return 2
    end
  end
  local f, ferr = io.open(path, "w")
  if not f then
    errout("close-provision: cannot write " .. path .. ": " .. tostring(ferr))
    return 2
  end
  f:write(text)
  f:close()
  return 0
end

--- Runs the export (to stdout, or `-o FILE`); returns the exit status.
function M.run(env, opts, errout)
  local client, cerr = credentials.make(env, opts)
  if not client then
    errout("close-provision: " .. tostring(cerr))
    return 2
  end
  if not env.no_signals then core.catch_signals() end -- Ctrl-C while reading: a line, not a traceback
  local all, err = client:memberships()
  local sig = core.caught_signal()
  if sig then
    errout(("close-provision: stopped: interrupted (%s) while reading the organization; nothing was written"):format(
      sig))
    return apply_mod.signal_exit(sig)
  end
  if not all then
    errout("close-provision: " .. tostring(err))
    return 1
  end
  -- roles by name (as people write them; --ids: by id), each reading back to the same role
  local roles
  if not opts.ids then
    roles, err = client:roles()
    if not roles then
      errout("close-provision: " .. tostring(err))
      return 1
    end
  end
  local list = {}
  for _, m in ipairs(all) do
    list[#list + 1] = { email = m.email, role = roles and rows_mod.role_field(m.role_id, roles) or m.role_id }
  end
  table.sort(list, function(a, b) return address_key(a.email) < address_key(b.email) end)
  local text = rows_mod.to_csv(list)
  if not opts.output then
    (env.write or function(s) io.stdout:write(s) end)(text)
    return 0
  end
  return write_file(opts.output, text, opts.force, errout)
end

return M
