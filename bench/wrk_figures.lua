-- What the SCIM benches share: wrk checked for, members seeded into the
-- local server, and the figures of a `wrk --latency` run read from its output.
local server = require "spec.support.server"
local files = require "spec.support.files"

local M = {}

--- Adds n members "<tag>00001@acme.com" ... (role user) to the local
-- server, 2000 a call.
function M.seed(n, tag)
  for first = 1, n, 2000 do
    local list = {}
    for i = first, math.min(first + 1999, n) do
      list[#list + 1] = { email = ("%s%05d@acme.com"):format(tag, i), role_id = "user" }
    end
    server.add_members(list)
  end
end

--- Raises, naming the bench script, when wrk is not installed.
function M.need_wrk(script)
  if not files.sh("command -v wrk >/dev/null") then
    error(script .. " needs wrk (apt-get install wrk; scripts/deps.sh installs it)")
  end
end

-- wrk's "1.23ms" / "850.00us" / "1.01s" in ms
local function ms(s)
  local v, unit = s:match("([%d.]+)(%a+)")
  v = tonumber(v)
  return unit == "us" and v / 1000 or unit == "s" and v * 1000 or v
end

--- wrk's output: {rps, p50, p90, p99 (ms), non2xx (count text or nil),
-- errors (its socket errors line or nil)}; raises when it has no figures.
function M.parse(out)
  local p50, p90, p99 = out:match("%s50%%%s+(%S+)"), out:match("%s90%%%s+(%S+)"), out:match("%s99%%%s+(%S+)")
  local rps = out:match("Requests/sec:%s+([%d.]+)")
  assert(p99 and rps, "wrk: " .. out)
  return { rps = tonumber(rps), p50 = ms(p50), p90 = p90 and ms(p90), p99 = ms(p99),
           non2xx = out:match("Non%-2xx or 3xx responses: (%d+)"), errors = out:match("Socket errors: ([^\n]+)") }
end

return M
