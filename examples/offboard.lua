-- Offboarding: deactivates the memberships of the given emails.
--
--   CLOSE_API_KEY=... lua5.4 examples/offboard.lua leaver@acme.com other@acme.com
--
-- Emails without an active membership are reported and skipped, so the
-- script can be run again safely.
local close = require "close"

local client, cerr = close.default()
if not client then error(tostring(cerr), 0) end
local failed = 0
for _, email in ipairs(arg) do
  local m, err = client:find_membership{ email = email }
  if err then
    failed = failed + 1
    print(("%-30s FAILED %s"):format(email, tostring(err)))
  elseif not m or not m.active then
    print(("%-30s no active membership, skipped"):format(email))
  else
    local _, derr = client:deactivate_membership(m.id)
    if derr then
      failed = failed + 1
      print(("%-30s FAILED %s"):format(email, tostring(derr)))
    else
      print(("%-30s deactivated %s"):format(email, m.id))
    end
  end
end
os.exit(failed == 0 and 0 or 1)
