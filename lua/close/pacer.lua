--- The pacer: one per client, a state per endpoint group (method + path
-- template), fed by every response's rate-limit state and consulted before
-- every send of a batch. It spreads the calls a group has left over the time
-- until its window resets, so that `remaining` reaches 0 no sooner than
-- `reset`; a 429 pauses the whole group until the reset it names and halves
-- the group's rate, which then grows back as calls succeed. Groups never
-- slow each other.
-- @module close.pacer

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
  path = path:gsub("^https?://[^/]+", ""):gsub("[?#].*$", "")
  return method .. " " .. path:gsub("/%l+_%w+", "/{id}")
end

local function state(p, g)
  local s = p.groups[g]
  if not s then
    s = { next_at = 0, paused_until = 0, interval = 0, factor = 1, inflight = 0, limited = 0 }
    p.groups[g] = s
  end
  return s
end

--- Seconds to wait before a send to group g at time now (0: go now); the
-- slot is taken, so concurrent callers are spread too.
function Pacer:delay(g, now)
  local s = state(self, g)
  local at = math.max(now, s.next_at, s.paused_until)
  s.next_at = at + s.interval / s.factor
  s.inflight = s.inflight + 1
  return at - now
end

--- Feeds one response of group g (or a failed attempt, with no status).
-- `rate_limit` is `{limit=, remaining=, reset=}` (any may be nil); `hint` the
-- server's wait for a 429/503.
function Pacer:update(g, now, rate_limit, status, hint)
  local s = state(self, g)
  if s.inflight > 0 then s.inflight = s.inflight - 1 end
  local remaining, reset = rate_limit and rate_limit.remaining, rate_limit and rate_limit.reset
  if remaining and reset and reset >= 0 then
    -- what is left of the window, less what is on its way already
    local left = remaining - s.inflight
    if left <= 0 then
      s.paused_until = math.max(s.paused_until, now + reset)
      s.interval = reset / math.max(rate_limit.limit or 1, 1)
    else
      s.interval = reset / left
    end
  end
  if status == 429 then
    s.limited = s.limited + 1
    s.paused_until = math.max(s.paused_until, now + (hint or reset or 1))
    s.factor = math.max(MIN_FACTOR, s.factor / 2)
  elseif status and status < 400 then
    s.factor = math.min(1, s.factor + 0.05)
  end
end

--- Whether group g can take calls now without waiting (for auto concurrency).
function Pacer:has_room(g, now)
  local s = self.groups[g]
  return not s or (s.paused_until <= now and s.next_at <= now)
end

--- The groups' states, for reports and specs.
function Pacer:snapshot()
  local out = {}
  for g, s in pairs(self.groups) do
    out[g] = { interval = s.interval, factor = s.factor, paused_until = s.paused_until, limited = s.limited }
  end
  return out
end

return M
