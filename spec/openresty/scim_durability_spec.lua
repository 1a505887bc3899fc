-- The bridge under a provider's bursts and its own crashes, through
-- bin/close-scim with 4 workers against the local Close-compatible server:
-- a restart and a kill -9 of nginx mid-run lose nothing that was answered;
-- 50 concurrent creates under Close's rate limit show the provider no 429
-- and reach Close once each.
local scim = require "spec.openresty.support.scim"
local server = require "spec.support.server"
local cjson = require "cjson.safe"

local USER = "urn:ietf:params:scim:schemas:core:2.0:User"
local ENV = ("CLOSE_API_KEY=%s CLOSE_BASE_URL=%s CLOSE_SCIM_TOKEN=%s")
  :format(server.api_key, server.http_url, scim.TOKEN)

local function member(email)
  for _, m in ipairs(server.state().memberships) do
    if m.email == email then return m end
  end
end

local function new_user(email, display)
  return { schemas = { USER }, userName = email, displayName = display, active = true,
           name = { givenName = display, familyName = "Load" }, externalId = "x-" .. email }
end

describe("the SCIM bridge's durability", function()
  before_each(function() server.reset() end)

  it("keeps what it answered across a restart on the same state directory", function()
    local inst = assert(scim.start{ args = { "--workers", "4" }, env = ENV })
    finally(function() scim.cleanup(inst) end)
    local status, doc = scim.request("POST", inst.base .. "/Users", new_user("restart@acme.com", "Re Start"))
    assert.equal(201, status)
    local id = doc.id
    assert.is_true(scim.stop(inst))
    local again = assert(scim.start{ dir = inst.dir, state_dir = inst.state, args = { "--workers", "4" }, env = ENV })
    finally(function() scim.cleanup(again) end)
    status, doc = scim.request("GET", again.base .. "/Users/" .. id)
    assert.equal(200, status)
    assert.equal("Re Start", doc.displayName)
    assert.equal("x-restart@acme.com", doc.externalId)
    scim.cleanup(again)
  end)

  it("loses nothing it answered when nginx is killed with -9 mid-run", function()
    server.config{ latency = 0.15 }
    local inst = assert(scim.start{ args = { "--workers", "4" }, env = ENV })
    finally(function() scim.cleanup(inst) end)
    local n = 24
    local dir = scim.burst(inst.base, n, "crash", new_user)
    -- kill once some answers are out and others are in flight
    assert(scim.wait_for(function()
      local done = 0
      for i = 1, n do
        if (scim.read(("%s/%d.code"):format(dir, i)) or "") == "201" then done = done + 1 end
      end
      return done >= 1
    end, 60), "no answer before the kill")
    assert.is_true(scim.kill9(inst))
    local got = scim.answers(dir, n)
    server.config{ latency = 0 }
    local again = assert(scim.start{ dir = inst.dir, state_dir = inst.state, args = { "--workers", "4" }, env = ENV })
    finally(function() scim.cleanup(again) end)
    local acked, retried = 0, 0
    for i, a in ipairs(got) do
      local email = ("crash%d@acme.com"):format(i)
      if a.code == 201 then
        acked = acked + 1
        local status, doc = scim.request("GET", again.base .. "/Users/" .. a.doc.id)
        assert.equal(200, status, email)
        assert.equal("crash " .. i, doc.displayName)
        assert.equal("x-" .. email, doc.externalId)
        assert.is_true(member(email).active)
      else
        -- no answer: the provider sends it again, and then it is there
        retried = retried + 1
        local status = scim.request("POST", again.base .. "/Users", new_user(email, "crash " .. i))
        assert.is_true(status == 201 or status == 409, email .. ": " .. status)
        local _, list = scim.request("GET", again.base .. "/Users?filter=userName+eq+%22" .. email .. "%22")
        assert.equal(1, list.totalResults, email)
      end
    end
    assert.is_true(acked >= 1)
    assert.is_true(retried >= 1, "the kill came after every answer: nothing was in flight")
    scim.cleanup(again)
    scim.sh("rm -rf " .. dir)
  end)

  it("answers 50 concurrent creates under Close's rate limit with no 429, each reaching Close once", function()
    server.config{ rate_limit = 10, rate_window = 1 }
    local inst = assert(scim.start{ args = { "--workers", "4" }, env = ENV })
    finally(function() scim.cleanup(inst) end)
    local n = 50
    local dir = scim.burst(inst.base, n, "burst", new_user)
    local got = scim.answers(dir, n)
    for i, a in ipairs(got) do
      assert.equal(201, a.code, ("user %d: %s"):format(i, cjson.encode(a.doc)))
      assert.is_true(member(("burst%d@acme.com"):format(i)).active)
    end
    -- every POST /membership/ beyond the 50 was one Close refused with 429
    local posts = 0
    for _, r in ipairs(server.requests()) do
      if r.method == "POST" and r.uri:match("^/api/v1/membership/") then posts = posts + 1 end
    end
    local stats = server.stats()
    assert.is_true(posts - n <= (stats.by_status["429"] or 0),
      ("%d creates sent for %d users, %d answered 429"):format(posts, n, stats.by_status["429"] or 0))
    scim.cleanup(inst)
    scim.sh("rm -rf " .. dir)
  end)
end)
