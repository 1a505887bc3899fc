-- Retries: which wait wins, backoff with jitter, caps, the deadline, the
-- on_attempt hook, and close.core's retry_decide / wait_hint / ratelimit.
-- The fake sleep moves the fake clock and never sleeps.

local fake = require "spec.unit.support.fake"
local core = require "close.core"

local URL = fake.URL

local function run(script, opts)
  local h = fake.harness(script, opts)
  local m, err, meta = fake.create(h)
  return h, m, err, meta
end

local function sources(h)
  local out = {}
  for i, info in ipairs(h.hooks) do out[i] = info.wait_source or false end
  return out
end

describe("the wait before a retry", function()
  it("takes Retry-After seconds over RateLimit and the body's rate_reset", function()
    local headers = { ["retry-after"] = "2", ratelimit = "limit=20, remaining=0, reset=5" }
    local h, m, err = run({ fake.status(429, '{"rate_reset": "7"}', headers) }, { max_retries = 2 })
    assert.is_nil(m)
    assert.are.same({ 2, 2 }, h.waits)
    assert.are.same({ "retry-after", "retry-after", false }, sources(h))
    assert.are.equal("rate_limited", err.kind)
    assert.are.equal(3, err.attempts)
    assert.are.equal(2, err.retry_after)
    assert.are.same({ limit = 20, remaining = 0, reset = 5 }, err.rate_limit)
    assert.are.equal('HTTP 429: {"rate_reset": "7"}', err.message)
    assert.are.equal('close: rate_limited: HTTP 429: {"rate_reset": "7"} (POST ' .. URL
      .. ", status 429, 3 attempts, retry after 2s)", tostring(err))
  end)

  it("measures a Retry-After HTTP-date against the response's Date header", function()
    local headers = { ["retry-after"] = "Wed, 21 Oct 2015 07:28:07 GMT", date = "Wed, 21 Oct 2015 07:28:00 GMT" }
    local h = fake.harness({ fake.status(503, "", headers), fake.ok() })
    h.wall = fake.WALL + 3600 -- the local wall clock is an hour off: the server's Date must be used
    local m = fake.create(h)
    assert.are.same(fake.decode(fake.MEMBERSHIP), m)
    assert.are.same({ 7 }, h.waits)
    assert.are.same({ "retry-after", false }, sources(h))
  end)

  it("measures a Retry-After HTTP-date against the wall clock when there is no Date header", function()
    local h = fake.harness({ fake.status(429, "", { ["retry-after"] = "Wed, 21 Oct 2015 07:28:04 GMT" }), fake.ok() })
    fake.create(h) -- fake.WALL is 07:28:00
    assert.are.same({ 4 }, h.waits)
  end)

  it("waits 0 for a Retry-After HTTP-date in the past", function()
    local headers = { ["retry-after"] = "Wed, 21 Oct 2015 07:27:00 GMT", date = "Wed, 21 Oct 2015 07:28:00 GMT" }
    local h = fake.harness({ fake.status(503, "", headers), fake.ok() })
    fake.create(h)
    assert.are.same({ 0 }, h.waits)
  end)

  it("takes RateLimit's fractional reset: limit=20, remaining=0, reset=1.25 waits 1.25", function()
    local h, m = run({ fake.status(429, "", { ratelimit = "limit=20, remaining=0, reset=1.25" }), fake.ok() })
    assert.are.same(fake.decode(fake.MEMBERSHIP), m)
    assert.are.same({ 1.25 }, h.waits)
    assert.are.same({ "ratelimit", false }, sources(h))
  end)

  it("takes the new RateLimit format's t with RateLimit-Policy's q as the limit", function()
    local headers = { ratelimit = '"default";r=0;t=7', ["ratelimit-policy"] = '"default";q=100;w=10' }
    local h, _, err = run({ fake.status(429, "", headers) }, { max_retries = 1 })
    assert.are.same({ 7 }, h.waits)
    assert.are.same({ "ratelimit", false }, sources(h))
    assert.are.same({ limit = 100, remaining = 0, reset = 7 }, err.rate_limit)
    assert.are.equal(7, err.retry_after)
  end)

  it("takes X-Rate-Limit-Reset", function()
    local headers = { ["x-rate-limit-limit"] = "20", ["x-rate-limit-remaining"] = "0", ["x-rate-limit-reset"] = "3" }
    local h, _, err = run({ fake.status(429, "", headers) }, { max_retries = 1 })
    assert.are.same({ 3 }, h.waits)
    assert.are.same({ "x-rate-limit-reset", false }, sources(h))
    assert.are.same({ limit = 20, remaining = 0, reset = 3 }, err.rate_limit)
  end)

  it("takes the body's top-level rate_reset given as a string", function()
    local body = '{"message": "API rate limit exceeded", "rate_reset": "0.595956", "rate_limit": 320,'
      .. ' "rate_window": 8, "rate_endpoint_group": "g"}'
    local h, _, err = run({ fake.status(429, body) }, { max_retries = 1 })
    assert.are.same({ 0.595956 }, h.waits)
    assert.are.same({ "body", false }, sources(h))
    assert.are.equal("API rate limit exceeded", err.message)
    assert.are.equal(0.595956, err.retry_after)
  end)

  it("takes the body's rate_reset nested under error, given as a number", function()
    local body = '{"error": {"rate_reset": 1, "message": "Rate limit exceeded", "rate_limit": 600, "rate_window": 15}}'
    local h, _, err = run({ fake.status(429, body) }, { max_retries = 1 })
    assert.are.same({ 1 }, h.waits)
    assert.are.same({ "body", false }, sources(h))
    assert.are.equal("Rate limit exceeded", err.message)
    assert.are.equal(1, err.retry_after)
  end)

  it("ignores a rate_reset that is not a number", function()
    local h = run({ fake.status(429, '{"rate_reset": "soon"}'), fake.ok() })
    assert.are.same({ 0.375 }, h.waits)
    assert.are.same({ "backoff", false }, sources(h))
  end)

  it("without a hint backs off 0.5 * 2^(n-1) with equal jitter: 0.375, 0.75, 1.5", function()
    local h, _, err = run({ fake.status(503) })
    assert.are.same({ 0.375, 0.75, 1.5 }, h.waits)
    assert.are.same({ "backoff", "backoff", "backoff", false }, sources(h))
    assert.are.equal(4, err.attempts)
    assert.is_nil(err.retry_after)
  end)

  it("puts the jitter in the upper half: random() = 0 gives half the backoff", function()
    local h = run({ fake.status(503) }, { random = function() return 0 end })
    assert.are.same({ 0.25, 0.5, 1 }, h.waits)
  end)

  it("scales with backoff_base", function()
    local h = run({ fake.status(503) }, { backoff_base = 2 })
    assert.are.same({ 1.5, 3, 6 }, h.waits)
  end)

  it("caps the backoff at max_wait", function()
    local h = run({ fake.status(502) }, { backoff_base = 1, max_wait = 2, max_retries = 5 })
    assert.are.same({ 0.75, 1.5, 1.5, 1.5, 1.5 }, h.waits)
  end)

  it("waits a hint equal to max_wait", function()
    local h = run({ fake.status(429, "", { ["retry-after"] = "30" }), fake.ok() })
    assert.are.same({ 30 }, h.waits)
  end)

  it("ends the call at once when the hint is longer than max_wait", function()
    local h, m, err = run({ fake.status(429, "", { ["retry-after"] = "45" }), fake.ok() })
    assert.is_nil(m)
    assert.are.same({}, h.waits)
    assert.are.equal(1, #h.calls)
    assert.are.equal("rate_limited", err.kind)
    assert.are.equal(429, err.status)
    assert.are.equal(1, err.attempts)
    assert.are.equal(45, err.retry_after)
    assert.are.equal("HTTP 429 (the server asks to wait 45s, more than max_wait 30s)", err.message)
    assert.truthy(err.message:find("max_wait", 1, true))
    assert.are.equal("close: rate_limited: HTTP 429 (the server asks to wait 45s, more than max_wait 30s) (POST "
      .. URL .. ", status 429, retry after 45s)", tostring(err))
  end)

  it("compares the hint with the client's max_wait", function()
    local h, _, err = run({ fake.status(429, "", { ["retry-after"] = "3" }) }, { max_wait = 2.5 })
    assert.are.same({}, h.waits)
    assert.are.equal("HTTP 429 (the server asks to wait 3s, more than max_wait 2.5s)", err.message)
  end)

  it("does not read a wait hint on a response that is not retried", function()
    local headers = { ["retry-after"] = "5", ratelimit = "limit=20, remaining=0, reset=5" }
    local h, _, err = run({ fake.status(400, '{"errors": ["No."], "rate_reset": 3}', headers) })
    assert.are.equal(1, #h.calls)
    assert.is_nil(err.retry_after)
    assert.are.equal("No.", err.message)
    assert.are.same({ limit = 20, remaining = 0, reset = 5 }, err.rate_limit)
  end)

  it("backs off on a 503 whose RateLimit window is not exhausted (remaining > 0)", function()
    -- reset is when the window renews, not a wait the server asks for: with
    -- requests remaining, a 503 is an ordinary server failure
    local h, _, err = run({ fake.status(503, "", { ratelimit = "limit=100, remaining=50, reset=5" }) })
    assert.are.same({ 0.375, 0.75, 1.5 }, h.waits)
    assert.is_nil(err.retry_after)
  end)

  it("waits for the RateLimit reset on a 503 when the window is exhausted", function()
    local h = run({ fake.status(503, "", { ratelimit = "limit=100, remaining=0, reset=5" }), fake.ok() })
    assert.are.same({ 5 }, h.waits)
  end)
end)

describe("the deadline", function()
  it("stops before a retry that would pass it, and bounds each attempt's timeout by what remains", function()
    local h = fake.harness({ fake.status(503) }, { deadline = 5 })
    h.advance = 2 -- every transport call takes 2 seconds
    local m, err = fake.create(h)
    assert.is_nil(m)
    -- attempt 1 at 0..2, wait 0.375, attempt 2 at 2.375..4.375; 4.375 + 0.75 >= 5: stop
    assert.are.equal(2, #h.calls)
    assert.are.same({ 0.375 }, h.waits)
    assert.are.equal(5, h.calls[1].timeout)
    assert.are.equal(5, h.calls[1].connect_timeout)
    assert.are.equal(2.625, h.calls[2].timeout)
    assert.are.equal(2.625, h.calls[2].connect_timeout)
    assert.are.equal("server", err.kind)
    assert.are.equal(503, err.status)
    assert.are.equal(2, err.attempts)
    assert.are.equal("HTTP 503 (a retry would pass the deadline of 5s)", err.message)
    assert.are.equal("close: server: HTTP 503 (a retry would pass the deadline of 5s) (POST " .. URL
      .. ", status 503, 2 attempts)", tostring(err))
  end)

  it("passes min(timeout, remaining) and min(connect_timeout, remaining)", function()
    local h = fake.harness({ fake.fail("timeout", "timed out") }, { deadline = 20, timeout = 8, connect_timeout = 3 })
    h.advance = 8
    local _, err = fake.create(h)
    -- 0..8, wait .375, 8.375..16.375, 16.375 + 1.5 < 20: wait .75, 17.125..25.125
    assert.are.same({ 8, 8, 2.875 }, { h.calls[1].timeout, h.calls[2].timeout, h.calls[3].timeout })
    assert.are.same({ 3, 3, 2.875 }, { h.calls[1].connect_timeout, h.calls[2].connect_timeout,
      h.calls[3].connect_timeout })
    assert.are.equal("timeout", err.kind)
    assert.are.equal(3, err.attempts)
    assert.are.equal("timed out (a retry would pass the deadline of 20s)", err.message)
  end)

  it("stops before a hinted wait that would reach it", function()
    local h, _, err = run({ fake.status(429, "", { ["retry-after"] = "10" }) }, { deadline = 10 })
    assert.are.equal(1, #h.calls)
    assert.are.same({}, h.waits)
    assert.are.equal("HTTP 429 (a retry would pass the deadline of 10s)", err.message)
    assert.are.equal(10, err.retry_after)
  end)

  it("retries with a hinted wait that stays within it", function()
    local h, _, err = run({ fake.status(429, "", { ["retry-after"] = "9.5" }) }, { deadline = 10 })
    assert.are.equal(2, #h.calls)
    assert.are.same({ 9.5 }, h.waits)
    assert.are.equal(0.5, h.calls[2].timeout)
    assert.are.equal(2, err.attempts)
  end)

  it("gives a timeout error when a sleep overshoots it", function()
    local h = fake.harness({ fake.status(503) }, { deadline = 5 })
    h.oversleep = 10
    local m, err = fake.create(h)
    assert.is_nil(m)
    assert.are.equal(1, #h.calls)
    assert.are.equal("timeout", err.kind)
    assert.are.equal("deadline of 5s passed", err.message)
    assert.are.equal(1, err.attempts)
    assert.are.equal("POST", err.method)
    assert.are.equal(URL, err.url)
  end)

  it("does not raise when a transport error without a message meets the deadline", function()
    local h = fake.harness({ { err = { kind = "timeout" } } }, { deadline = 5 })
    h.advance = 4.5
    local ok, m, err = pcall(fake.create, h)
    assert.is_true(ok, tostring(m))
    assert.is_nil(m)
    assert.are.equal("timeout", err.kind)
    -- 4.5 + a 0.375 wait still fits the 5 s deadline; the second attempt does not
    assert.are.equal(2, err.attempts)
    assert.are.equal("string", type(err.message))
  end)
end)

describe("max_retries", function()
  for _, step in ipairs({ fake.status(503), fake.status(429), fake.fail("timeout", "t"), fake.fail("network", "n") }) do
    it("= 0 makes a single attempt (" .. (step.status or step.err.kind) .. ")", function()
      local h, m, err = run({ step, fake.ok() }, { max_retries = 0 })
      assert.is_nil(m)
      assert.are.equal(1, #h.calls)
      assert.are.same({}, h.waits)
      assert.are.equal(1, err.attempts)
    end)
  end

  it("= 5 makes six attempts", function()
    local h, _, err = run({ fake.status(504) }, { max_retries = 5, max_wait = 1 })
    assert.are.equal(6, #h.calls)
    assert.are.same({ 0.375, 0.75, 0.75, 0.75, 0.75 }, h.waits)
    assert.are.equal(6, err.attempts)
  end)
end)

describe("the on_attempt hook", function()
  it("sees every attempt with its status, kind, duration, wait and wait source", function()
    local h = fake.harness({
      fake.status(503),
      fake.fail("network", "reset by peer"),
      fake.status(429, "", { ["retry-after"] = "2", ratelimit = "limit=20, remaining=0, reset=2" }),
      fake.ok(fake.MEMBERSHIP, { ratelimit = "limit=20, remaining=19, reset=9" }),
    })
    h.advance = 0.25
    local m, err, meta = fake.create(h)
    assert.is_nil(err)
    assert.are.same(fake.decode(fake.MEMBERSHIP), m)
    assert.are.equal(4, meta.attempts)
    assert.are.equal(0.25 * 4 + 0.375 + 0.75 + 2, meta.duration)
    assert.are.same({
      { method = "POST", url = URL, attempt = 1, status = 503, kind = "server", duration = 0.25,
        wait = 0.375, wait_source = "backoff" },
      { method = "POST", url = URL, attempt = 2, kind = "network", duration = 0.25,
        wait = 0.75, wait_source = "backoff" },
      { method = "POST", url = URL, attempt = 3, status = 429, kind = "rate_limited", duration = 0.25,
        wait = 2, wait_source = "retry-after", rate_limit = { limit = 20, remaining = 0, reset = 2 } },
      { method = "POST", url = URL, attempt = 4, status = 200, duration = 0.25,
        rate_limit = { limit = 20, remaining = 19, reset = 9 } },
    }, h.hooks)
  end)

  it("sees the last failed attempt without a wait", function()
    local h = run({ fake.status(500, '{"error": "boom"}') })
    assert.are.same({
      { method = "POST", url = URL, attempt = 1, status = 500, kind = "server", duration = 0 },
    }, h.hooks)
  end)

  it("is not called for an argument refused before sending", function()
    local h = fake.harness({})
    fake.create(h, { email = "x", role_id = "user" })
    assert.are.same({}, h.hooks)
  end)

  local AUTHS = { { api_key = "hook_secret_KEY_5a6b7c8d9e" }, { oauth_token = "hook_secret_TOKEN_f0e1d2c3" } }
  for _, auth in ipairs(AUTHS) do
    local secret = auth.api_key or auth.oauth_token
    it("never sees a credential (" .. (auth.api_key and "api_key" or "oauth_token") .. ")", function()
      local h = run({ fake.status(503), fake.fail("timeout", "t"), fake.status(429, "", { ["retry-after"] = "1" }),
        fake.ok() }, auth)
      assert.are.equal(4, #h.hooks)
      local header = h.calls[1].headers.Authorization
      local text = fake.serialize(h.hooks)
      for _, s in ipairs({ secret, header, (header:gsub("^%S+ ", "")), fake.base64(secret .. ":") }) do
        assert.is_nil(fake.leak(text, s), s)
      end
    end)
  end
end)

describe("close.core.retry_decide", function()
  local base = { attempt = 1, max_retries = 3, status = 503, kind = "server", idempotent = true, elapsed = 0,
    deadline = 60,
    backoff_base = 0.5, max_wait = 30, random = 0.5 }
  local function decide(over)
    local t = {}
    for k, v in pairs(base) do t[k] = v end
    for k, v in pairs(over or {}) do t[k] = v end
    return { core.retry_decide(t) }
  end

  it("retries with equal-jitter backoff", function()
    assert.are.same({ 0.375, "retry", 0.375 }, decide())
    assert.are.same({ 0.75, "retry", 0.75 }, decide({ attempt = 2 }))
    assert.are.same({ 1.5, "retry", 1.5 }, decide({ attempt = 3 }))
    assert.are.same({ 0.25, "retry", 0.25 }, decide({ random = 0 }))
  end)

  it("caps the backoff at max_wait even after very many attempts", function()
    assert.are.same({ 22.5, "retry", 22.5 }, decide({ attempt = 100000, max_retries = 1000000 }))
    assert.are.same({ 3, "retry", 3 }, decide({ attempt = 10, max_retries = 20, max_wait = 4 }))
  end)

  it("stops when not retryable, with a wait of 0", function()
    assert.are.same({ nil, "not_retryable", 0 }, decide({ status = 500 }))
    assert.are.same({ nil, "not_retryable", 0 }, decide({ status = 500, hint = 5 }))
  end)

  it("stops after max_retries, telling the wait it would have needed", function()
    assert.are.same({ nil, "attempts", 3 }, decide({ attempt = 4 }))
    assert.are.same({ nil, "attempts", 0.375 }, decide({ max_retries = 0 }))
    assert.are.same({ nil, "attempts", 2 }, decide({ attempt = 4, hint = 2 }))
  end)

  it("uses a numeric hint as it is, and takes a negative or NaN hint for none", function()
    assert.are.same({ 2, "retry", 2 }, decide({ hint = 2 }))
    assert.are.same({ 0, "retry", 0 }, decide({ hint = 0 }))
    assert.are.same({ 0.375, "retry", 0.375 }, decide({ hint = -3 }))
    assert.are.same({ 0.375, "retry", 0.375 }, decide({ hint = 0 / 0 }))
    assert.are.same({ 30, "retry", 30 }, decide({ hint = 30 }))
  end)

  it("ignores a hint that is not a number", function()
    assert.are.same({ 0.375, "retry", 0.375 }, decide({ hint = "5" }))
    assert.are.same({ 0.375, "retry", 0.375 }, decide({ hint = true }))
  end)

  it("stops on a hint beyond max_wait, before anything else but retryable", function()
    assert.are.same({ nil, "wait_cap", 45 }, decide({ hint = 45 }))
    assert.are.same({ nil, "wait_cap", 45 }, decide({ hint = 45, attempt = 9 }))
    -- an infinite hint is capped to a finite number: every wait reported is finite
    assert.are.same({ nil, "wait_cap", 1e12 }, decide({ hint = math.huge }))
  end)

  it("stops when the wait would reach the deadline", function()
    assert.are.same({ nil, "deadline", 0.375 }, decide({ elapsed = 59.625 }))
    assert.are.same({ 0.375, "retry", 0.375 }, decide({ elapsed = 59.5 }))
    assert.are.same({ nil, "deadline", 10 }, decide({ hint = 10, deadline = 10 }))
  end)

  it("has defaults for missing fields", function()
    -- attempt 1, max_retries 0: no retry allowed
    assert.are.same({ nil, "attempts", 0.25 }, { core.retry_decide({ status = 503, idempotent = true }) })
    assert.are.same({ nil, "not_retryable", 0 }, { core.retry_decide({}) })
  end)

  it("refuses a non-table", function()
    assert.has_error(function() core.retry_decide(nil) end)
    assert.has_error(function() core.retry_decide(5) end)
  end)

  it("retries 429, 502, 503, 504, timeout and network only, and never a malformed response", function()
    for _, s in ipairs({ 429, 502, 503, 504 }) do assert.are.equal("retry", decide({ status = s })[2], s) end
    for _, s in ipairs({ 200, 400, 401, 403, 404, 405, 415, 500, 501, 505, 599 }) do
      assert.are.equal("not_retryable", decide({ status = s, kind = "api" })[2], s)
    end
    for _, k in ipairs({ "timeout", "network" }) do assert.are.equal("retry", decide({ status = 0, kind = k })[2]) end
    for _, k in ipairs({ "tls", "protocol", "auth" }) do
      assert.are.equal("not_retryable", decide({ status = 0, kind = k })[2])
    end
    assert.are.equal("not_retryable", decide({ status = 503, kind = "protocol" })[2])
  end)

  it("repeats a call that is not idempotent only after a 429", function()
    assert.are.same({ 0.375, "retry", 0.375 }, decide({ idempotent = false, status = 429, kind = "rate_limited" }))
    for _, s in ipairs({ 502, 503, 504 }) do
      assert.are.same({ nil, "not_retryable", 0 }, decide({ idempotent = false, status = s }))
    end
    assert.are.same({ nil, "not_retryable", 0 }, decide({ idempotent = false, status = 0, kind = "timeout" }))
  end)

  it("re-authorizes after a 401 at once, once, and that attempt is not one of the retries", function()
    assert.are.same({ 0, "reauthorize", 0 }, decide({ status = 401, kind = "auth", can_reauthorize = true }))
    assert.are.same({ 0, "reauthorize", 0 },
      decide({ status = 401, kind = "auth", can_reauthorize = true, idempotent = false, max_retries = 0 }))
    assert.are.same({ nil, "not_retryable", 0 },
      decide({ status = 401, kind = "auth", can_reauthorize = true, reauthorized = true }))
    assert.are.same({ nil, "not_retryable", 0 }, decide({ status = 401, kind = "auth" }))
    -- attempt 2 after a re-authorization counts as the first
    assert.are.same({ 0.375, "retry", 0.375 }, decide({ attempt = 2, reauthorized = true }))
    assert.are.same({ 1.5, "retry", 1.5 }, decide({ attempt = 4, max_retries = 3, reauthorized = true }))
    assert.are.same({ nil, "attempts", 3 }, decide({ attempt = 5, max_retries = 3, reauthorized = true }))
  end)

  it("draws the jitter from a generator it is given", function()
    local r = core.rng()
    local wait, verdict = core.retry_decide({ status = 503, idempotent = true, max_retries = 1, random = r })
    assert.are.equal("retry", verdict)
    assert.is_true(wait >= 0.25 and wait < 0.5)
    assert.has_error(function() core.retry_decide({ random = core.http() }) end)
    assert.has_error(function() core.retry_decide({ random = "0.5" }) end)
  end)
end)

-- the wait hint and rate limit that close.core.interpret reads
local function wait_hint(status, headers, body_reset, now)
  local _, _, hint, source = core.interpret(status, headers, body_reset, now)
  return hint, source
end

local function ratelimit(headers)
  return select(5, core.interpret(200, headers))
end

describe("close.core.interpret: the wait hint", function()
  -- ("1,5" is left out: in a RateLimit header the comma ends the value)
  local GARBAGE = { "abc", "-1", "1e3", "inf", "nan", "0x10", "", " ", "+5", "5s", "1.2.3", "Infinity",
    "NaN", "-0", "1e308", "1000000001", "1234567890123456", "5 5", "\t", "0x", "1_000", "1e-3", "..5" }

  for _, v in ipairs(GARBAGE) do
    it(("ignores %q everywhere a number of seconds is read"):format(v), function()
      assert.is_nil(wait_hint(429, { ["retry-after"] = v }, nil, fake.WALL))
      assert.is_nil(wait_hint(429, { ratelimit = "limit=20, remaining=0, reset=" .. v }, nil, fake.WALL))
      assert.is_nil(wait_hint(429, { ratelimit = '"default";r=0;t=' .. v }, nil, fake.WALL))
      assert.is_nil(wait_hint(429, { ["x-rate-limit-reset"] = v }, nil, fake.WALL))
      assert.is_nil(wait_hint(429, {}, v, fake.WALL))
    end)
  end

  it("does not read a decimal comma in Retry-After or the body", function()
    assert.is_nil(wait_hint(429, { ["retry-after"] = "1,5" }, nil, 0))
    assert.is_nil(wait_hint(429, {}, "1,5", 0))
  end)

  it("reads plain seconds, with spaces around", function()
    assert.are.same({ 5, "retry-after" }, { wait_hint(429, { ["retry-after"] = "5" }, nil, 0) })
    assert.are.same({ 0, "retry-after" }, { wait_hint(429, { ["retry-after"] = "0" }, nil, 0) })
    assert.are.same({ 7, "retry-after" }, { wait_hint(429, { ["retry-after"] = " 7 " }, nil, 0) })
    assert.are.same({ 0.595956, "body" }, { wait_hint(429, {}, "0.595956", 0) })
    assert.are.same({ 1000000000, "retry-after" }, { wait_hint(429, { ["retry-after"] = "1000000000" }, nil, 0) })
  end)

  it("orders the sources: Retry-After, RateLimit, X-Rate-Limit-Reset, body", function()
    local all = { ["retry-after"] = "1", ratelimit = "limit=9, remaining=0, reset=2", ["x-rate-limit-reset"] = "3" }
    assert.are.same({ 1, "retry-after" }, { wait_hint(429, all, 4, 0) })
    all["retry-after"] = nil
    assert.are.same({ 2, "ratelimit" }, { wait_hint(429, all, 4, 0) })
    all.ratelimit = nil
    assert.are.same({ 3, "x-rate-limit-reset" }, { wait_hint(429, all, 4, 0) })
    all["x-rate-limit-reset"] = nil
    assert.are.same({ 4, "body" }, { wait_hint(429, all, 4, 0) })
    assert.is_nil(wait_hint(429, all, nil, 0))
  end)

  it("falls through a garbage source to the next one", function()
    assert.are.same({ 2, "ratelimit" },
      { wait_hint(429, { ["retry-after"] = "soon", ratelimit = "limit=9, remaining=0, reset=2" }, nil, 0) })
    assert.are.same({ 4, "body" }, { wait_hint(429, { ["x-rate-limit-reset"] = "-1" }, 4, 0) })
    -- a RateLimit header without reset is no hint
    assert.are.same({ 3, "x-rate-limit-reset" },
      { wait_hint(429, { ratelimit = "limit=9, remaining=0", ["x-rate-limit-reset"] = "3" }, nil, 0) })
  end)

  it("takes a numeric body rate_reset but not a negative or NaN one", function()
    assert.are.same({ 1, "body" }, { wait_hint(429, {}, 1, 0) })
    assert.are.same({ 0.25, "body" }, { wait_hint(429, {}, 0.25, 0) })
    assert.is_nil(wait_hint(429, {}, -1, 0))
    assert.is_nil(wait_hint(429, {}, 0 / 0, 0))
    assert.is_nil(wait_hint(429, {}, true, 0))
  end)

  it("reads Retry-After HTTP-dates against Date, else against now", function()
    local later = "Wed, 21 Oct 2015 07:28:07 GMT"
    assert.are.same({ 7, "retry-after" },
      { wait_hint(429, { ["retry-after"] = later, date = "Wed, 21 Oct 2015 07:28:00 GMT" }, nil, 0) })
    assert.are.same({ 7, "retry-after" }, { wait_hint(429, { ["retry-after"] = later }, nil, fake.WALL) })
    assert.are.same({ 2, "retry-after" },
      { wait_hint(429, { ["retry-after"] = later, date = "not a date" }, nil, fake.WALL + 5) })
    assert.are.same({ 0, "retry-after" }, { wait_hint(429, { ["retry-after"] = later }, nil, fake.WALL + 60) })
    -- across a month and a leap day
    assert.are.same({ 86400 + 1, "retry-after" }, { wait_hint(429, {
      ["retry-after"] = "Thu, 01 Mar 2024 00:00:00 GMT", date = "Wed, 28 Feb 2024 23:59:59 GMT" }, nil, 0) })
  end)

  for _, v in ipairs({ "Wed, 21 Oct 2015 07:28:07", "2015-10-21T07:28:07Z", "Wed, 32 Oct 2015 07:28:07 GMT",
    "Wed, 21 Foo 2015 07:28:07 GMT", "Wed, 21 Oct 2015 24:28:07 GMT", "Wednesday, 21-Oct-15 07:28:07 GMT" }) do
    it(("ignores the malformed HTTP-date %q"):format(v), function()
      assert.is_nil(wait_hint(429, { ["retry-after"] = v }, nil, fake.WALL))
    end)
  end

  it("ignores headers that are not strings, and raises for a headers argument that is not a table", function()
    assert.is_nil(wait_hint(429, { ["retry-after"] = 5 }, nil, 0))
    assert.has_error(function() wait_hint(429, nil, nil, 0) end,
      "bad argument #2 to 'interpret' (table expected, got nil)")
    assert.has_error(function() wait_hint(429, "retry-after: 5", nil, 0) end,
      "bad argument #2 to 'interpret' (table expected, got string)")
  end)
end)

describe("close.core.interpret: the rate-limit state", function()
  it("reads the draft-07 format with a fractional reset", function()
    assert.are.same({ limit = 20, remaining = 0, reset = 1.25 },
      ratelimit({ ratelimit = "limit=20, remaining=0, reset=1.25" }))
  end)

  it("reads keys in any case, in any order, quoted values too", function()
    assert.are.same({ limit = 100, remaining = 50, reset = 5 },
      ratelimit({ ratelimit = 'Reset=5;REMAINING="50", Limit=100' }))
  end)

  it("reads the new format with the policy's quota", function()
    assert.are.same({ limit = 100, remaining = 0, reset = 7 },
      ratelimit({ ratelimit = '"default";r=0;t=7', ["ratelimit-policy"] = '"default";q=100;w=10' }))
    assert.are.same({ remaining = 50, reset = 30 }, ratelimit({ ratelimit = '"default";r=50;t=30' }))
  end)

  it("reads X-Rate-Limit-* and fills what RateLimit lacks from them", function()
    assert.are.same({ limit = 20, remaining = 3, reset = 0.5 }, ratelimit({
      ["x-rate-limit-limit"] = "20", ["x-rate-limit-remaining"] = "3", ["x-rate-limit-reset"] = "0.5" }))
    assert.are.same({ limit = 100, remaining = 3, reset = 9 }, ratelimit({
      ratelimit = "limit=100", ["x-rate-limit-remaining"] = "3", ["x-rate-limit-reset"] = "9" }))
  end)

  it("keeps only what parses", function()
    assert.are.same({ limit = 100 }, ratelimit({ ratelimit = "limit=100, remaining=abc, reset=-1" }))
  end)

  it("is nil when nothing parses", function()
    assert.is_nil(ratelimit({}))
    assert.has_error(function() ratelimit(nil) end, "bad argument #2 to 'interpret' (table expected, got nil)")
    assert.is_nil(ratelimit({ ratelimit = "garbage" }))
    assert.is_nil(ratelimit({ ratelimit = "limit=abc, remaining=1e3, reset=0x10" }))
    assert.is_nil(ratelimit({ ["x-rate-limit-reset"] = "inf", ["x-rate-limit-limit"] = "nan" }))
    assert.is_nil(ratelimit({ ["ratelimit-policy"] = '"default";q=100;w=10' }))
  end)
end)

describe("close.core.interpret: kind and retryable", function()
  it("asks to come back later on 429, 502, 503 and 504 only", function()
    for _, s in ipairs({ 429, 502, 503, 504 }) do assert.is_true(select(2, core.interpret(s, {})), s) end
    for _, s in ipairs({ 200, 400, 401, 403, 404, 405, 415, 500, 501, 505, 599 }) do
      assert.is_false(select(2, core.interpret(s, {})), s)
    end
  end)

  it("gives a wait hint only for a status that asks to come back later", function()
    local h = { ["retry-after"] = "5", ratelimit = "limit=9, remaining=0, reset=2" }
    assert.are.same({ "server", false, nil, nil, { limit = 9, remaining = 0, reset = 2 } },
      { core.interpret(500, h, 4, 0) })
    assert.are.same({ "server", true, 5, "retry-after", { limit = 9, remaining = 0, reset = 2 } },
      { core.interpret(503, h, 4, 0) })
    -- on a 503 a rate-limit reset is a wait only when the window is spent
    assert.is_nil(wait_hint(503, { ratelimit = "limit=9, remaining=3, reset=2" }, nil, 0))
    assert.are.same({ 2, "x-rate-limit-reset" },
      { wait_hint(503, { ["x-rate-limit-remaining"] = "0", ["x-rate-limit-reset"] = "2" }) })
  end)

  it("reads the system clock when given none", function()
    local later = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 100)
    local hint = wait_hint(429, { ["retry-after"] = later })
    assert.is_true(hint > 90 and hint <= 100, hint)
  end)

  it("maps statuses to kinds", function()
    local want = { [200] = false, [201] = false, [299] = false, [400] = "bad_request", [401] = "auth",
      [402] = "api", [403] = "permission", [404] = "not_found", [405] = "api", [415] = "api", [429] = "rate_limited",
      [500] = "server", [503] = "server", [599] = "server", [300] = "api", [600] = "api", [100] = "api" }
    for status, kind in pairs(want) do
      assert.are.equal(kind or nil, (core.interpret(status, {})), status)
    end
  end)
end)
