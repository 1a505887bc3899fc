-- The nginx worker is not blocked while close waits on the Close API: with
-- an upstream that takes 200 ms per request, 20 concurrent requests to the
-- single app worker finish in about 200 ms, not 20 x 200 ms. The same run
-- through the blocking libcurl transport (a negative control) is serialized.
local cjson = require "cjson"
local core = require "close.core"
local server = require "spec.support.server"
local app = require "spec.openresty.support.app"

local DELAY = 0.2

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- GETs the URLs all at once with curl's parallel mode (bounded by
-- --max-time); returns the wall time and the decoded bodies.
local function parallel_get(urls)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -m 700 " .. shell_quote(dir)))
  local cmd = { "curl --silent --show-error --no-progress-meter --parallel --parallel-immediate",
                "--parallel-max", tostring(#urls), "--max-time 20" }
  for i, url in ipairs(urls) do
    cmd[#cmd + 1] = "-o " .. shell_quote(dir .. "/" .. i .. ".json") .. " " .. shell_quote(url)
  end
  local t0 = core.now()
  local ok = os.execute(table.concat(cmd, " "))
  local took = core.now() - t0
  local bodies = {}
  for i = 1, #urls do
    local path = dir .. "/" .. i .. ".json"
    local f = io.open(path, "rb")
    if f then
      bodies[i] = cjson.decode(f:read("*a"))
      f:close()
      os.remove(path)
    end
  end
  os.remove(dir)
  assert(ok, "curl --parallel failed")
  return took, bodies
end

local function urls(n, prefix, extra)
  local out = {}
  for i = 1, n do
    local params = { email = prefix .. i .. "@acme.com", pool = "concurrency" }
    for k, v in pairs(extra or {}) do params[k] = v end
    out[i] = app.location("/membership", params)
  end
  return out
end

-- How far apart the upstream saw the first and the last request.
local function arrival_spread(reqs)
  local first, last = math.huge, -math.huge
  for _, r in ipairs(reqs) do
    first, last = math.min(first, r.time), math.max(last, r.time)
  end
  return last - first
end

describe("the OpenResty app worker under concurrent calls", function()
  before_each(function() server.reset() end)

  it("serves 20 concurrent calls to a 200 ms upstream in well under 20 x 200 ms", function()
    local n = 20
    server.faults{ { mode = "delay", seconds = DELAY, times = n } }
    local took, bodies = parallel_get(urls(n, "conc"))
    local reqs = server.requests()
    print(("\n  cosocket transport: %d concurrent calls, upstream %.0f ms each: %.3f s wall "
      .. "(serial would be %.1f s); upstream saw them within %.3f s"):format(
      n, DELAY * 1000, took, n * DELAY, arrival_spread(reqs)))
    for i = 1, n do
      assert.is_table(bodies[i], "no answer for request " .. i)
      local r = bodies[i].results[1]
      assert.is_true(r.ok, r.message)
      assert.equal(1, r.attempts)
      assert.is_true(r.duration >= DELAY * 0.9, "call " .. i .. " did not meet the delay")
    end
    assert.equal(n, #reqs)
    assert.is_true(took < 2, ("took %.3f s"):format(took))
    -- all were in flight at the upstream at the same time
    assert.is_true(arrival_spread(reqs) < DELAY, ("arrivals spread over %.3f s"):format(arrival_spread(reqs)))
  end)

  it("(control) with the blocking libcurl transport the same worker serializes them", function()
    local n = 10
    server.faults{ { mode = "delay", seconds = DELAY, times = n } }
    local took, bodies = parallel_get(urls(n, "block", { transport = "curl" }))
    local reqs = server.requests()
    print(("\n  libcurl transport (blocking): %d concurrent calls: %.3f s wall; upstream saw them over %.3f s")
      :format(n, took, arrival_spread(reqs)))
    for i = 1, n do
      assert.is_true(bodies[i].results[1].ok)
    end
    assert.equal(n, #reqs)
    assert.is_true(took >= n * DELAY * 0.9, ("took only %.3f s"):format(took))
    assert.is_true(arrival_spread(reqs) >= (n - 1) * DELAY * 0.9)
  end)
end)
