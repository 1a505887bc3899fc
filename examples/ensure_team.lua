-- "Ensure this team": after a run, every listed person has an active
-- membership with the listed role (an id or a role name). Safe to repeat:
-- each line reports created, reactivated, role_changed or unchanged.
--
--   CLOSE_API_KEY=... lua5.4 examples/ensure_team.lua
local close = require "close"

local TEAM = {
  { email = "jane.doe@acme.com", role = "Account Manager" },
  { email = "joe.smith@acme.com", role_id = "user" },
  { email = "kim.lee@acme.com", role = "Sales Rep" },
}

local client, cerr = close.default()
if not client then error(tostring(cerr), 0) end
local counts, failed = {}, 0
for _, person in ipairs(TEAM) do
  local m, err, meta = client:ensure_membership(person)
  if m then
    counts[meta.action] = (counts[meta.action] or 0) + 1
    print(("%-24s %-13s %s"):format(person.email, meta.action, m.id))
  else
    failed = failed + 1
    print(("%-24s FAILED %s"):format(person.email, tostring(err)))
  end
end
local summary = {}
for action, n in pairs(counts) do summary[#summary + 1] = n .. " " .. action end
table.sort(summary)
print(table.concat(summary, ", ") .. (failed > 0 and (", " .. failed .. " failed") or ""))
os.exit(failed == 0 and 0 or 1)
