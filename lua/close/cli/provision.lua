--- The commands that plan from a file (provisioning, `sync`, `deactivate`):
-- read the file, read the organization into a plan, print it, and apply it
-- (provisioning; the others with --apply). The organization's state, read
-- when planning, decides what is done; the journal records it. What
-- failed, was invalid or never started goes to `FILE.failed`.
-- @module close.cli.provision

local core = require "close.core"
local rows_mod = require "close.rows"
local sync = require "close.sync"
local apply_mod = require "close.cli.apply"
local credentials = require "close.cli.credentials"
local journal_mod = require "close.cli.journal"
local output = require "close.cli.output"

local M = {}

-- exit statuses
local OK, ITEMS, CONFIG = 0, 1, 2
-- the status of a plan's item that is no write
local STATUS_OF = { invalid = "invalid", unchanged = "unchanged", duplicate = "duplicate" }
-- errors of the setup, not of the items: the key, the token, the TLS setup
local CONFIG_KINDS = { auth = true, tls = true, validation = true, journal = true }

local function read_keep(path)
  local list, err = rows_mod.read(path)
  if not list then return nil, err end
  local emails = {}
  for _, r in ipairs(list) do if r.email then emails[#emails + 1] = r.email end end
  return emails
end

-- Writes the lines of what is left to do (failed, invalid, not started):
-- the path written, or nil when there was nothing to write.
local function write_failed(path, lines, header)
  if not path then return nil end
  if #lines == 0 then
    os.remove(path) -- a list from an earlier run would mislead
    return nil
  end
  local f = io.open(path, "w")
  if not f then return nil end
  -- the file's header row, so that its columns read back the same way
  if header then f:write(header, "\n") end
  for _, line in ipairs(lines) do f:write(line, "\n") end
  f:close()
  return path
end

-- The file, and the --keep list: `{rows=, info=, keep=}`, or nil and why.
local function read_inputs(opts)
  local rows, info = rows_mod.read(opts.file)
  if not rows then return nil, "cannot read " .. opts.file .. ": " .. tostring(info) end
  local keep
  if opts.keep then
    local kerr
    keep, kerr = read_keep(opts.keep)
    if not keep then return nil, "cannot read " .. opts.keep .. ": " .. tostring(kerr) end
  end
  return { rows = rows, info = info, keep = keep }
end

-- A file without one valid address (empty, a header alone, unreadable
-- lines or invalid addresses only).
local function lists_nobody(rows)
  for _, row in ipairs(rows) do
    if row.email and core.validate_email(row.email) then return false end
  end
  return true
end

-- the items reported so far
local function reported(o)
  local n = 0
  for _, c in pairs(o.counts) do n = n + c end
  return n
end

-- A run that cannot go on: the line on stderr, with --json a summary on
-- stdout as well (`stopped` the reason's word, `message` its prose, and
-- the `fields` given).
local function fatal(run, reason, message, code, fields)
  run.errout("close-provision: " .. message)
  if run.opts.json then
    local s = { items = reported(run.o), command = run.opts.command, applied = false, stopped = reason,
      message = message }
    for k, v in pairs(fields or {}) do s[k] = v end
    run.o.summary(s)
  end
  return code
end

-- A dry run without any credential: what can be checked without Close.
local function file_alone(o, opts, rows)
  o.note("no credentials: checking the file alone (role names and existing members are not checked)")
  local bad, dups = sync.check_rows(rows)
  for _, row in ipairs(rows) do
    local item = { line = row.line, email = row.email, role_id = row.role_id, action = "create",
      reason = bad[row] or dups[row] }
    if bad[row] then item.action = "invalid" elseif dups[row] then item.action = "duplicate" end
    o.item(item, STATUS_OF[item.action] or "planned")
  end
  o.summary({ items = #rows, command = opts.command, applied = false })
  return (o.counts.invalid or 0) > 0 and ITEMS or OK
end

-- The actions a command writes.
local function writes_of(opts)
  if opts.command == "provision" then
    return { create = true, reactivate = true, change_role = opts.ensure or nil }
  end
  return { create = true, reactivate = true, change_role = true, deactivate = true }
end

-- Marks the plan's lines that will not be done: invalid ones, and a role
-- change provisioning does not make. Returns the lines for .failed.
local function mark_invalid(plan, writes)
  local left = {}
  for _, item in ipairs(plan.items) do
    if item.action == "change_role" and not writes.change_role then
      -- creating leaves an existing member's role alone: say so, not "provisioned"
      item.action, item.reason = "invalid", ("already a member with role %s, not %s: --ensure (or sync) "
        .. "changes it"):format(item.previous_role or item.previous_role_id, item.role or item.role_id)
    end
    if item.action == "invalid" then left[#left + 1] = item.text or item.email end
  end
  return left
end

-- "over the limit: ..." naming the members (the first ten) and the flag
local function over_limit_text(plan)
  local names = {}
  for _, item in ipairs(plan.items) do
    if item.action == "deactivate" then names[#names + 1] = item.email end
  end
  local n = #names
  for i = 11, n do names[i] = nil end
  local more = n > 10 and (" and %d more"):format(n - 10) or ""
  local why = plan.over_limit:gsub("max_deactivate", "--max-deactivate")
  return ("over the limit: %s (%s%s); --apply is refused: give --max-deactivate %d to allow it"):format(why,
    table.concat(names, ", "), more, n)
end

local function plan_status(item) return STATUS_OF[item.action] or "planned" end

-- Prints the plan: every item, then over the limit when it is.
local function show_plan(run, plan)
  local o = run.o
  for _, item in ipairs(plan.items) do o.item(item, plan_status(item)) end
  local over = plan.over_limit and over_limit_text(plan)
  local fields = { over_limit = plan.over_limit and true, max_deactivate = plan.max_deactivate,
    organization_id = plan.organization_id }
  if over and run.opts.apply then
    return fatal(run, "over_limit", over, CONFIG, fields)
  end
  if over then o.note(over) end
  fields.items, fields.command, fields.applied = #plan.items, run.opts.command, false
  o.summary(fields)
  return (#run.left > 0 or over) and ITEMS or OK
end

-- the exit status of an applied run
local function exit_status(stopped, left)
  if stopped and stopped.signal then return apply_mod.signal_exit(stopped.signal) end
  if stopped and CONFIG_KINDS[stopped.reason] then return CONFIG end
  return (#left > 0 or stopped) and ITEMS or OK
end

-- Applies the plan's writes, journaled; returns the exit status.
local function apply(run, plan, writes)
  local opts, o = run.opts, run.o
  if opts.journal then
    local jerr
    run.journal, jerr = journal_mod.open(opts.journal, plan.organization_id)
    if not run.journal then
      return fatal(run, "configuration", "cannot write the journal " .. opts.journal .. ": " .. tostring(jerr), CONFIG)
    end
  end
  local to_write = {}
  for _, item in ipairs(plan.items) do
    if writes[item.action] then to_write[#to_write + 1] = item
    else o.item(item, STATUS_OF[item.action] or "unchanged") end
  end
  local stopped = apply_mod.run(run, to_write)
  if run.journal then run.journal.close() end
  local failed_file = write_failed(opts.failed, run.left, run.info.header and run.info.header_text)
  o.summary({ items = #plan.items, command = opts.command, applied = true, stopped = stopped and stopped.reason,
    message = stopped and stopped.message, failed_file = failed_file, journal = opts.journal,
    organization_id = plan.organization_id })
  return exit_status(stopped, run.left)
end

-- Reads the organization into a plan: the plan, or the exit status.
local function make_plan(run, client, input)
  local opts = run.opts
  local plan, perr = client:plan_sync(input.rows, {
    only = opts.command == "deactivate" and "deactivate" or nil,
    deactivate_missing = opts["deactivate-missing"] or nil, keep = input.keep,
    max_deactivate = opts["max-deactivate"],
  })
  local sig = core.caught_signal()
  if sig then
    local stop = apply_mod.interrupted(sig, "while reading the organization; nothing was written")
    for _, row in ipairs(input.rows) do run.o.item({ line = row.line, email = row.email }, "not_started") end
    run.o.summary({ items = #input.rows, command = opts.command, applied = false, stopped = stop.reason,
      message = stop.message })
    return nil, apply_mod.signal_exit(sig)
  end
  if not plan then
    return nil, fatal(run, perr.kind, tostring(perr), CONFIG_KINDS[perr.kind] and CONFIG or ITEMS)
  end
  return plan
end

--- Runs provisioning, `sync` or `deactivate` with parsed options; returns
-- the exit status.
function M.run(env, opts, errout)
  -- from here on an interrupt ends with a summary, not a traceback
  if not env.no_signals then core.catch_signals() end
  local run = { env = env, opts = opts, errout = errout, o = output.new(env, opts), left = {} }
  local input, why = read_inputs(opts)
  if not input then return fatal(run, "configuration", why, CONFIG) end
  run.info = input.info
  if opts["deactivate-missing"] and lists_nobody(input.rows) then
    -- every active member but the caller would be missing from it
    return fatal(run, "configuration", opts.file .. " lists nobody: with --deactivate-missing every active member "
      .. "would be deactivated; refused", CONFIG)
  end
  local client, cerr, absent = credentials.make(env, opts)
  if not client then
    if opts["dry-run"] and absent then return file_alone(run.o, opts, input.rows) end
    return fatal(run, "configuration", cerr, CONFIG)
  end
  run.client = client
  local plan, code = make_plan(run, client, input)
  if not plan then return code end
  local writes = writes_of(opts)
  run.left = mark_invalid(plan, writes)
  if not ((opts.command == "provision" and not opts["dry-run"]) or opts.apply) or plan.over_limit then
    return show_plan(run, plan)
  end
  return apply(run, plan, writes)
end

return M
