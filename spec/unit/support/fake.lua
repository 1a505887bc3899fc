--- Fakes for the unit specs: a scripted transport, a clock that only the
-- fakes move, a sleep that records its waits and never sleeps, a fixed
-- random and a recording on_attempt hook. No network, no real time.
--
--     local fake = require "spec.unit.support.fake"
--     local h = fake.harness({ fake.ok() })          -- scripted responses, the last one repeats
--     local m, err, meta = h.client:create_membership{ email = "a@b.co", role_id = "user" }
--     -- h.calls (copies of every request), h.waits, h.hooks, h.now

local close = require "close"
local cjson = require "cjson.safe"

local M = {}

M.URL = "https://api.close.com/api/v1/membership/"
M.KEY = "unit_test_key_0123456789"
M.START = 100            -- the fake monotonic clock at the start of each harness
M.WALL = 1445412480      -- the fake wall clock: Wed, 21 Oct 2015 07:28:00 GMT

M.MEMBERSHIP = '{"id":"memb_1a2b3c","user_id":"user_4d5e6f","organization_id":"orga_7g8h9i","role_id":"user"}'

--- A deep copy (requests, hook infos and headers are copied as they were seen).
function M.copy(v, seen)
  if type(v) ~= "table" then return v end
  seen = seen or {}
  if seen[v] then return seen[v] end
  local t = {}
  seen[v] = t
  for k, x in pairs(v) do t[M.copy(k, seen)] = M.copy(x, seen) end
  return setmetatable(t, getmetatable(v))
end

--- Standard base64 (RFC 4648, with padding), written here independently of
-- the C core so that the Authorization header is checked against it.
function M.base64(s)
  local tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = {}
    for j = 1, 4 do
      local idx = math.floor(n / 64 ^ (4 - j)) % 64 -- no // or >>: the specs run on Lua 5.1 too
      q[j] = tab:sub(idx + 1, idx + 1)
    end
    if not b then q[3] = "=" end
    if not c then q[4] = "=" end
    out[#out + 1] = table.concat(q)
  end
  return table.concat(out)
end

function M.decode(s) return cjson.decode(s) end
function M.encode(v) return cjson.encode(v) end

--- Every string, key and value, of a value (tables walked), joined by newlines.
function M.serialize(v, out, seen)
  out, seen = out or {}, seen or {}
  if type(v) == "table" then
    if seen[v] then return table.concat(out, "\n") end
    seen[v] = true
    for k, x in pairs(v) do
      M.serialize(k, out, seen)
      M.serialize(x, out, seen)
    end
  else
    out[#out + 1] = tostring(v)
  end
  return table.concat(out, "\n")
end

--- The first fragment (of `n` characters, or the whole secret when shorter)
-- of `secret` found in `text`, or nil. Catches a secret cut in half too.
function M.leak(text, secret, n)
  n = math.min(n or 10, #secret)
  for i = 1, #secret - n + 1 do
    local frag = secret:sub(i, i + n - 1)
    if text:find(frag, 1, true) then return frag end
  end
  return nil
end

--- Response builders.
function M.ok(body, headers)
  return { status = 200, headers = headers or { ["content-type"] = "application/json" }, body = body or M.MEMBERSHIP }
end

function M.status(status, body, headers)
  return { status = status, headers = headers or {}, body = body or "" }
end

function M.fail(kind, message)
  return { err = { kind = kind, message = message } }
end

--- A client wired to fakes. `script` lists what each transport call returns
-- (a response table, `{err = e}` for `nil, e`, or a function(request, h));
-- the last entry repeats. `opts` overrides/extends the options of close.new
-- (`oauth_token` replaces the default api_key). `h.advance` seconds are added
-- to the clock by each transport call; `h.oversleep` by each sleep.
function M.harness(script, opts)
  local h = { calls = {}, waits = {}, hooks = {}, now = M.START, wall = M.WALL, advance = 0, oversleep = 0 }
  script = script or {}
  function h.transport(req)
    h.calls[#h.calls + 1] = M.copy(req)
    h.now = h.now + h.advance
    local step = script[math.min(#h.calls, #script)]
    if step == nil then error("unexpected transport call " .. #h.calls, 2) end
    if type(step) == "function" then return step(req, h) end
    if step.err ~= nil then return nil, M.copy(step.err) end
    return M.copy(step)
  end
  function h.clock() return h.now end
  function h.wallclock() return h.wall end
  function h.sleep(s)
    h.waits[#h.waits + 1] = s
    h.now = h.now + s + h.oversleep
  end
  function h.random() return 0.5 end
  function h.on_attempt(info) h.hooks[#h.hooks + 1] = M.copy(info) end
  local o = {
    api_key = M.KEY, transport = h.transport, sleep = h.sleep, clock = h.clock,
    wallclock = h.wallclock, random = h.random, on_attempt = h.on_attempt,
  }
  for k, v in pairs(opts or {}) do o[k] = v end
  if o.oauth_token and not (opts and opts.api_key) then o.api_key = nil end
  h.client = close.new(o)
  return h
end

--- create_membership on h's client with a valid argument unless given.
function M.create(h, args)
  return h.client:create_membership(args or { email = "jane@acme.com", role_id = "user" })
end

return M
