--- The OpenResty scheduler of `client:batch`: an `ngx.thread` per item;
-- cosockets and ngx.sleep never block the worker. An item's thread makes
-- its calls with the client's transport and sleep, paced (close.driver.io
-- reads the client's `batches.by_co`).
-- @module close.scheduler.ngx

local unpack = table.unpack or unpack -- luacheck: ignore 143

local M = {}

local Threads = {}
Threads.__index = Threads

-- An item's thread. It says which item it was: ngx.thread.wait returns
-- only the values of the thread that ended (not the thread), and
-- coroutine.status cannot tell it either: the threads that ended while the
-- batch was not waiting are all "zombie", and wait takes one of them. It
-- catches its errors, so that it always names its item; and it calls
-- on_result itself: on_result may yield (a cosocket, ngx.sleep), and the
-- batch's own coroutine must never yield but in ngx.thread.wait (the
-- threads that a wait was given stay marked as waited for, and one ending
-- would resume it elsewhere).
local function item_thread(self, i, item)
  local run, co = self.run, coroutine.running()
  self.by_co[co] = self.io
  local ok, result, err, meta = pcall(run.fn, run.client, item)
  local on_result_error
  if ok and run.on_result then
    local cok, e = pcall(run.on_result, i, item, result, err, meta)
    if not cok then on_result_error = e end
  end
  self.by_co[co] = nil
  if not ok then return i, false, result end
  return i, true, result, err, meta, on_result_error
end

-- starts threads while the concurrency and the stop rule allow
function Threads:start_items()
  local run = self.run
  run:check_stop()
  while run:may_start(#self.list) do
    local i = run:take_next()
    local ok, t = pcall(self.spawn, item_thread, self, i, run.items[i])
    if not ok or not t then
      run:fail("cannot start a thread: " .. tostring(t))
      break
    end
    local k = #self.list + 1
    self.list[k], self.item_at[k], self.place[i] = t, i, k
  end
  run:running(#self.list)
end

-- the thread of item i ended: the last thread of the list takes its place
function Threads:remove(i)
  local k, last = self.place[i], #self.list
  self.place[i] = nil
  if k ~= last then
    self.list[k], self.item_at[k] = self.list[last], self.item_at[last]
    self.place[self.item_at[k]] = k
  end
  self.list[last], self.item_at[last] = nil, nil
end

-- what a thread that ended returned
function Threads:ended(i, fine, result, err, meta, on_result_error)
  local run = self.run
  self:remove(i)
  if not fine then
    run:fail(("item %d raised: %s"):format(i, tostring(result)))
    return
  end
  run:settle(i, result, err, meta)
  if on_result_error then run:fail("on_result raised: " .. tostring(on_result_error)) end
end

--- Runs `run` (a close.batch run) to its end.
function M.run(run)
  local ngx = rawget(_G, "ngx")
  -- light threads exist where cosockets do: refuse elsewhere (init_worker, log...)
  local parts = run.parts
  local can, why = parts.check_phase()
  if not can then error("close: batch: " .. tostring(why):gsub("^close: ", ""), 0) end
  local self = setmetatable({ run = run, spawn = ngx.thread.spawn, by_co = parts.batches.by_co,
    io = { transport = parts.io.transport, sleep = parts.io.sleep, paced = true },
    -- the threads running (a dense list, for ngx.thread.wait), the item of
    -- each, and by item index each one's place in the list
    list = {}, item_at = {}, place = {} }, Threads)
  self:start_items()
  -- every turn ends one thread of the list, or all of them: at most #items turns
  while #self.list > 0 do
    local ok, i, fine, result, err, meta, on_result_error = ngx.thread.wait(unpack(self.list))
    if not (ok and type(i) == "number" and self.place[i]) then
      -- cannot happen (item_thread catches its errors): end the rest, report
      for _, t in ipairs(self.list) do pcall(ngx.thread.kill, t) end
      self.list = {}
      run:fail(ok and "a thread ended without naming its item" or "a thread failed: " .. tostring(i))
      break
    end
    self:ended(i, fine, result, err, meta, on_result_error)
    self:start_items()
  end
end

return M
