-- The local Close-compatible server's (test/server) rate limits, latency and
-- counters, which concurrency benchmarks and specs of a self-pacing client
-- rely on: limits per API key and endpoint group and per organization, the
-- RateLimit header, the 429's body and Retry-After, a remote latency that
-- overlaps concurrent requests, and GET /_test/stats. Driven over raw HTTP
-- (close.core) and, for concurrent requests, curl processes.
local core = require "close.core"
local cjson = require "cjson"
local server = require "spec.support.server"

local ORG_ID = "orga_yPVZsGazVKgng0gEEYRSyzKDNQz8C2vSz27FKNsHfCK"
local ROLE_ID = "role_3WbpmlYSKRFDXdPd2em3vSyQ6c5iRYIUmW95yp4i9zH"
local OTHER_ROLE_ID = "role_WBTAHxOVMWwfjkaBi4UWpkPXhW7wjsYbNCTCpmbjFug"
local AUTH = core.auth_header("basic", server.api_key)

local http = core.http()

-- One API call; opts: body (a table, sent as JSON), auth (false: none),
-- handle, timeout. Returns the response and its wall time.
local function api(method, path, opts)
  opts = opts or {}
  local headers = { Accept = "application/json" }
  if opts.auth ~= false then headers.Authorization = AUTH end
  local body
  if opts.body then
    headers["Content-Type"] = "application/json"
    body = cjson.encode(opts.body)
  end
  local t0 = core.now()
  local res, err = (opts.handle or http):request{ method = method, url = server.http_url .. path,
    headers = headers, body = body, timeout = opts.timeout or 15, connect_timeout = 2 }
  local elapsed = core.now() - t0
  if opts.may_fail then return res, err, elapsed end
  assert(res, err and err.message)
  return res, elapsed
end

local function create(email)
  return api("POST", "/membership/", { body = { email = email, role_id = "user" } })
end

-- The RateLimit header's limit, remaining and reset (nil when absent).
local function ratelimit(res)
  local h = res.headers["ratelimit"]
  if not h then return nil end
  local limit, remaining, reset = h:match("^limit=(%d+), remaining=(%d+), reset=(%d+%.?%d*)$")
  assert(limit, "malformed RateLimit: " .. h)
  return { limit = tonumber(limit), remaining = tonumber(remaining), reset = tonumber(reset) }
end

-- Waits (under one window) until a fixed window has just begun, so that a
-- few quick calls all fall in the same window.
local function window_start(window)
  local into = core.time() % window
  if into > 0.05 then core.sleep(window - into + 0.02) end
end

local function control_post(path, obj)
  local res, err = http:request{ method = "POST", url = server.control_url .. path,
    headers = { ["Content-Type"] = "application/json" }, body = cjson.encode(obj),
    timeout = 5, connect_timeout = 2 }
  assert(res, err and err.message)
  return res
end

-- Sends the POST /membership/ bodies at once, each from its own curl process
-- (so its own connection); returns per request {status, time, body} and the
-- wall time of the lot.
local function concurrent_creates(bodies)
  local base = os.tmpname()
  local cmds = {}
  for i, body in ipairs(bodies) do
    -- never under the specs' LD_PRELOAD (make asan): curl hangs there; bounded anyway
    cmds[i] = ("env -u LD_PRELOAD timeout 20 curl -s -m 15 -u '%s:' -H 'Content-Type: application/json' "
      .. "--data-raw '%s' -o '%s.%d' -w '%d %%{http_code} %%{time_total}\\n' '%s/membership/' &")
      :format(server.api_key, cjson.encode(body), base, i, i, server.http_url)
  end
  local t0 = core.now()
  local p = assert(io.popen(table.concat(cmds, " ") .. " wait"))
  local out = p:read("*a")
  p:close()
  local elapsed = core.now() - t0
  local results = {}
  for line in out:gmatch("[^\n]+") do
    local i, status, time = line:match("^(%d+) (%d+) ([%d.]+)$")
    assert(i, "unexpected curl output: " .. line)
    local f = io.open(base .. "." .. i, "rb")
    results[tonumber(i)] = { status = tonumber(status), time = tonumber(time), body = f and f:read("*a") }
    if f then f:close() end
  end
  for i = 1, #bodies do os.remove(base .. "." .. i) end
  os.remove(base)
  for i = 1, #bodies do assert(results[i], "no answer to request " .. i) end
  return results, elapsed
end

