--- Applying a plan for close-provision: through client:apply_plan
-- (concurrent, paced), each finished item journaled before it is reported,
-- a progress line on a terminal, and the rule that stops a run.
-- @module close.cli.apply

local core = require "close.core"

local M = {}

local is_fatal = require("close.batch").is_fatal
-- A run of these in a row means the key (403 on every call) or Close
-- (an outage) is the problem, not the items: the run stops.
local STREAK = { permission = 5, network = 5, timeout = 5, server = 5 }

--- The exit status of a run a signal stopped: 128 + its number, as shells say.
local SIGNAL_EXIT = { SIGINT = 130, SIGTERM = 143 }
function M.signal_exit(sig) return SIGNAL_EXIT[sig] or 1 end

--- Why a run stopped: `{reason=, message=}`, reason a word (`interrupted`,
-- `auth`, `tls`, `consecutive_failures`), message its prose; `signal`
-- (`SIGINT`, `SIGTERM`) when interrupted.
function M.interrupted(sig, what)
  return { reason = "interrupted", signal = sig, message = ("stopped: interrupted (%s); %s"):format(sig, what) }
end

-- The stop rule: `failed(err)` returns why the run stops now (or nil),
-- `succeeded()` ends a streak.
local function stop_rule()
  local streak, streak_kind = 0, nil
  local r = {}
  function r.succeeded() streak = 0 end
  function r.failed(err)
    if is_fatal(err) then
      return { reason = err.kind,
        message = ("stopped: %s errors would fail every remaining item (%s)"):format(err.kind, tostring(err)) }
    end
    if not STREAK[err.kind] then
      streak = 0
      return nil
    end
    if err.kind == streak_kind then streak = streak + 1 else streak, streak_kind = 1, err.kind end
    if streak >= STREAK[err.kind] then
      return { reason = "consecutive_failures", message = ("stopped: %d %s errors in a row (%s); Close or the key "
        .. "is the problem, not the items"):format(streak, err.kind, tostring(err.message)) }
    end
  end
  return r
end

-- The progress line on stderr: done/total, rate, ETA, 429s.
local function progress_line(client, total)
  local t0, finished = core.now(), 0
  local p = {}
  function p.draw()
    local rate = finished / math.max(core.now() - t0, 1e-3)
    local limited = 0
    for _, g in pairs(client:pacing()) do limited = limited + g.limited end
    local eta = rate > 0 and (total - finished) / rate or 0
    io.stderr:write(("\r%d/%d done, %.1f/s, ETA %ds, 429s: %d   "):format(finished, total, rate,
      math.ceil(eta), limited))
  end
  function p.finished() finished = finished + 1 end
  return p
end

local function wants_progress(env, opts)
  if env.progress ~= nil then return env.progress end
  return env.out == nil and not opts.json and not opts.quiet and core.isatty(1) and core.isatty(2)
end

-- Journals an outcome; when the journal cannot be written, the stop:
-- what is done must be on record, so no write goes on without it.
local function journal(run, item, outcome, id)
  if not run.journal then return nil end
  local ok, jerr = run.journal.record(item, outcome, id)
  if not ok then
    return { reason = "journal", message = "stopped: cannot write the journal (" .. tostring(jerr) .. ")" }
  end
end

-- One finished item: journaled before it is reported; a failed one is kept
-- for .failed. Returns the stop a journal that cannot be written makes.
local function record(run, item, result, err, meta)
  local stop
  if result then
    local id = type(result) == "table" and result.id or item.membership_id
    stop = journal(run, item, "done", id)
    run.o.item(item, "done", { id = id, attempts = meta and meta.attempts })
  else
    stop = journal(run, item, "failed:" .. tostring(err.kind))
    run.left[#run.left + 1] = item.text or item.email
    run.o.item(item, "failed", { err = err })
  end
  return stop
end

-- The items a stop left unstarted: reported, and kept for .failed.
local function not_started(run, outcomes)
  for _, oc in ipairs(outcomes) do
    if oc.err and oc.err.kind == "not_started" then
      run.left[#run.left + 1] = oc.item.text or oc.item.email
      run.o.item(oc.item, "not_started")
    end
  end
end

--- Carries out `items` (the plan's writes). `run` = `{env=, opts=, client=,
-- o= (the output), journal= (an open journal or nil), left= (lines for
-- .failed, appended to)}`. Returns why the run stopped (see `interrupted`),
-- or nil when it did not.
function M.run(run, items)
  local o, client = run.o, run.client
  local rule, stopped = stop_rule(), nil
  local progress = wants_progress(run.env, run.opts) and progress_line(client, #items)
  o.progress = progress and true
  local function on_result(item, result, err, meta)
    if progress then progress.finished() end
    local jstop = record(run, item, result, err, meta)
    if result then rule.succeeded() else stopped = stopped or rule.failed(err) end
    stopped = stopped or jstop
    if progress then progress.draw() end
  end
  local outcomes = client:apply_plan({ items = items }, {
    concurrency = run.opts.concurrency,
    stop = function()
      local sig = core.caught_signal()
      if sig and not (stopped and stopped.signal) then
        stopped = M.interrupted(sig, "what ran is journaled")
      end
      return stopped and stopped.message
    end,
    on_result = on_result,
  })
  if progress then io.stderr:write("\n") end
  o.progress = nil
  not_started(run, outcomes)
  return stopped
end

return M
