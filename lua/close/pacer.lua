--- The pacer: one per client, a state per endpoint group (method + path
-- template), fed by every response's rate-limit state and consulted before
-- every send of a batch. It sends at an even pace a little under the limit
-- (the window, learnt from the longest `reset` seen, over `limit`), and waits
-- for the next window when the server says `remaining` is spent,
-- so that `remaining` reaches 0 no sooner than `reset`; a 429 pauses the
-- whole group until the reset it names and slows the group by a fifth, which
-- then grows back as calls succeed. Groups never slow each other.
-- @module close.pacer

local split_url = require("close.url").split

local M = {}

local Pacer = {}
Pacer.__index = Pacer

local MIN_FACTOR = 1 / 64

--- A new pacer.
function M.new()
  return setmetatable({ groups = {} }, Pacer)
end

--- The endpoint group of a request: its method and path with ids (`memb_...`,
-- `orga_...`, any `prefix_` segment) as `{id}` and no query.
function M.group(method, path)
  local u = path:find("^%a[%w+.-]*://") and split_url(path)
  if u then path = u.path end
  path = path:gsub("[?#].*$", "")
  return method .. " " .. path:gsub("/%l+_%w+", "/{id}")
end

local function state(p, g)
  local s = p.groups[g]
  if not s then
    s = { next_at = 0, paused_until = 0, factor = 1, inflight = 0, limited = 0, window = 0 }
    p.groups[g] = s
  end
  return s
end

-- What is aimed at: a little under the limit, so that calls sent at an even
-- pace never make one of the server's windows overflow.
local HEADROOM = 0.97

-- the spacing between sends: the window over its limit, slowed by 429s
local function interval(s)
  if not s.limit or s.limit <= 0 or s.window <= 0 then return 0 end
  return s.window / (s.limit * HEADROOM) / s.factor
end

--- Seconds to wait before a send to group g at time now (0: go now); the
-- slot is taken, so concurrent callers are spread too.
function Pacer:delay(g, now)
  local s = state(self, g)
  local at = math.max(now, s.next_at, s.paused_until)
  -- the server says nothing is left in this window: wait for the next. (What
  -- is on its way is not subtracted: it may land in the next window, and the
  -- even pace already keeps a window from overflowing.)
  if s.remaining and s.window_end and at < s.window_end and s.remaining <= 0 then
    at = s.window_end
  end
  s.next_at = at + interval(s)
  s.inflight = s.inflight + 1
  return at - now
end

--- Feeds one response of group g (or a failed attempt, with no status).
-- `rate_limit` is `{limit=, remaining=, reset=}` (any may be nil); `hint` the
-- server's wait for a 429/503.
function Pacer:update(g, now, rate_limit, status, hint)
  local s = state(self, g)
  if s.inflight > 0 then s.inflight = s.inflight - 1 end
  local limit, remaining, reset = rate_limit and rate_limit.limit, rate_limit and rate_limit.remaining,
    rate_limit and rate_limit.reset
  if limit and limit > 0 then s.limit = limit end
  if reset and reset >= 0 then
    -- the window's length: the longest reset seen (a reset is what is left of one)
    if reset > s.window then s.window = reset end
    s.window_end = now + reset
    s.remaining = remaining
  end
  if status == 429 then
    s.limited = s.limited + 1
    s.paused_until = math.max(s.paused_until, now + (hint or reset or 1))
    -- a fifth slower: one 429 is mostly a window edge met a little early, and
    -- halving for it cost a third of the rate; a storm still slows fast
    s.factor = math.max(MIN_FACTOR, s.factor * 0.8)
  elseif status and status < 400 then
    s.factor = math.min(1, s.factor + 0.02)
  end
end

--- Whether group g can take more calls at once (for auto concurrency):
-- not paused, and no more than one send waiting for its slot.
function Pacer:has_room(g, now)
  local s = self.groups[g]
  return not s or (s.paused_until <= now and s.next_at <= now + interval(s))
end

--- The groups' states, for reports and specs.
function Pacer:snapshot()
  local out = {}
  for g, s in pairs(self.groups) do
    out[g] = { interval = interval(s), factor = s.factor, paused_until = s.paused_until, limited = s.limited,
      limit = s.limit, window = s.window }
  end
  return out
end

return M
