-- make bench, part 3: memory and descriptors stay flat. RSS after 100,000
-- calls through a stub transport and after 10,000 through libcurl multi
-- (client:batch against the benchmark's nginx, at a path that sends no
-- RateLimit header, so the pacer lets it run flat out), each
-- against the same process measured after a warm-up; open descriptors
-- counted before and after.
local close = require "close"
local core = require "close.core"

local function rss_kib()
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("*a")
  f:close()
  return tonumber(s:match("VmRSS:%s*(%d+)"))
end

local function fds()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("*l"):match("^(%d+)")
  f:close()
  local p = assert(io.popen("ls /proc/" .. pid .. "/fd | wc -l"))
  local n = tonumber(p:read("*l"))
  p:close()
  return n
end

local function settle()
  collectgarbage()
  collectgarbage()
  return rss_kib()
end

local M = {}

function M.run(url)
  local results = {}
  -- 1. the stub transport: the client's own allocations only
  local reply = { status = 200, headers = { ratelimit = "limit=100, remaining=99, reset=1" },
    body = '{"id":"memb_JPCqDJq0AmoZFhemXAWrWk9327DqfJgUF2VGPMOL4Lp","role_id":"user"}' }
  local stub = close.new{ api_key = "ck_bench", transport = function() return reply end }
  for _ = 1, 10000 do assert(stub:create_membership{ email = "jane.doe@acme.com", role_id = "user" }) end
  local before = settle()
  for _ = 1, 100000 do assert(stub:create_membership{ email = "jane.doe@acme.com", role_id = "user" }) end
  local after = settle()
  results[#results + 1] = { what = "100,000 calls, stub transport", grew = after - before }

  -- 2. libcurl multi through client:batch; the warm-up is a batch of the
  -- same size, so that the allocator's high-water mark is reached before
  -- the measure and what remains is what the client keeps
  local fd0 = fds()
  local client = close.new{ api_key = "ck_bench", base_url = url }
  local items = {}
  for i = 1, 10000 do items[i] = i end
  local function create(c) return c:create_membership{ email = "jane.doe@acme.com", role_id = "user" } end
  client:batch(items, create, { concurrency = 16 })
  local before2 = settle()
  local t0 = core.now()
  local out = client:batch(items, create, { concurrency = 16 })
  local took = core.now() - t0
  for i = 1, #out do assert(out[i].ok, tostring(out[i].err)) end
  out = nil -- luacheck: ignore 311 (the outcomes are the caller's data, not the client's)
  local after2 = settle()
  client:close()
  local fd1 = fds()
  results[#results + 1] = { what = ("10,000 calls, libcurl multi, 16 at once (%.0f/s)"):format(10000 / took),
    grew = after2 - before2, fds = { fd0, fd1 } }
  return results
end

return M
