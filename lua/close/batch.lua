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
-- A coroutine of a batch tells the scheduler what it waits for by yielding
-- `"xfer", id` (a transfer of the multi handle) or `"sleep", seconds`; a
-- transport of the user's may yield `"sleep", seconds` too.
-- @module close.batch

local Error = require "close.error"

local unpack = table.unpack or unpack -- luacheck: ignore 143

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
local function limiter(conc, max)
  local l = { limit = conc == "auto" and math.min(AUTO_START, max) or conc, auto = conc == "auto", peak = 0 }
  local seen_limited = 0
  function l.after(p, now, ok)
    if not l.auto then return end
    local limited, room = 0, true
    for g, s in pairs(p.groups) do
      limited = limited + s.limited
      if not p:has_room(g, now) then room = false end
    end
    if limited > seen_limited then
      seen_limited = limited
      l.limit = math.max(1, math.floor(l.limit / 2))
    elseif ok and room then
      l.limit = math.min(max, l.limit + 1)
    end
  end
  return l
end

-- An item's outcome, recorded as both schedulers do: in its place, fed to
-- the concurrency, and the error returned when it stops the batch.
local function settle(c, lim, outcomes, i, result, err, meta)
  outcomes[i] = { ok = result ~= nil, result = result, err = err, meta = meta }
  lim.after(c.pacer, c.clock(), result ~= nil)
  if M.is_fatal(err) then return err end
end

-- ---------------------------------------------------------------------------
-- Plain Lua: coroutines and a scheduler over close.core.multi

-- The transport and sleep of the items of a plain-Lua batch: an item's
-- coroutine yields to the scheduler; the transfers go on the client's multi
-- handle when it has the default libcurl transport. Paced always.
local function item_io(c, max)
  local plain = c.io
  local multi = c.conn:multi(max)
  local io = { paced = true, multi = multi, transport = plain.transport }
  function io.sleep(s) return coroutine.yield("sleep", s) end
  if multi then
    function io.transport(req)
      local id, err = multi:start(req)
      if not id then return nil, err end
      return coroutine.yield("xfer", id)
    end
  end
  return io
end

