--- close-provision's output: a line per item and a summary, as text (on a
-- terminal, with a progress line under them) or one JSON object a line.
-- @module close.cli.output

local cjson = require "cjson.safe"

local M = {}

local PAST = { create = "created", reactivate = "reactivated", change_role = "role changed",
  deactivate = "deactivated" }

-- the text of a planned item: "change role (user -> superuser)", "create (user)"
local function planned_text(item)
  local what = item.action:gsub("_", " ")
  if item.action == "change_role" then what = ("change role (%s -> %s)"):format(item.previous_role_id, item.role_id)
  elseif item.role_id and item.action ~= "deactivate" then what = what .. " (" .. item.role_id .. ")" end
  if item.reason then what = what .. ": " .. item.reason end
  return what
end

-- what a text line says of an item in a status
local function status_text(item, status, extra)
  if status == "invalid" then return "INVALID " .. tostring(item.reason) end
  if status == "failed" then return "FAILED " .. tostring(extra.err) end
  if status == "not_started" then return "not started" end
  if status == "skipped" then return "already done (journal)" end
  if status == "planned" then return planned_text(item) end
  local what = (PAST[item.action] or item.action) .. (extra.id and (" " .. extra.id) or "")
  if extra.attempts and extra.attempts > 1 then what = what .. (" (%d attempts)"):format(extra.attempts) end
  return what
end

local function json_item(item, status, extra)
  local err = extra.err
  return cjson.encode({ line = item.line, email = item.email, action = item.action, status = status,
    membership_id = extra.id or item.membership_id, role_id = item.role_id,
    previous_role_id = item.previous_role_id, reason = item.reason,
    error = err and { kind = err.kind, message = err.message, status = err.status } or nil })
end

-- whether a text line is left out: what went well under --quiet or a
-- progress line (which tells what is done), what did nothing without --verbose
local function hidden(o, opts, item, status)
  local quiet_ok = status ~= "failed" and status ~= "invalid" and status ~= "not_started"
  if (opts.quiet or o.progress) and quiet_ok then return true end
  return not opts.verbose and (status == "skipped" or ((status == "planned" or status == "done")
    and item.action == "unchanged"))
end

local function summary_text(o, fields)
  local kinds, parts = {}, {}
  for k in pairs(o.counts) do kinds[#kinds + 1] = k end
  table.sort(kinds)
  for i, k in ipairs(kinds) do parts[i] = o.counts[k] .. " " .. k:gsub("_", " ") end
  return ("%d items: %s"):format(fields.items, #parts > 0 and table.concat(parts, ", ") or "nothing to do")
end

--- The output of a run: `o.item(item, status, extra)`, `o.note(text)`,
-- `o.summary(fields)`; `o.progress` true while a progress line is shown.
function M.new(env, opts)
  local out = env.out or function(s) io.stdout:write(s, "\n") end
  local o = { counts = {} }
  function o.item(item, status, extra)
    extra = extra or {}
    o.counts[status] = (o.counts[status] or 0) + 1
    if opts.json then return out(json_item(item, status, extra)) end
    if hidden(o, opts, item, status) then return end
    if o.progress then io.stderr:write("\r\27[K") end
    local where = item.line and ("line " .. item.line) or "member"
    out(("%s: %s: %s"):format(where, tostring(item.email), status_text(item, status, extra)))
  end
  function o.note(s) if not opts.json then out(s) end end
  function o.summary(fields)
    if opts.json then
      local doc = { summary = true, counts = o.counts }
      for k, v in pairs(fields) do doc[k] = v end
      return out(cjson.encode(doc))
    end
    out(summary_text(o, fields))
    if fields.stopped then out(fields.stopped) end
    if fields.failed_file then out("failed and unfinished lines written to " .. fields.failed_file) end
  end
  return o
end

return M
