--- close-provision's output: a line per item and a summary, as text (on a
-- terminal, item lines above a progress line) or one JSON object a line.
--
-- An item's status: `planned` (a write the plan makes), `unchanged` (no
-- write needed: the organization already is so), `done`, `failed`,
-- `invalid`, `not_started`, `duplicate` (a line repeating an earlier one: a
-- warning, done once). The counts add up to the items. Text shows roles by
-- name; JSON gives the name beside the id (`role`, `role_id`).
-- @module close.cli.output

local cjson = require "cjson.safe"

local M = {}

local PAST = { create = "created", reactivate = "reactivated", change_role = "role changed",
  deactivate = "deactivated" }

local function text(v) return v == nil and "?" or tostring(v) end

-- the text of a planned item: "change role (User -> Super User)", "create (User)"
local function planned_text(item)
  local what = item.action:gsub("_", " ")
  local role, previous = item.role or item.role_id, item.previous_role or item.previous_role_id
  if item.action == "change_role" then
    what = ("change role (%s -> %s)"):format(text(previous), text(role))
  elseif role and item.action ~= "deactivate" then what = what .. " (" .. role .. ")" end
  if item.reason then what = what .. ": " .. item.reason end
  return what
end

-- what a text line says of an item in a status
local function status_text(item, status, result)
  if status == "invalid" then return "INVALID " .. text(item.reason) end
  if status == "failed" then return "FAILED " .. text(result.err) end
  if status == "unchanged" then return item.reason or "unchanged" end
  if status == "duplicate" then return "warning: " .. text(item.reason) .. ", ignored" end
  if status == "planned" then return planned_text(item) end
  local what = (PAST[item.action] or item.action) .. (result.id and (" " .. result.id) or "")
  if result.attempts and result.attempts > 1 then what = what .. (" (%d attempts)"):format(result.attempts) end
  return what
end

local function json_item(item, status, result)
  local err = result.err
  return cjson.encode({ line = item.line, email = item.email, action = item.action, status = status,
    membership_id = result.id or item.membership_id, role_id = item.role_id, role = item.role,
    previous_role_id = item.previous_role_id, previous_role = item.previous_role, reason = item.reason,
    error = err and { kind = err.kind, message = err.message, status = err.status } or nil })
end

-- Whether an item's text line is left out: what went well under --quiet,
-- what needs nothing without --verbose (but "not a member", which says the
-- file names a stranger). Not-started items are a count in the summary.
local function hidden(opts, item, status)
  if status == "not_started" then return true end
  if opts.quiet then return status ~= "failed" and status ~= "invalid" end
  return status == "unchanged" and not opts.verbose and not item.reason
end

-- "12 items: 3 done, 8 unchanged, 1 not a member": by status, what needed
-- nothing by its reason
local function summary_text(o, fields)
  local kinds, parts = {}, {}
  for k in pairs(o.tally) do kinds[#kinds + 1] = k end
  table.sort(kinds)
  for i, k in ipairs(kinds) do parts[i] = o.tally[k] .. " " .. k:gsub("_", " ") end
  return ("%d item%s: %s"):format(fields.items, fields.items == 1 and "" or "s",
    #parts > 0 and table.concat(parts, ", ") or "nothing to do")
end

--- The output of a run: `o.item(item, status, result)` (result: what a
-- write gave, `{id=, attempts=}` or `{err=}`), `o.note(text)`,
-- `o.summary(fields)`; `o.progress` true while a progress line is shown on
-- stderr (an item line clears it first; the applier draws it again).
function M.new(env, opts)
  local out = env.out or function(s) io.stdout:write(s, "\n") io.stdout:flush() end
  local o = { counts = {}, tally = {} }
  function o.item(item, status, result)
    result = result or {}
    o.counts[status] = (o.counts[status] or 0) + 1
    local t = status == "unchanged" and item.reason or status
    o.tally[t] = (o.tally[t] or 0) + 1
    if opts.json then
      if status ~= "not_started" then out(json_item(item, status, result)) end
      return
    end
    if hidden(opts, item, status) then return end
    if o.progress then io.stderr:write("\r\27[K") end
    local where = item.line and ("line " .. item.line) or "member"
    out(("%s: %s%s"):format(where, item.email and (item.email .. ": ") or "", status_text(item, status, result)))
  end
  function o.note(s) if not opts.json then out(s) end end
  --- `fields`: items, command, applied, and when they apply stopped (a
  -- word), message (its prose), failed_file, over_limit, max_deactivate,
  -- journal, organization_id.
  function o.summary(fields)
    if opts.json then
      local doc = { summary = true, counts = o.counts }
      for k, v in pairs(fields) do doc[k] = v end
      return out(cjson.encode(doc))
    end
    out(summary_text(o, fields))
    if fields.message then out(fields.message) end
    -- from stdin no FILE tells where they are: say it
    if fields.journal and opts.file == "-" then out("the journal is " .. fields.journal) end
    if fields.failed_file then
      local n = (o.counts.failed or 0) + (o.counts.invalid or 0) + (o.counts.not_started or 0)
      out(("%d %s to do again (failed, invalid or not started) %s in %s"):format(n, n == 1 and "line" or "lines",
        n == 1 and "is" or "are", fields.failed_file))
    end
  end
  return o
end

return M