describe("the local server's limits", function()
  before_each(function() server.reset() end)

  it("has Close's defaults after a reset", function()
    assert.same({ rate_limit = 1000, rate_window = 1, org_rate_limit = 3000, rate_limit_body = "json",
                  retry_after = false, latency = 0, latency_jitter = 0, token_lifetime = 3600 },
                server.config{})
    local rl = ratelimit(api("GET", "/me/"))
    assert.equal(1000, rl.limit)
    assert.equal(999, rl.remaining)
  end)

  it("refuses config values out of range", function()
    for _, bad in ipairs{ { org_rate_limit = -1 }, { org_rate_limit = 1.5 }, { rate_limit_body = "xml" },
                          { retry_after = "yes" }, { latency = -0.1 }, { latency = 10.5 },
                          { latency_jitter = 11 }, { latency = "1" } } do
      assert.equal(400, control_post("/config", bad).status)
    end
    assert.same(0, server.config{}.latency)
  end)

  describe("per API key and endpoint group", function()
    it("exhausts POST /membership/ while GET /me/ still answers", function()
      server.config{ rate_limit = 3, rate_window = 1 }
      window_start(1)
      for i = 1, 3 do
        local res = create("g" .. i .. "@acme.com")
        assert.equal(200, res.status)
        local rl = ratelimit(res)
        assert.equal(3, rl.limit)
        assert.equal(3 - i, rl.remaining)
      end
      -- refused calls count nowhere: neither in the group nor the organization
      for i = 4, 12 do
        local res = create("g" .. i .. "@acme.com")
        assert.equal(429, res.status)
        assert.equal(0, ratelimit(res).remaining)
      end
      for i = 1, 3 do
        local res = api("GET", "/me/")
        assert.equal(200, res.status)
        assert.equal(3 - i, ratelimit(res).remaining)
      end
      assert.equal(200, api("GET", "/role/").status)
      -- the refused creates made nothing
      local emails = {}
      for _, m in ipairs(server.state().memberships) do emails[m.email] = true end
      assert.is_true(emails["g3@acme.com"])
      assert.is_nil(emails["g4@acme.com"])
    end)

    it("groups paths by template, ids replaced", function()
      server.config{ rate_limit = 2, rate_window = 1 }
      local members = server.state().memberships
      local a, b = members[2].id, members[3].id
      window_start(1)
      local change = { body = { track_email_opens = false } }
      assert.equal(200, api("PUT", "/membership/" .. a .. "/", change).status)
      assert.equal(200, api("PUT", "/membership/" .. b .. "/", change).status)
      assert.equal(429, api("PUT", "/membership/" .. a .. "/", change).status)
      -- another method, another path under the id, another id kind: other groups
      assert.equal(200, api("GET", "/membership/" .. a .. "/pinned_views/").status)
      assert.equal(200, api("GET", "/role/" .. ROLE_ID .. "/").status)
      assert.equal(200, api("GET", "/role/" .. OTHER_ROLE_ID .. "/").status)
      assert.equal(429, api("GET", "/role/" .. ROLE_ID .. "/").status)
      assert.equal(200, api("GET", "/organization/" .. ORG_ID .. "/").status)
      assert.same({
        ["PUT /api/v1/membership/{id}/"] = 3,
        ["GET /api/v1/membership/{id}/pinned_views/"] = 1,
        ["GET /api/v1/role/{id}/"] = 3,
        ["GET /api/v1/organization/{id}/"] = 1,
      }, server.stats().by_group)
    end)

    it("starts afresh with the next window, fractional windows too", function()
      server.config{ rate_limit = 1, rate_window = 0.5 }
      window_start(0.5)
      assert.equal(200, api("GET", "/me/").status)
      local res = api("GET", "/me/")
      assert.equal(429, res.status)
      local rl = ratelimit(res)
      assert.is_true(rl.reset > 0 and rl.reset <= 0.5, "reset " .. rl.reset)
      core.sleep(rl.reset + 0.02)
      assert.equal(200, api("GET", "/me/").status)
    end)
  end)

  describe("per organization", function()
    it("allows 3 times the key's limit across groups", function()
      assert.equal(9, server.config{ rate_limit = 3, rate_window = 1 }.org_rate_limit)
      window_start(1)
      for _, path in ipairs{ "/me/", "/role/" } do
        for i = 1, 3 do
          local res = api("GET", path)
          assert.equal(200, res.status)
          assert.equal(3 - i, ratelimit(res).remaining)
        end
      end
      -- 6 of the organization's 9 used: the header tells the nearer limit
      for i = 1, 3 do
        local res = api("GET", "/organization/" .. ORG_ID .. "/")
        assert.equal(200, res.status)
        assert.equal(3 - i, ratelimit(res).remaining)
      end
      local res = api("GET", "/role/" .. ROLE_ID .. "/")
      assert.equal(429, res.status)
      local rl = ratelimit(res)
      assert.equal(3, rl.limit)
      assert.equal(0, rl.remaining)
      local e = cjson.decode(res.body).error
      assert.equal("organization", e.rate_limit_type)
      assert.equal(9, e.rate_limit)
      assert.equal("API call count exceeded for this period", e.message)
      assert.equal(429, create("org@acme.com").status)
    end)

    it("takes an override, and null restores 3 times the key's limit", function()
      assert.equal(4, server.config{ rate_limit = 3, rate_window = 1, org_rate_limit = 4 }.org_rate_limit)
      window_start(1)
      for _ = 1, 3 do assert.equal(200, api("GET", "/me/").status) end
      local res = api("GET", "/role/")
      assert.equal(200, res.status)
      assert.equal(0, ratelimit(res).remaining)      -- the organization's last call
      res = api("GET", "/role/")
      assert.equal(429, res.status)
      assert.equal("organization", cjson.decode(res.body).error.rate_limit_type)
      assert.equal(9, server.config{ org_rate_limit = cjson.null }.org_rate_limit)
      assert.equal(6, server.config{ rate_limit = 2 }.org_rate_limit)
    end)
  end)

  describe("RateLimit and the 429", function()
    it("puts RateLimit on every authenticated API response", function()
      server.config{ rate_limit = 5, rate_window = 1 }
      window_start(1)
      local last = math.huge
      for _, c in ipairs{ { "GET", "/me/", 200 }, { "GET", "/nope/", 404 }, { "DELETE", "/me/", 405 },
                          { "POST", "/membership/", 415 } } do
        local res = api(c[1], c[2])
        assert.equal(c[3], res.status)
        local rl = ratelimit(res)
        assert.equal(5, rl.limit)
        assert.is_true(rl.remaining >= 4)
        assert.is_true(rl.reset > 0 and rl.reset <= 1, "reset " .. rl.reset)
        assert.is_true(rl.reset <= last)
        last = rl.reset
      end
      local res = api("GET", "/me/", { auth = false })
      assert.equal(401, res.status)
      assert.is_nil(res.headers["ratelimit"])        -- no key, no count
    end)

    it("answers Close's JSON by default, without Retry-After", function()
      server.config{ rate_limit = 1, rate_window = 1 }
      window_start(1)
      assert.equal(200, api("GET", "/me/").status)
      local res = api("GET", "/me/")
      assert.equal(429, res.status)
      assert.equal("application/json", res.headers["content-type"])
      assert.is_nil(res.headers["retry-after"])
      local rl = ratelimit(res)
      assert.equal(1, rl.limit)
      assert.equal(0, rl.remaining)
      local e = cjson.decode(res.body).error
      assert.equal("API call count exceeded for this period", e.message)
      assert.equal(rl.reset, e.rate_reset)
      assert.equal(1, e.rate_limit)
      assert.equal(1, e.rate_window)
      assert.equal("key", e.rate_limit_type)
    end)

    it("sends Retry-After in whole seconds, rounded up, when asked to", function()
      assert.is_true(server.config{ rate_limit = 1, rate_window = 2.5, retry_after = true }.retry_after)
      assert.equal(200, api("GET", "/me/").status)
      local res = api("GET", "/me/")
      if res.status == 200 then res = api("GET", "/me/") end   -- a window had just ended
      assert.equal(429, res.status)
      local rl = ratelimit(res)
      assert.matches("^%d+$", res.headers["retry-after"])
      assert.equal(math.ceil(rl.reset), tonumber(res.headers["retry-after"]))
      assert.is_true(rl.reset <= 2.5)
    end)

    it("varies the body: none, and json and none in turn", function()
      server.config{ rate_limit = 0, rate_limit_body = "none" }
      local res = api("GET", "/me/")
      assert.equal(429, res.status)
      assert.equal("", res.body)
      assert.equal(0, ratelimit(res).remaining)
      server.config{ rate_limit_body = "alternate" }
      for i = 1, 4 do
        res = api("GET", "/me/")
        assert.equal(429, res.status)
        assert.is_table(ratelimit(res))
        if i % 2 == 1 then
          assert.equal("API call count exceeded for this period", cjson.decode(res.body).error.message)
        else
          assert.equal("", res.body)
        end
      end
      assert.equal("json", server.config{ rate_limit_body = "json" }.rate_limit_body)
      assert.is_table(cjson.decode(api("GET", "/me/").body).error)
    end)
  end)

  describe("latency", function()
    it("delays every API request", function()
      server.config{ latency = 0.1 }
      for _ = 1, 3 do
        local res, elapsed = api("GET", "/me/")
        assert.equal(200, res.status)
        assert.is_true(elapsed >= 0.095 and elapsed < 3, "took " .. elapsed)
      end
      local _, elapsed = api("GET", "/me/", { auth = false })
      assert.is_true(elapsed >= 0.095, "a 401 took " .. elapsed)
    end)

    it("adds up to latency_jitter", function()
      server.config{ latency = 0.05, latency_jitter = 0.1 }
      local min, max = math.huge, 0
      for _ = 1, 6 do
        local _, elapsed = api("GET", "/role/")
        min, max = math.min(min, elapsed), math.max(max, elapsed)
      end
      assert.is_true(min >= 0.045, "fastest " .. min)
      assert.is_true(max < 3, "slowest " .. max)
    end)

    it("delays the token endpoint", function()
      server.config{ latency = 0.1 }
      local t0 = core.now()
      local res, err = http:request{ method = "POST", url = server.token_url, ca_file = server.ca,
        headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }, body = "grant_type=password",
        timeout = 5, connect_timeout = 2 }
      local elapsed = core.now() - t0
      assert(res, err and err.message)
      assert.equal(401, res.status)
      assert.is_true(elapsed >= 0.095 and elapsed < 3, "took " .. elapsed)
    end)

    it("overlaps concurrent requests and still creates each membership once", function()
      server.config{ latency = 0.5 }
      -- three racing creates of one email, and three of others (a lost update
      -- would drop one of those)
      local bodies, emails = {}, { "race@acme.com", "race@acme.com", "race@acme.com",
                                   "race1@acme.com", "race2@acme.com", "race3@acme.com" }
      for i, e in ipairs(emails) do bodies[i] = { email = e, role_id = "user" } end
      local results, elapsed = concurrent_creates(bodies)
      local ids = {}
      for _, r in ipairs(results) do
        assert.equal(200, r.status)
        assert.is_true(r.time >= 0.49, "took " .. r.time)
        local m = cjson.decode(r.body)
        ids[m.id] = (ids[m.id] or 0) + 1
      end
      local distinct = 0
      for _ in pairs(ids) do distinct = distinct + 1 end
      assert.equal(4, distinct)
      assert.is_true(elapsed < 2, "6 requests of 0.5 s took " .. elapsed .. " s: not side by side")
      local count = {}
      for _, m in ipairs(server.state().memberships) do count[m.email] = (count[m.email] or 0) + 1 end
      assert.same({ 1, 1, 1, 1 }, { count["race@acme.com"], count["race1@acme.com"],
                                    count["race2@acme.com"], count["race3@acme.com"] })
      local stats = server.stats()
      assert.equal(6, stats.requests)
      assert.is_true(stats.max_concurrency >= 2 and stats.max_concurrency <= 6, "max " .. stats.max_concurrency)
      assert.equal(6, stats.connections)
      assert.same({ ["200"] = 6 }, stats.by_status)
      assert.same({ ["POST /api/v1/membership/"] = 6 }, stats.by_group)
    end)
  end)

  describe("/_test/stats", function()
    local function zero()
      return { requests = 0, by_status = {}, by_group = {}, max_concurrency = 0, in_flight = 0, connections = 0 }
    end

    it("counts requests by status and group, and a reset clears them", function()
      assert.same(zero(), server.stats())
      server.config{ rate_limit = 2, rate_window = 1 }
      window_start(1)
      api("GET", "/me/")
      api("GET", "/me/")
      api("GET", "/me/")                             -- 429
      api("GET", "/role/")
      api("GET", "/me/", { auth = false })            -- 401
      api("GET", "/nope/")                           -- 404
      assert.same({
        requests = 6,
        by_status = { ["200"] = 3, ["429"] = 1, ["401"] = 1, ["404"] = 1 },
        by_group = { ["GET /api/v1/me/"] = 4, ["GET /api/v1/role/"] = 1, ["GET /api/v1/nope/"] = 1 },
        max_concurrency = 1,
        in_flight = 0,
        connections = 1,                             -- one kept-alive connection
      }, server.stats())
      local other = core.http()
      api("GET", "/me/", { handle = other })
      other:close()
      assert.equal(2, server.stats().connections)
      server.reset()
      assert.same(zero(), server.stats())
    end)

    it("counts a request out however it ends", function()
      server.faults{ { mode = "reset" } }
      -- a fresh connection: on a reused one libcurl would send the request again
      local res = api("GET", "/me/", { may_fail = true, handle = core.http() })
      assert.is_nil(res)
      -- a client that gives up during the latency
      server.config{ latency = 1 }
      res = api("GET", "/me/", { may_fail = true, timeout = 0.2, handle = core.http() })
      assert.is_nil(res)
      local stats
      for _ = 1, 40 do                               -- at most ~2 s
        stats = server.stats()
        if stats.in_flight == 0 then break end
        core.sleep(0.05)
      end
      assert.equal(0, stats.in_flight)
      assert.equal(2, stats.requests)
      assert.equal(1, stats.by_status["444"])         -- closed by the fault
      assert.equal(1, stats.by_status["499"])         -- nginx: the client went away
      assert.equal(1, stats.max_concurrency)
    end)
  end)
end)
