-- create_membership through the real libcurl transport against the local
-- Close-compatible server (test/server), over plain HTTP and TLS.
local close = require "close"
local server = require "spec.support.server"

local function client(opts)
  local o = { api_key = server.api_key, base_url = server.http_url, backoff_base = 0.05,
              timeout = 5, deadline = 20 }
  for k, v in pairs(opts or {}) do o[k] = v end
  if o.oauth_token then o.api_key = nil end
  return close.new(o)
end

local function attempts_log()
  local log = {}
  return log, function(info) log[#log + 1] = info end
end

describe("create_membership against the local server", function()
  before_each(function() server.reset() end)

  describe("authentication", function()
    it("creates a membership with an API key (HTTP Basic)", function()
      local m, err, meta = client():create_membership{ email = "jane@acme.com", role_id = "user" }
      assert.is_nil(err)
      assert.matches("^memb_%w+$", m.id)
      assert.equal("user", m.role_id)
      assert.equal(200, meta.status)
      assert.equal(1, meta.attempts)
      local reqs = server.requests()
      assert.equal(1, #reqs)
      assert.equal("basic", reqs[1].auth_scheme)
      assert.equal("POST", reqs[1].method)
      assert.equal("/api/v1/membership/", reqs[1].uri)
      assert.equal("application/json", reqs[1].content_type)
      assert.equal("application/json", reqs[1].accept)
      assert.matches("^close%-lua/0%.1%.0 %(", reqs[1].user_agent)
      assert.same({ email = "jane@acme.com", role_id = "user" }, require("cjson").decode(reqs[1].body))
    end)

    it("creates a membership with an OAuth token (Bearer)", function()
      local m, err = client{ oauth_token = server.oauth_token }:create_membership{
        email = "joe@example.com", role_id = "superuser" }
      assert.is_nil(err)
      assert.equal("superuser", m.role_id)
      assert.equal("bearer", server.requests()[1].auth_scheme)
    end)

    it("maps a refused key to kind 'auth' without retrying", function()
      local m, err = client{ api_key = "ck_wrong" }:create_membership{ email = "jane@acme.com", role_id = "user" }
      assert.is_nil(m)
      assert.equal("auth", err.kind)
      assert.equal(401, err.status)
      assert.equal(1, err.attempts)
      assert.equal("Invalid API key", err.message)
      assert.is_nil(tostring(err):find("ck_wrong", 1, true))
    end)
  end)

  describe("Close's rules", function()
    it("refuses an email outside the verified domains with kind 'bad_request'", function()
      local _, err = client():create_membership{ email = "jane@gmail.com", role_id = "user" }
      assert.equal("bad_request", err.kind)
      assert.equal(400, err.status)
      assert.equal("Email domain is not one of the organization's verified domains.", err.message)
      assert.same({ "Email domain is not one of the organization's verified domains." }, err.errors)
    end)

    it("returns the server's field-errors for an unknown custom role", function()
      local _, err = client():create_membership{ email = "jane@acme.com", role_id = "role_nosuchrole" }
      assert.equal("bad_request", err.kind)
      assert.is_string(err.field_errors.role_id)
      assert.equal(1, err.attempts)
    end)

    it("maps a role granting manage_organization (admin) to kind 'permission'", function()
      local _, err = client():create_membership{ email = "jane@acme.com", role_id = "admin" }
      assert.equal("permission", err.kind)
      assert.equal(403, err.status)
    end)

    it("is idempotent by email: a repeated create returns the same membership", function()
      local c = client()
      local a = assert(c:create_membership{ email = "kim@acme.com", role_id = "user" })
      local b = assert(c:create_membership{ email = "kim@acme.com", role_id = "user" })
      assert.equal(a.id, b.id)
      local n = 0
      for _, m in ipairs(server.state().memberships) do
        if m.email == "kim@acme.com" then n = n + 1 end
      end
      assert.equal(1, n)
    end)

    it("reuses one keep-alive connection across calls of a client", function()
      local c = client()
      assert(c:create_membership{ email = "a1@acme.com", role_id = "user" })
      assert(c:create_membership{ email = "a2@acme.com", role_id = "user" })
      assert(c:create_membership{ email = "a3@acme.com", role_id = "user" })
      local reqs = server.requests()
      assert.equal(3, #reqs)
      assert.equal(reqs[1].connection, reqs[2].connection)
      assert.equal(reqs[1].connection, reqs[3].connection)
    end)

    it("sends nothing when validation fails", function()
      local _, err = client():create_membership{ email = "not an email", role_id = "user" }
      assert.equal("validation", err.kind)
      assert.equal(0, #server.requests())
    end)
  end)

  describe("rate limiting", function()
    it("waits as the RateLimit header says and then succeeds", function()
      -- 2 calls per 2 s window: of 6 calls made in less than 2 s (one window
      -- edge at most), 3 land in one window, so one meets a 429 however slow
      -- the machine (valgrind) is
      server.config{ rate_limit = 2, rate_window = 2 }
      local log, hook = attempts_log()
      local c = client{ on_attempt = hook }
      local waited
      for i = 1, 6 do
        local m, err, meta = c:create_membership{ email = "rl" .. i .. "@acme.com", role_id = "user" }
        assert.is_nil(err)
        assert.is_table(m)
        assert.is_table(meta.rate_limit)
        assert.equal(2, meta.rate_limit.limit)
        for _, info in ipairs(log) do
          if info.status == 429 then waited = info end
        end
        if waited then break end
      end
      -- that call waited for the window's reset, and then succeeded
      assert.is_table(waited)
      assert.equal("ratelimit", waited.wait_source)
      assert.is_true(waited.wait > 0 and waited.wait <= 2)
    end)

    it("honours rate_reset from a 429 body when there are no headers", function()
      server.faults{ { mode = "status", status = 429,
        body = '{"message": "slow down", "rate_reset": "0.2", "rate_limit": 320, "rate_window": 8}' } }
      local log, hook = attempts_log()
      local m = client{ on_attempt = hook }:create_membership{ email = "b@acme.com", role_id = "user" }
      assert.is_table(m)
      assert.equal(2, #log)
      assert.equal(0.2, log[1].wait)
      assert.equal("body", log[1].wait_source)
    end)

    it("gives up with kind 'rate_limited' and retry_after when 429s persist", function()
      server.faults{ { mode = "status", status = 429, times = 10, headers = { ["Retry-After"] = "0.1" },
        body = '{"error": {"message": "API call count exceeded for this period", "rate_reset": 0.1}}' } }
      local _, err = client{ max_retries = 2 }:create_membership{ email = "b@acme.com", role_id = "user" }
      assert.equal("rate_limited", err.kind)
      assert.equal(429, err.status)
      assert.equal(3, err.attempts)
      assert.equal(0.1, err.retry_after)
      assert.equal("API call count exceeded for this period", err.message)
    end)
  end)

  describe("faults", function()
    it("rides out a slow server within the timeout", function()
      server.faults{ { mode = "delay", seconds = 0.3 } }
      local m, err = client{ timeout = 3 }:create_membership{ email = "d@acme.com", role_id = "user" }
      assert.is_nil(err)
      assert.is_table(m)
    end)

    it("retries 503 and 502 and then succeeds", function()
      server.faults{ { mode = "status", status = 503, body = "upstream unavailable" },
                     { mode = "status", status = 502, body = "" } }
      local m, err, meta = client():create_membership{ email = "e@acme.com", role_id = "user" }
      assert.is_nil(err)
      assert.is_table(m)
      assert.equal(3, meta.attempts)
      assert.equal(3, #server.requests())
    end)

    it("never follows a redirect (it would carry the Authorization header elsewhere)", function()
      server.faults{ { mode = "status", status = 302, body = "",
        headers = { Location = server.control_url .. "/requests" } } }
      local _, err = client():create_membership{ email = "r@acme.com", role_id = "user" }
      assert.equal("api", err.kind)
      assert.equal(302, err.status)
      assert.equal(1, err.attempts)
      assert.equal("HTTP 302", err.message)
      assert.equal(1, #server.requests())
    end)

    it("does not retry a 500", function()
      server.faults{ { mode = "status", status = 500, body = "boom" } }
      local _, err = client():create_membership{ email = "e@acme.com", role_id = "user" }
      assert.equal("server", err.kind)
      assert.equal(500, err.status)
      assert.equal(1, err.attempts)
      assert.equal("HTTP 500: boom", err.message)
    end)

    it("retries a connection closed without a response", function()
      server.faults{ { mode = "reset" } }
      local m, err, meta = client():create_membership{ email = "f@acme.com", role_id = "user" }
      assert.is_nil(err)
      assert.is_table(m)
      assert.equal(2, meta.attempts)
    end)

    it("returns kind 'network' when every attempt is cut off", function()
      server.faults{ { mode = "reset", times = 10 } }
      local _, err = client{ max_retries = 2 }:create_membership{ email = "f@acme.com", role_id = "user" }
      assert.equal("network", err.kind)
      assert.equal(3, err.attempts)
      assert.is_nil(err.status)
    end)

    it("returns kind 'protocol' for a truncated body, without retrying", function()
      server.faults{ { mode = "truncate" } }
      local _, err = client():create_membership{ email = "g@acme.com", role_id = "user" }
      assert.equal("protocol", err.kind)
      assert.equal(1, err.attempts)
    end)

    it("returns kind 'protocol' for a body over max_body, memory bounded", function()
      server.faults{ { mode = "oversize", bytes = 200000 } }
      local _, err = client{ max_body = 65536 }:create_membership{ email = "h@acme.com", role_id = "user" }
      assert.equal("protocol", err.kind)
      assert.equal("response body is larger than max_body", err.message)
    end)

    it("returns kind 'protocol' for a 200 that is not JSON", function()
      server.faults{ { mode = "garbage" } }
      local _, err = client():create_membership{ email = "i@acme.com", role_id = "user" }
      assert.equal("protocol", err.kind)
      assert.equal(200, err.status)
      assert.equal("response is not a JSON object", err.message)
    end)

    it("times out a server that never answers, within the deadline", function()
      server.faults{ { mode = "hang", seconds = 30, times = 10 } }
      local core = require "close.core"
      local t0 = core.now()
      local _, err = client{ timeout = 0.4, deadline = 1.5, max_retries = 10 }:create_membership{
        email = "j@acme.com", role_id = "user" }
      local took = core.now() - t0
      assert.equal("timeout", err.kind)
      assert.is_true(err.attempts >= 2)
      -- a bound, not a benchmark: the deadline plus slack for a loaded machine
      assert.is_true(took < 1.5 + 1.0, "took " .. took .. "s, past the 1.5s deadline")
    end)
  end)

  describe("TLS", function()
    it("verifies the server against the test CA", function()
      local m, err = client{ base_url = server.https_url, ca_file = server.ca }:create_membership{
        email = "tls@acme.com", role_id = "user" }
      assert.is_nil(err)
      assert.is_table(m)
    end)

    it("verifies the host name (localhost is in the certificate)", function()
      local m, err = client{ base_url = server.https_localhost_url, ca_file = server.ca }:create_membership{
        email = "tls2@acme.com", role_id = "user" }
      assert.is_nil(err)
      assert.is_table(m)
    end)

    it("fails with kind 'tls' against the wrong CA, without retrying", function()
      local _, err = client{ base_url = server.https_url, ca_file = server.other_ca }:create_membership{
        email = "tls@acme.com", role_id = "user" }
      assert.equal("tls", err.kind)
      assert.equal(1, err.attempts)
      assert.equal(0, #server.requests())
    end)

    it("fails with kind 'tls' against the system store (the test CA is not in it)", function()
      local _, err = client{ base_url = server.https_url }:create_membership{
        email = "tls@acme.com", role_id = "user" }
      assert.equal("tls", err.kind)
    end)
  end)
end)
