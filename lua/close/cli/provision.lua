--- The commands that plan from a file (provisioning, `sync`, `deactivate`):
-- read the file, read the organization into a plan, print it, and apply it
-- (provisioning; the others with --apply). What failed, was invalid or never
-- started goes to `FILE.failed`.
-- @module close.cli.provision

local core = require "close.core"
local rows_mod = require "close.rows"
local sync = require "close.sync"
local apply_mod = require "close.cli.apply"
local credentials = require "close.cli.credentials"
local journal_mod = require "close.cli.journal"
local output = require "close.cli.output"

local M = {}

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

local function failed_path(opts) return opts.file ~= "-" and opts.file .. ".failed" or nil end

-- The file, and the --keep list: `rows, info, keep`, or nil and why.
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

-- A dry run without credentials: what can be checked without Close.
local function file_alone(o, opts, rows)
  o.note("no credentials: checking the file alone (role names and existing members are not checked)")
  local bad = sync.check_rows(rows)
  local invalid = 0
  for _, row in ipairs(rows) do
    local item = { line = row.line, email = row.email, role_id = row.role_id, action = "create",
      reason = bad[row] }
    if bad[row] then
      invalid = invalid + 1
      item.action = "invalid"
      o.item(item, "invalid")
    else
      o.item(item, "planned")
    end
  end
  o.summary({ items = #rows, command = opts.command, applied = false })
  return invalid > 0 and 1 or 0
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
        .. "changes it"):format(item.previous_role_id, item.role_id)
    end
    if item.action == "invalid" then left[#left + 1] = item.text or item.email end
  end
  return left
end

local function show_plan(o, opts, plan, left, info)
  for _, item in ipairs(plan.items) do o.item(item, item.action == "invalid" and "invalid" or "planned") end
  o.summary({ items = #plan.items, command = opts.command, applied = false })
  if #left > 0 and opts.command == "provision" then
    write_failed(failed_path(opts), left, info.header and info.header_text)
  end
  return #left > 0 and 1 or 0
end

-- Applies the plan's writes, journaled; returns the exit status.
local function apply(env, opts, o, client, plan, writes, left, info, errout)
  local journal
  if opts.journal then
    local jerr
    journal, jerr = journal_mod.open(opts.journal)
    if not journal then
      errout("close-provision: cannot write the journal " .. opts.journal .. ": " .. tostring(jerr))
      return 2
    end
  end
  local run = { env = env, opts = opts, client = client, o = o, journal = journal,
    done = journal_mod.read(opts.journal), left = left }
  local to_write = {}
  for _, item in ipairs(plan.items) do
    if item.action == "invalid" then o.item(item, "invalid")
    elseif writes[item.action] then to_write[#to_write + 1] = item
    else o.item(item, "done") end
  end
  if not env.no_signals then core.catch_signals() end
  local stopped = apply_mod.run(run, to_write)
  if journal then journal.close() end
  local failed_file = write_failed(failed_path(opts), left, info.header and info.header_text)
  o.summary({ items = #plan.items, command = opts.command, applied = true, stopped = stopped,
    failed_file = failed_file })
  return (#left > 0 or stopped) and 1 or 0
end

--- Runs provisioning, `sync` or `deactivate` with parsed options; returns
-- the exit status.
function M.run(env, opts, errout)
  local o = output.new(env, opts)
  local input, why = read_inputs(opts)
  if not input then
    errout("close-provision: " .. why)
    return 2
  end
  local client, cerr = credentials.make(env, opts)
  if not client then
    if not opts["dry-run"] then
      errout("close-provision: " .. tostring(cerr))
      return 2
    end
    return file_alone(o, opts, input.rows)
  end
  local plan, perr = client:plan_sync(input.rows, {
    only = opts.command == "deactivate" and "deactivate" or nil,
    deactivate_missing = opts["deactivate-missing"] or nil, keep = input.keep,
    max_deactivate = opts["max-deactivate"],
  })
  if not plan then
    errout("close-provision: " .. tostring(perr))
    return perr.kind == "validation" and 2 or 1
  end
  local writes = writes_of(opts)
  local left = mark_invalid(plan, writes)
  if not ((opts.command == "provision" and not opts["dry-run"]) or opts.apply) then
    return show_plan(o, opts, plan, left, input.info)
  end
  return apply(env, opts, o, client, plan, writes, left, input.info, errout)
end

return M
