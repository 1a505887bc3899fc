--- The plain-Lua scheduler of `client:batch`: a coroutine per item and a
-- loop that resumes the coroutine whose transfer finished or whose timer
-- is due. The transfers run on the client's libcurl multi handle, driven
-- from C (close.core.multi: start, wait); C never calls Lua. A wait between
-- retries is a timer here, so a waiting call blocks no other.
--
-- An item's coroutine tells the scheduler what it waits for by yielding
-- `"xfer", id` (a transfer of the multi handle) or `"sleep", seconds`; a
-- transport of the user's may yield `"sleep", seconds` too. Its calls find
-- their transport and sleep through close.driver.io, which reads the
-- client's `batches.by_co`.
-- @module close.scheduler.plain

local unpack = table.unpack or unpack -- luacheck: ignore 143

local M = {}

local Plain = {}
Plain.__index = Plain

-- The transport and sleep of the items: an item's coroutine yields to the
-- scheduler; the transfers go on the client's multi handle when it has the
-- default libcurl transport. Always paced.
local function item_io(parts, max)
  local multi = parts.conn:multi(max)
  local io = { paced = true, multi = multi, transport = parts.io.transport }
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

-- an item ended: its outcome recorded, on_result told
function Plain:finish(i, result, err, meta)
  local run = self.run
  run:settle(i, result, err, meta)
  if run.on_result then
    local ok, why = pcall(run.on_result, i, run.items[i], result, err, meta)
    if not ok then run:fail("on_result raised: " .. tostring(why)) end
  end
end

-- the coroutine of an item is no longer the batch's
function Plain:forget(co)
  self.by_co[co], self.index[co] = nil, nil
  self.live = self.live - 1
end

-- resumes co and files it by what it yielded (or finishes its item)
function Plain:step(co, ...)
  local res = { coroutine.resume(co, ...) }
  local i = self.index[co]
  if not res[1] then
    self:forget(co)
    self.run:fail(("item %d raised: %s"):format(i, tostring(res[2])))
  elseif coroutine.status(co) == "dead" then
    self:forget(co)
    self:finish(i, res[2], res[3], res[4])
  elseif res[2] == "xfer" then
    self.xfers[res[3]] = co
  elseif res[2] == "sleep" then
    local s = tonumber(res[3]) or 0
    self.timers[#self.timers + 1] = { at = self.clock() + (s > 0 and s or 0), co = co }
  else
    self.ready[#self.ready + 1] = { co } -- a yield of its own: its turn comes again
  end
end

-- starts items while the concurrency and the stop rule allow
function Plain:start_items()
  local run = self.run
  run:check_stop()
  while run:may_start(self.live) do
    local i = run:take_next()
    local item = run.items[i]
    local co = coroutine.create(function() return run.fn(run.client, item) end)
    self.by_co[co], self.index[co] = self.io, i
    self.live = self.live + 1
    self.ready[#self.ready + 1] = { co }
  end
  run:running(self.live)
end

-- nothing is ready: waits for a transfer or the next timer, then readies
-- the coroutines whose transfer finished or whose timer is due
function Plain:wait_for_events()
  local now, next_at = self.clock(), nil
  for _, t in ipairs(self.timers) do if not next_at or t.at < next_at then next_at = t.at end end
  if next(self.xfers) then
    local timeout = next_at and math.max(0, next_at - now) or 1
    for _, r in ipairs(self.io.multi:wait(timeout)) do
      local co = self.xfers[r.id]
      self.xfers[r.id] = nil
      if co then self.ready[#self.ready + 1] = { co, r.response, r.err } end
    end
  elseif next_at and next_at > now then
    self.sleep(next_at - now)
  end
  now = self.clock()
  local keep = {}
  table.sort(self.timers, function(a, b) return a.at < b.at end)
  for _, t in ipairs(self.timers) do
    if t.at <= now then self.ready[#self.ready + 1] = { t.co } else keep[#keep + 1] = t end
  end
  self.timers = keep
end

-- the loop: every turn resumes what is ready; ends when no item runs
function Plain:loop()
  self:start_items()
  while self.live > 0 do
    local turn = self.ready
    self.ready = {}
    for _, r in ipairs(turn) do self:step(r[1], unpack(r, 2, 3)) end
    if self.run.raised then break end
    self:start_items()
    if self.live == 0 then break end
    if #self.ready == 0 then self:wait_for_events() end
  end
end

--- Runs `run` (a close.batch run) to its end; raises what its loop raised,
-- with nothing of the batch left running.
function M.run(run)
  local parts = run.parts
  local self = setmetatable({ run = run, clock = parts.clock, sleep = parts.io.sleep,
    io = item_io(parts, run.concurrency.max), by_co = parts.batches.by_co,
    index = {},  -- coroutine -> item index
    ready = {},  -- {co, ...} to resume, in order
    timers = {}, -- {at=, co=}
    xfers = {},  -- transfer id -> coroutine
    live = 0 }, Plain)
  local ok, err = pcall(self.loop, self)
  for id in pairs(self.xfers) do self.io.multi:cancel(id) end
  for co in pairs(self.index) do self.by_co[co] = nil end
  if not ok then error(err, 0) end
end

return M