local function run_plain(c, client, items, fn, conc, max, on_result, stop)
  local n = #items
  local outcomes, lim = {}, limiter(conc, max)
  local clock, real_sleep = c.clock, c.io.sleep
  local io = item_io(c, max)
  local multi = io.multi
  local owned = c.batches.by_co -- coroutine -> the io of its item (close.driver.io reads it)
  local index = {}       -- coroutine -> item index
  local ready = {}       -- {co, ...} to resume, in order
  local timers = {}      -- {at=, co=}
  local xfers = {}       -- transfer id -> coroutine
  local live, next_i, stopped, raised = 0, 1, nil, nil

  local function finish(i, result, err, meta)
    local fatal = settle(c, lim, outcomes, i, result, err, meta)
    stopped = stopped or fatal
    if on_result then
      local ok, why = pcall(on_result, i, items[i], result, err, meta)
      if not ok and not raised then raised = "on_result raised: " .. tostring(why) end
    end
  end

  local function step(co, ...)
    local res = { coroutine.resume(co, ...) }
    local i = index[co]
    if not res[1] then
      owned[co], index[co] = nil, nil
      live = live - 1
      if not raised then raised = ("item %d raised: %s"):format(i, tostring(res[2])) end
      return
    end
    if coroutine.status(co) == "dead" then
      owned[co], index[co] = nil, nil
      live = live - 1
      finish(i, res[2], res[3], res[4])
    elseif res[2] == "xfer" then
      xfers[res[3]] = co
    elseif res[2] == "sleep" then
      local s = tonumber(res[3]) or 0
      timers[#timers + 1] = { at = clock() + (s > 0 and s or 0), co = co }
    else
      ready[#ready + 1] = { co } -- a yield of its own: its turn comes again
    end
  end

  local function fill()
    stopped = stopped or asked_to_stop(stop)
    while not stopped and not raised and next_i <= n and live < lim.limit do
      local i, item = next_i, items[next_i]
      next_i = next_i + 1
      local co = coroutine.create(function() return fn(client, item) end)
      owned[co], index[co] = io, i
      live = live + 1
      ready[#ready + 1] = { co }
    end
    if live > lim.peak then lim.peak = live end
  end

  local ok, err = pcall(function()
    fill()
    while live > 0 do
      local batch_ready = ready
      ready = {}
      for _, r in ipairs(batch_ready) do step(r[1], unpack(r, 2, 3)) end
      if raised then break end
      fill()
      if live == 0 then break end
      if #ready == 0 then
        local now, next_at = clock(), nil
        for _, t in ipairs(timers) do if not next_at or t.at < next_at then next_at = t.at end end
        if next(xfers) then
          local timeout = next_at and math.max(0, next_at - now) or 1
          for _, r in ipairs(multi:wait(timeout)) do
            local co = xfers[r.id]
            xfers[r.id] = nil
            if co then ready[#ready + 1] = { co, r.response, r.err } end
          end
        elseif next_at and next_at > now then
          real_sleep(next_at - now)
        end
        now = clock()
        local keep = {}
        table.sort(timers, function(a, b) return a.at < b.at end)
        for _, t in ipairs(timers) do
          if t.at <= now then ready[#ready + 1] = { t.co } else keep[#keep + 1] = t end
        end
        timers = keep
      end
    end
  end)
  -- whatever happened, nothing of this batch is left running
  for id in pairs(xfers) do multi:cancel(id) end
  for co in pairs(index) do owned[co] = nil end
  if not ok then error(err, 0) end
  if raised then error("close: batch: " .. raised, 3) end
  return outcomes, stopped, lim.peak
end

-- ---------------------------------------------------------------------------
-- OpenResty: ngx.thread per item; cosockets and ngx.sleep never block

local function run_ngx(c, client, items, fn, conc, max, on_result, stop)
  local ngx = rawget(_G, "ngx")
  local spawn, wait, kill = ngx.thread.spawn, ngx.thread.wait, ngx.thread.kill
  -- light threads exist where cosockets do: refuse elsewhere (init_worker, log...)
  local can, why = c.check_phase()
  if not can then error("close: batch: " .. tostring(why):gsub("^close: ", ""), 3) end
  local n = #items
  local outcomes, lim = {}, limiter(conc, max)
  -- the threads running (a dense list, for ngx.thread.wait), the item of
  -- each, and by item index each one's place in the list
  local threads, item_at, place = {}, {}, {}
  local next_i, stopped, raised = 1, nil, nil
  -- an item's thread makes its calls with the client's transport and
  -- sleep (cosockets, ngx.sleep: they never block), paced
  local io = { transport = c.io.transport, sleep = c.io.sleep, paced = true }

  -- An item's thread. It says which item it was: ngx.thread.wait returns
  -- only the values of the thread that ended (not the thread), and
  -- coroutine.status cannot tell it either: the threads that ended while the
  -- batch was not waiting are all "zombie", and wait takes one of them. It
  -- catches its errors, so that it always names its item; and it calls
  -- on_result itself: on_result may yield (a cosocket, ngx.sleep), and the
  -- batch's own coroutine must never yield but in ngx.thread.wait (the
  -- threads that a wait was given stay marked as waited for, and one ending
  -- would resume it elsewhere).
  local function body(i, item)
    local co = coroutine.running()
    c.batches.by_co[co] = io
    local ok, result, err, meta = pcall(fn, client, item)
    if not ok then
      c.batches.by_co[co] = nil
      return i, false, result
    end
    local failed
    if on_result then
      local cok, e = pcall(on_result, i, item, result, err, meta)
      if not cok then failed = e end
    end
    c.batches.by_co[co] = nil
    return i, true, result, err, meta, failed
  end

  local function fill()
    stopped = stopped or asked_to_stop(stop)
    while not stopped and not raised and next_i <= n and #threads < lim.limit do
      local i = next_i
      next_i = next_i + 1
      local ok, t = pcall(spawn, body, i, items[i])
      if not ok or not t then
        raised = "cannot start a thread: " .. tostring(t)
        break
      end
      local k = #threads + 1
      threads[k], item_at[k], place[i] = t, i, k
    end
    if #threads > lim.peak then lim.peak = #threads end
  end

  local function remove(i)
    local k, last = place[i], #threads
    place[i] = nil
    if k ~= last then -- the last thread takes the freed place
      threads[k], item_at[k] = threads[last], item_at[last]
      place[item_at[k]] = k
    end
    threads[last], item_at[last] = nil, nil
  end

  fill()
  -- every turn ends one thread of the list, or all of them: at most n turns
  while #threads > 0 do
    local ok, i, fine, result, err, meta, failed = wait(unpack(threads))
    if not (ok and type(i) == "number" and place[i]) then
      -- cannot happen (body catches its errors): end the rest, report
      for _, t in ipairs(threads) do pcall(kill, t) end
      threads = {}
      if not raised then
        raised = ok and "a thread ended without naming its item" or "a thread failed: " .. tostring(i)
      end
      break
    end
    remove(i)
    if not fine then
      if not raised then raised = ("item %d raised: %s"):format(i, tostring(result)) end
    else
      local fatal = settle(c, lim, outcomes, i, result, err, meta)
      stopped = stopped or fatal
      if failed and not raised then raised = "on_result raised: " .. tostring(failed) end
    end
    fill()
  end
  if raised then error("close: batch: " .. raised, 3) end
  return outcomes, stopped, lim.peak
end

--- Runs the batch on client (its configuration c). Returns the outcomes in
-- input order (`{ok=, result=, err=, meta=}`; items never started have
-- `err.kind == "not_started"`), nil, and `{stopped=err, not_started=N,
-- peak_concurrency=N}`.
-- @local
function M.run(c, client, items, fn, opts)
  local conc, max, on_result, stop = check(items, fn, opts)
  -- one at a time: the items of two would share the pacer's slots and the multi handle
  if c.batches.running then error("close: batch: this client runs a batch already", 3) end
  c.batches.running = true
  local ok, outcomes, stopped, peak = pcall(c.check_phase and run_ngx or run_plain, c, client, items, fn, conc, max,
    on_result, stop)
  c.batches.running = false
  if not ok then error(outcomes, 0) end
  local skipped = 0
  for i = 1, #items do
    if not outcomes[i] then
      skipped = skipped + 1
      outcomes[i] = { ok = false, err = not_started(stopped) }
    end
  end
  return outcomes, nil, { stopped = stopped, not_started = skipped, peak_concurrency = peak }
end

return M
