-- Provisions the memberships listed in a file, one "email,role" a line.
--
--   CLOSE_API_KEY=... lua5.4 examples/create_membership.lua members.csv
--
-- Uses the module-level close.create_membership, whose default client comes
-- from CLOSE_API_KEY (or CLOSE_ACCESS_TOKEN) and CLOSE_BASE_URL. Prints one
-- line per membership and a summary; exits 1 when any line failed, and lists
-- the failed lines so they can be fixed and run again (create is idempotent).
local close = require "close"

local path = ... or "examples/members.csv"
-- the file format of bin/close-provision: "email,role" with '#' comments
local rows = assert(require("close.rows").read(path))

local ok, failed = 0, {}
for i, row in ipairs(rows) do
  local m, err, meta
  if row.error then -- a line the reader could not make a row of
    err = "line " .. row.line .. ": " .. row.error
  else
    m, err, meta = close.create_membership{ email = row.email, role_id = row.role_id, role = row.role }
  end
  if m then
    ok = ok + 1
    print(("[%d/%d] %-28s %-16s -> %s (%d attempt%s)"):format(i, #rows, row.email, row.role_id or row.role,
      m.id, meta.attempts, meta.attempts == 1 and "" or "s"))
  else
    failed[#failed + 1] = row.text
    print(("[%d/%d] %-28s %-16s FAILED %s"):format(i, #rows, tostring(row.email or ""),
      tostring(row.role_id or row.role or ""), tostring(err)))
  end
end
print(("%d of %d provisioned, %d failed"):format(ok, #rows, #failed))
if #failed > 0 then
  print("failed lines:")
  for _, line in ipairs(failed) do print("  " .. line) end
end
-- run as a script: the exit status tells; run by another script (the demo): return
if arg and arg[0] and arg[0]:match("create_membership%.lua$") then
  os.exit(#failed == 0 and 0 or 1)
end
return ok, failed
