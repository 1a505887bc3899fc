-- client:batch through libcurl's multi handle against the local server:
-- 200 concurrent items under connection resets, 503 bursts and 429 storms,
-- each item exactly one outcome, every email created once.
local close = require "close"
local server = require "spec.support.server"

local function emails(n, tag)
  local t = {}
  for i = 1, n do t[i] = ("%s%d@acme.com"):format(tag, i) end
  return t
end

local function create(client, email) return client:create_membership{ email = email, role_id = "user" } end

-- every membership of the organization by email
local function members()
  local by = {}
  for _, m in ipairs(server.state().memberships) do by[m.email] = (by[m.email] or 0) + 1 end
  return by
end

describe("client:batch over libcurl multi", function()
  local client
  before_each(function()
    server.reset()
    client = close.new{ api_key = server.api_key, base_url = server.https_url, ca_file = server.ca,
      backoff_base = 0.05, max_wait = 5 }
  end)
  after_each(function() client:close() end)

  it("200 items at once under resets, 503 bursts and a 429 storm: one outcome each, each email once", function()
    server.faults{
      { mode = "status", status = 503, times = 15, body = "upstream unavailable" },
      { mode = "reset", times = 10 },
      { mode = "status", status = 429, times = 25, headers = { ["Retry-After"] = "0.2" },
        body = '{"error": {"message": "API call count exceeded for this period", "rate_reset": 0.2}}' },
      { mode = "delay", seconds = 0, times = 1 },
    }
    local items = emails(200, "bulk")
    local seen = {}
    local out, err, meta = client:batch(items, create, { concurrency = 50,
      on_result = function(i) seen[i] = (seen[i] or 0) + 1 end })
    assert.is_nil(err)
    assert.equal(200, #out)
    local failed = {}
    for i = 1, 200 do
      assert.equal(1, seen[i])
      if not out[i].ok then failed[#failed + 1] = items[i] .. ": " .. tostring(out[i].err) end
    end
    assert.same({}, failed)
    assert.equal(0, meta.not_started)
    assert.is_true(meta.peak_concurrency > 1)
    local by = members()
    for _, e in ipairs(items) do assert.equal(1, by[e], e) end
  end)

  it("runs the calls concurrently: 40 items with 0.2 s of server delay each take far less than 8 s", function()
    server.faults{ { mode = "delay", seconds = 0.2, times = 40 } }
    local t0 = require("close.core").now()
    local out = client:batch(emails(40, "conc"), create, { concurrency = 20 })
    local took = require("close.core").now() - t0
    for i = 1, 40 do assert.is_true(out[i].ok, tostring(out[i].err)) end
    assert.is_true(took < 4, ("took %.2fs"):format(took)) -- sequential: 8 s; 20 at once: about 0.4 s
  end)

  it("stops starting items after a refused key; the rest are not_started", function()
    local bad = close.new{ api_key = "ck_wrong_key", base_url = server.https_url, ca_file = server.ca }
    local out, _, meta = bad:batch(emails(30, "stop"), create, { concurrency = 3 })
    local auth, not_started = 0, 0
    for i = 1, 30 do
      if out[i].err.kind == "auth" then auth = auth + 1 end
      if out[i].err.kind == "not_started" then not_started = not_started + 1 end
    end
    assert.equal(30, auth + not_started)
    assert.is_true(auth <= 3 + 1, tostring(auth))
    assert.equal(not_started, meta.not_started)
    assert.is_true(#server.requests() <= 4)
    bad:close()
  end)

  it("works for any call: ensure, update, deactivate and request in one batch", function()
    local created = assert(create(client, "mix@acme.com"))
    local calls = {
      function(c) return c:ensure_membership{ email = "mix2@acme.com", role_id = "user" } end,
      function(c) return c:update_membership(created.id, { role_id = "superuser" }) end,
      function(c) return c:request("GET", "/me/") end,
      function(c) return c:deactivate_membership(created.id) end,
    }
    local out = client:batch({ 1, 2, 3 }, function(c, i) return calls[i](c) end, { concurrency = 3 })
    for i = 1, 3 do assert.is_true(out[i].ok, tostring(out[i].err)) end
    local last = client:batch({ 4 }, function(c, i) return calls[i](c) end)
    assert.is_true(last[1].ok, tostring(last[1].err))
  end)
end)
