--- client:batch(items, fn, opts): fn(client, item) for every item, each in a
-- coroutine of its own, up to a concurrency at once, paced by the server's
-- rate limits (close.pacer).
--
-- Plain Lua: a scheduler here resumes the coroutine whose transfer finished;
-- the transfers run on a libcurl multi handle driven from C (close.core.multi:
-- start, wait), and C never calls Lua. A wait between retries is a timer of
-- the scheduler, so a waiting call blocks no other. Inside nginx the items
-- are `ngx.thread`s over cosockets, and waits are `ngx.sleep`.
--
-- This module checks the options and keeps what both schedulers share: a
-- run's record (outcomes, the concurrency, the stop rule); the schedulers
-- are close.scheduler.plain and close.scheduler.ngx.
-- @module close.batch

local Error = require "close.error"

local M = {}

-- after these no new item starts: every further one would fail the same way
local FATAL = { auth = true, tls = true }

--- Whether err stops a batch (and a close-provision run): after an `auth`
-- or `tls` error every further item would fail the same way.
function M.is_fatal(err)
  return type(err) == "table" and FATAL[err.kind] == true
end

--- The largest concurrency of a batch (and of close-provision's --concurrency;
-- the cosocket transport's pool holds as many connections).
M.MAX_CONCURRENCY = 1000

--- Why `n` is not a concurrency (a whole number from 1 to MAX_CONCURRENCY), or nil.
function M.concurrency_error(n)
  if type(n) == "number" and n >= 1 and n <= M.MAX_CONCURRENCY and n % 1 == 0 then return nil end
  return ("a whole number from 1 to %d"):format(M.MAX_CONCURRENCY)
end

local AUTO_START, AUTO_MAX = 4, 64

local function check(items, fn, opts)
  if type(items) ~= "table" then error("close: batch expects a list of items, got " .. type(items), 4) end
  if type(fn) ~= "function" then error("close: batch expects a function(client, item), got " .. type(fn), 4) end
  if opts ~= nil and type(opts) ~= "table" then error("close: batch options must be a table", 4) end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "concurrency" and k ~= "on_result" and k ~= "max_concurrency" and k ~= "stop" then
      error("close: batch: unknown option '" .. tostring(k) .. "'", 4)
    end
  end
  local conc = opts.concurrency == nil and "auto" or opts.concurrency
  if conc ~= "auto" and M.concurrency_error(conc) then
    error("close: batch: concurrency must be \"auto\" or " .. M.concurrency_error(conc), 4)
  end
  local max = opts.max_concurrency or AUTO_MAX
  if M.concurrency_error(max) then error("close: batch: max_concurrency must be " .. M.concurrency_error(max), 4) end
  for _, k in ipairs({ "on_result", "stop" }) do
    if opts[k] ~= nil and type(opts[k]) ~= "function" then error("close: batch: " .. k .. " must be a function", 4) end
  end
  return conc, max, opts.on_result, opts.stop
end

-- the stop hook's reason, as the error that stopped the batch
local function asked_to_stop(stop)
  local why = stop and stop()
  if why then return Error.new("not_started", "not started: " .. tostring(why)) end
end

local function not_started(stopped)
  if stopped.kind == "not_started" then return stopped end
  return Error.new("not_started", ("not started: the batch stopped after a %s error (%s)"):format(
    stopped.kind, tostring(stopped.message)))
end

-- The concurrency: fixed, or "auto": starts small, grows by one for each
-- success while no group of the pacer is held back, halves when one was.
local Concurrency = {}
Concurrency.__index = Concurrency

local function concurrency(conc, max)
  return setmetatable({ limit = conc == "auto" and math.min(AUTO_START, max) or conc, auto = conc == "auto",
    max = max, peak = 0, seen_limited = 0 }, Concurrency)
end

-- after an item: the pacer's groups say whether the server held any back
function Concurrency:after(pacer, now, ok)
  if not self.auto then return end
  local limited, room = 0, true
  for g, s in pairs(pacer.groups) do
    limited = limited + s.limited
    if not pacer:has_room(g, now) then room = false end
  end
  if limited > self.seen_limited then
    self.seen_limited = limited
    self.limit = math.max(1, math.floor(self.limit / 2))
  elseif ok and room then
    self.limit = math.min(self.max, self.limit + 1)
  end
end

--- A run of a batch, as both schedulers keep it: the items, the outcomes
-- in input order, the concurrency, why it stopped (`stopped`, an error)
-- and what raised (`raised`, a message).
-- @local
local Run = {}
Run.__index = Run
M.Run = Run

--- Asks the stop hook (once per round of starts) whether to stop.
function Run:check_stop()
  self.stopped = self.stopped or asked_to_stop(self.stop)
end

--- Whether another item may start now, with `running` items running.
function Run:may_start(running)
  return not self.stopped and not self.raised and self.next_item <= #self.items
    and running < self.concurrency.limit
end

--- The index of the next item to start.
function Run:take_next()
  local i = self.next_item
  self.next_item = i + 1
  return i
end

--- Records an item's outcome: in its place, fed to the concurrency, and
-- the batch stopped when the error is fatal.
function Run:settle(i, result, err, meta)
  self.outcomes[i] = { ok = result ~= nil, result = result, err = err, meta = meta }
  self.concurrency:after(self.parts.pacer, self.parts.clock(), result ~= nil)
  if M.is_fatal(err) then self.stopped = self.stopped or err end
end

--- Notes the first thing that raised; the run ends and raises it.
function Run:fail(message)
  self.raised = self.raised or message
end

--- Notes how many items run at once.
function Run:running(n)
  if n > self.concurrency.peak then self.concurrency.peak = n end
end

--- Runs the batch on client (its `parts`). Returns the outcomes in
-- input order (`{ok=, result=, err=, meta=}`; items never started have
-- `err.kind == "not_started"`), nil, and `{stopped=err, not_started=N,
-- peak_concurrency=N}`.
-- @local
function M.run(parts, client, items, fn, opts)
  local conc, max, on_result, stop = check(items, fn, opts)
  -- one at a time: the items of two would share the pacer's slots and the multi handle
  if parts.batches.running then error("close: batch: this client runs a batch already", 3) end
  local run = setmetatable({ parts = parts, client = client, items = items, fn = fn, on_result = on_result, stop = stop,
    concurrency = concurrency(conc, max), outcomes = {}, next_item = 1 }, Run)
  local scheduler = require(parts.check_phase and "close.scheduler.ngx" or "close.scheduler.plain")
  parts.batches.running = true
  local ok, err = pcall(scheduler.run, run)
  parts.batches.running = false
  if not ok then error(err, 0) end
  if run.raised then error("close: batch: " .. run.raised, 0) end
  local skipped = 0
  for i = 1, #items do
    if not run.outcomes[i] then
      skipped = skipped + 1
      run.outcomes[i] = { ok = false, err = not_started(run.stopped) }
    end
  end
  return run.outcomes, nil, { stopped = run.stopped, not_started = skipped, peak_concurrency = run.concurrency.peak }
end

return M
