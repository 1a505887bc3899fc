-- Two close-scim nodes sharing Debian's redis-server (free port, private
-- directory, AOF on), against the local Close-compatible server: one
-- truth across nodes, and the faults of issue 16 (Redis unreachable at
-- start, a node killed with -9 mid-run behind the load balancer of
-- examples/scim-two-nodes.conf, Redis stopped for 5 s mid-run).
local scim = require "spec.openresty.support.scim"
local server = require "spec.support.server"
local nodes = require "spec.nodes.support"
local redis_server = require "spec.support.redis_server"

local function q(email) return "?filter=userName+eq+%22" .. email .. "%22" end

describe("two close-scim nodes on one Redis", function()
  before_each(function() server.reset() end)

  it("read at once what the other wrote: attributes, deletes, the index", function()
    local t = nodes.start()
    finally(function() nodes.stop(t) end)
    local a, b = t.nodes[1].base, t.nodes[2].base
    -- both have read the organization before the write (their index is warm)
    assert.equal(200, (scim.request("GET", a .. "/Users?count=1")))
    assert.equal(200, (scim.request("GET", b .. "/Users?count=1")))
    local status, doc = scim.request("POST", a .. "/Users", nodes.user("cross@acme.com", "Cross One"))
    assert.equal(201, status)
    local id = doc.id
    local _, list = scim.request("GET", b .. "/Users" .. q("cross@acme.com"))
    assert.equal(1, list.totalResults)
    assert.equal("Cross One", list.Resources[1].displayName)
    _, list = scim.request("GET", b .. "/Users?filter=externalId+eq+%22x-cross@acme.com%22")
    assert.equal(1, list.totalResults)
    status = scim.request("PATCH", b .. "/Users/" .. id, { schemas = { nodes.PATCH },
      Operations = { { op = "replace", path = "displayName", value = "Cross Two" } } })
    assert.equal(200, status)
    status, doc = scim.request("GET", a .. "/Users/" .. id)
    assert.equal(200, status)
    assert.equal("Cross Two", doc.displayName)
    -- a second POST of the address on the other node: the uniqueness rule holds across nodes
    assert.equal(409, (scim.request("POST", b .. "/Users", nodes.user("cross@acme.com", "Again"))))
    assert.equal(204, (scim.request("DELETE", a .. "/Users/" .. id)))
    assert.equal(404, (scim.request("GET", b .. "/Users/" .. id)))
    assert.is_false(nodes.memberships("cross@acme.com")[1].active)
    -- the state is in Redis, not in either state directory
    assert.is_nil(scim.read(t.nodes[1].state .. "/scim.db"))
    assert.is_nil(scim.read(t.nodes[2].state .. "/scim.db"))
  end)

  it("refuse to start when Redis cannot be reached: one line, exit 2, no password", function()
    local port = scim.free_port()
    local inst, out, failed = scim.start{ args = { "--redis", ("redis://:hush-9876@127.0.0.1:%d/0"):format(port) },
      env = nodes.API_ENV }
    assert.is_nil(inst)
    assert.equal(2, scim.status(failed))
    assert.equal(("close-scim: Redis at 127.0.0.1:%d/0 cannot be used: connection refused\n"):format(port), out)
    scim.sh("rm -rf " .. failed.dir)
  end)

  it("refuse to start with a wrong Redis password or a bad URL: one line, exit 2", function()
    local r = redis_server.start{ password = "right-pass-1" }
    local inst
    finally(function()
      scim.cleanup(inst)
      r:destroy()
    end)
    local out, i2
    inst, out, i2 = scim.start{ args = { "--redis", ("redis://:wrong-pass-2@127.0.0.1:%d/0"):format(r.port) },
      env = nodes.API_ENV }
    assert.is_nil(inst)
    assert.equal(2, scim.status(i2))
    assert.matches(("^close%%-scim: Redis at 127%%.0%%.0%%.1:%d/0 cannot be used: redis auth: [^\n]+\n$")
      :format(r.port), out)
    assert.is_nil(out:find("wrong-pass-2", 1, true))
    inst, out = scim.start{ args = { "--redis", "localhost:6379" }, env = nodes.API_ENV }
    assert.is_nil(inst)
    assert.equal("close-scim: --redis: the Redis URL must start with redis://\n", out)
    -- CLOSE_REDIS_PASSWORD is the password when the URL has none
    inst = assert(scim.start{ args = { "--redis", ("redis://127.0.0.1:%d/0"):format(r.port) },
      env = nodes.API_ENV .. " CLOSE_REDIS_PASSWORD=right-pass-1" })
    assert.equal(200, (scim.request("GET", inst.base .. "/Users?count=1")))
  end)

  describe("behind examples/scim-two-nodes.conf", function()
    local t

    it("which is README's load balancer block, line for line", function()
      local section = scim.read("README.md"):match("\n### Two nodes behind a load balancer\n(.-)\n## ")
      assert.is_string(section, "README has no section 'Two nodes behind a load balancer'")
      assert.equal(scim.read("examples/scim-two-nodes.conf"), section:match("```nginx\n(.-)```"))
    end)
    after_each(function() if t then nodes.stop(t) end t = nil end)

    it("keeps answering when one node is killed with -9 mid-run; each change reaches Close once", function()
      server.config{ latency = 0.05 }
      t = nodes.start()
      local lb = nodes.balance(t)
      local victim = t.nodes[1]
      local master = assert(scim.master(victim))
      local workers = scim.capture("pgrep -P " .. master):gsub("%s+", " ")
      -- the kill comes from outside, 1.5 s into the run
      assert(scim.sh(("(sleep 1.5; kill -9 %d %s) >/dev/null 2>&1 &"):format(master, workers)))
      local t0, n, answered, killed_at = os.time(), 40, {}, nil
      for i = 1, n do
        local email = ("kill%d@acme.com"):format(i)
        local status, doc, seen = nodes.send("POST", lb.base .. "/Users", nodes.user(email, "Kill " .. i),
          { ca_file = lb.ca, pause = 0.2 })
        -- a retry of a create that reached Close before the node died is 409: the user is there
        assert.is_true(status == 201 or (status == 409 and #seen > 1), email .. ": " .. status)
        local id = doc.id or nodes.memberships(email)[1].id
        local pstatus, _, pseen = nodes.send("PATCH", lb.base .. "/Users/" .. id, { schemas = { nodes.PATCH },
          Operations = { { op = "replace", path = "displayName", value = "Changed " .. i } } },
          { ca_file = lb.ca, pause = 0.2 })
        assert.equal(200, pstatus, email)
        answered[i] = { email = email, id = id, created = status == 201, patch_retried = #pseen > 1 }
        if not killed_at and not scim.alive(master) then killed_at = i end
      end
      assert.is_truthy(killed_at, "the node was not killed during the run")
      assert.is_true(killed_at > 1 and killed_at < n, "killed at user " .. tostring(killed_at))
      assert.is_true(os.time() - t0 < 120)
      -- the other node answers directly, too
      assert.equal(200, (scim.request("GET", t.nodes[2].base .. "/Users?count=1")))
      local posts = 0
      for _, r in ipairs(server.requests()) do
        if r.method == "POST" and r.uri:match("^/api/v1/membership/$") then posts = posts + 1 end
      end
      assert.equal(n, posts, "creates that reached Close")
      local audit = {}
      for _, r in ipairs(nodes.audit(t)) do
        if r.outcome == "ok" then audit[r.address] = (audit[r.address] or 0) + 1 end
      end
      for _, a in ipairs(answered) do
        assert.equal(1, #nodes.memberships(a.email), a.email)
        local status, doc = scim.request("GET", lb.base .. "/Users/" .. a.id, nil, { ca_file = lb.ca })
        assert.equal(200, status)
        assert.equal("Changed " .. a.email:match("%d+"), doc.displayName)
        -- every change answered 2xx is in an audit log. A record may have
        -- died with the node: the create's when its answer did (then 409),
        -- the PATCH's when the node made the change and died before its
        -- record, and the retry on the other node found nothing to change
        local records = (a.created and 2 or 1) - (a.patch_retried and 1 or 0)
        assert.is_true((audit[a.email] or 0) >= records, a.email)
      end
    end)

    it("answers 503 with Retry-After while Redis is stopped for 5 s, then works again", function()
      t = nodes.start()
      local lb = nodes.balance(t)
      local r = t.redis
      -- stopped 1 s into the run, started again 5 s later on its port and directory
      local restart = r.cmd
      assert(scim.sh(("(sleep 1; kill %d; for i in $(seq 1 100); do kill -0 %d 2>/dev/null || break; sleep 0.05; done; "
        .. "sleep 5; %s) >/dev/null 2>&1 &"):format(r.pid, r.pid, restart)))
      local unavailable, n, t0 = {}, 40, scim.capture("date +%s.%N") + 0
      for i = 1, n do
        local email = ("outage%d@acme.com"):format(i)
        local status, doc, seen = nodes.send("POST", lb.base .. "/Users", nodes.user(email, "Out " .. i),
          { ca_file = lb.ca, pause = 0.5, tries = 30 })
        for _, s in ipairs(seen) do
          if s.status == 503 then unavailable[#unavailable + 1] = s end
        end
        assert.equal(201, status, email .. ": " .. tostring(nodes.json.encode(doc)))
        local pstatus, _, pseen = nodes.send("PATCH", lb.base .. "/Users/" .. doc.id, { schemas = { nodes.PATCH },
          Operations = { { op = "replace", path = "title", value = "T" .. i } } }, { ca_file = lb.ca, tries = 30 })
        for _, s in ipairs(pseen) do
          if s.status == 503 then unavailable[#unavailable + 1] = s end
        end
        assert.equal(200, pstatus, email)
        scim.sleep(0.15)
      end
      local elapsed = scim.capture("date +%s.%N") - t0
      assert.is_true(elapsed > 6, "the run ended before Redis came back: " .. elapsed)
      assert.is_true(#unavailable >= 2, #unavailable .. " answers 503")
      for _, s in ipairs(unavailable) do assert.equal("5", s.retry_after) end
      -- the same nodes, never restarted, and nothing half applied: one
      -- membership each, and the store holds what the provider sent
      for _, inst in ipairs(t.nodes) do
        assert.is_true(scim.alive(inst.pid))
        assert.equal(200, (scim.request("GET", inst.base .. "/Users?count=1")))
      end
      r.pid = tonumber((scim.read(r.dir .. "/redis.pid") or ""):match("%d+"))
      for i = 1, n do
        local email = ("outage%d@acme.com"):format(i)
        local m = nodes.memberships(email)
        assert.equal(1, #m, email)
        assert.is_true(m[1].active)
        local status, doc = scim.request("GET", lb.base .. "/Users/" .. m[1].id, nil, { ca_file = lb.ca })
        assert.equal(200, status)
        assert.equal("Out " .. i, doc.displayName)
        assert.equal("T" .. i, doc.title)
      end
    end)
  end)
end)
