--- close-provision: provisions many memberships from a file, for people
-- onboarding a team at once (bin/close-provision is the launcher).
--
-- Each line of the file is `email,role` where role is a role id (`user`,
-- `role_...`) or a role name ("Account Manager"). Every finished line is
-- appended at once to a journal, so a run that stops halfway (an outage, a
-- Ctrl-C, a dead laptop) loses nothing: running it again skips what the
-- journal holds and carries on. Lines that failed are written to a
-- `.failed` file, ready to be fixed and fed back.
-- @module close.cli

local close = require "close"
local core = require "close.core"
local validate = require "close.validate"

local M = {}

local USAGE = [[
usage: close-provision [--ensure] [--dry-run] [--journal FILE] FILE

Provisions the memberships listed in FILE, one "email,role" a line ('#'
starts a comment; role is a role id such as user or role_..., or a role name).

  --ensure        make each membership match: create, reactivate or change
                  the role as needed (default: create, which never changes
                  an existing member's role)
  --dry-run       check every line and send nothing
  --journal FILE  where finished lines are recorded (default: FILE.journal);
                  lines already in it are skipped, so an interrupted run
                  can simply be started again

Credentials come from CLOSE_API_KEY or CLOSE_ACCESS_TOKEN; CLOSE_BASE_URL
and CLOSE_CA_FILE are optional. Exit status: 0 all done, 1 some lines
failed or the run stopped, 2 bad usage or configuration.]]

-- Kinds after which every further line would fail the same way.
local FATAL = { auth = true, permission = true, tls = true }

local function parse_args(argv)
  local opts = {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--ensure" then opts.ensure = true
    elseif a == "--dry-run" then opts.dry_run = true
    elseif a == "--journal" then
      i = i + 1
      opts.journal = argv[i]
      if not opts.journal then return nil, "--journal needs a file name" end
    elseif a == "-h" or a == "--help" then opts.help = true
    elseif a:sub(1, 1) == "-" then return nil, "unknown option " .. a
    elseif opts.file then return nil, "one FILE only"
    else opts.file = a end
    i = i + 1
  end
  if not opts.file and not opts.help then return nil, "FILE is missing" end
  opts.journal = opts.journal or (opts.file and opts.file .. ".journal")
  return opts
end

--- Reads the rows of a membership file.
-- Returns `{ {line=n, text=, email=, role_id= | role=}, ... }`.
function M.read_rows(path)
  local f, err = io.open(path, "r")
  if not f then return nil, err end
  local rows, n = {}, 0
  for line in f:lines() do
    n = n + 1
    local text = line:gsub("\r$", ""):gsub("#.*", ""):gsub("^%s+", ""):gsub("%s+$", "")
    if text ~= "" then
      local email, role = text:match("^([^,]*),(.*)$")
      email = (email or text):gsub("%s+$", "")
      role = (role or ""):gsub("^%s+", "")
      local row = { line = n, text = text, email = email }
      -- a role that reads as an id is one; anything else is a role name
      if role == "" or core.validate_role(role) or role:lower():match("^role_") then
        row.role_id = role
      else
        row.role = role
      end
      rows[#rows + 1] = row
    end
  end
  f:close()
  return rows
end

-- The journal: one line a finished row, "email<TAB>outcome<TAB>id".
local function read_journal(path)
  local done = {}
  local f = io.open(path, "r")
  if not f then return done end
  for line in f:lines() do
    local email = line:match("^([^\t]+)\t")
    if email then done[email] = true end
  end
  f:close()
  return done
end

--- Runs the tool. `env` is `{argv=, out=, err=, client=}` (out/err: functions
-- taking a line; client: a client to use instead of close.default()).
-- Returns the exit status.
function M.run(env)
  local out, errout = env.out or print, env.err or function(s) io.stderr:write(s, "\n") end
  local opts, why = parse_args(env.argv or {})
  if not opts then
    errout("close-provision: " .. why)
    errout(USAGE)
    return 2
  end
  if opts.help then
    out(USAGE)
    return 0
  end
  local rows, rerr = M.read_rows(opts.file)
  if not rows then
    errout("close-provision: cannot read " .. opts.file .. ": " .. tostring(rerr))
    return 2
  end
  local client = env.client
  if not client and not opts.dry_run then
    local cerr
    client, cerr = close.default()
    if not client then
      errout("close-provision: " .. tostring(cerr))
      return 2
    end
  end

  local done = read_journal(opts.journal)
  local journal
  if not opts.dry_run then
    local jerr
    journal, jerr = io.open(opts.journal, "a")
    if not journal then
      errout("close-provision: cannot write the journal " .. opts.journal .. ": " .. tostring(jerr))
      return 2
    end
  end

  local counts, failed, stopped = {}, {}, nil
  local function count(k) counts[k] = (counts[k] or 0) + 1 end
  local width = #tostring(#rows)
  for i, row in ipairs(rows) do
    local prefix = ("[%" .. width .. "d/%d] %s"):format(i, #rows, row.email)
    local args = { email = row.email, role_id = row.role_id, role = row.role }
    if done[row.email] then
      count("skipped")
      out(prefix .. ": already done (journal)")
    elseif opts.dry_run then
      -- no client: validate the fields alone (a role name is resolved only when sent)
      local errs = validate.membership(args, validate.CREATE, { "email" }, true)
      if errs then
        count("invalid")
        failed[#failed + 1] = row
        local parts = {}
        for k, v in pairs(errs) do parts[#parts + 1] = k .. ": " .. v end
        table.sort(parts)
        out(prefix .. ": INVALID " .. table.concat(parts, "; "))
      else
        count("valid")
        out(prefix .. ": ok")
      end
    else
      local m, err, extra
      if opts.ensure then
        m, err, extra = client:ensure_membership(args)
      else
        m, err, extra = client:create_membership(args)
      end
      if m then
        local outcome = opts.ensure and extra or "provisioned"
        count(outcome)
        journal:write(row.email, "\t", outcome, "\t", tostring(m.id), "\n")
        journal:flush() -- each finished line is on disk before the next starts
        local attempts = not opts.ensure and extra and extra.attempts or 1
        out(("%s: %s %s%s"):format(prefix, outcome, tostring(m.id),
          attempts > 1 and (" (" .. attempts .. " attempts)") or ""))
      else
        count("failed")
        failed[#failed + 1] = row
        out(("%s: FAILED %s"):format(prefix, tostring(err)))
        if FATAL[err.kind] then
          stopped = ("stopped: %s errors would fail every remaining line"):format(err.kind)
          break
        end
      end
    end
  end
  if journal then journal:close() end

  local summary = {}
  for k, n in pairs(counts) do summary[#summary + 1] = n .. " " .. k end
  table.sort(summary)
  out(("%d lines: %s"):format(#rows, #summary > 0 and table.concat(summary, ", ") or "nothing to do"))
  if stopped then out(stopped .. "; run again to continue where it stopped") end
  if not opts.dry_run then
    local path = opts.file .. ".failed"
    if #failed == 0 then
      os.remove(path) -- a list from an earlier run would mislead
    else
      local f = io.open(path, "w")
      if f then
        for _, row in ipairs(failed) do f:write(row.text, "\n") end
        f:close()
        out(("failed lines written to %s"):format(path))
      end
    end
  end
  return (#failed > 0 or stopped) and 1 or 0
end

return M
