-- bin/close-scim on a token file (CLOSE_TOKEN_FILE, as close-provision
-- login writes it) with 4 workers and 3 s access tokens: the workers share
-- one token pair (close.oauth.shared_store), so each expiry costs one
-- refresh and no refresh token is ever used twice (the local server revokes
-- the whole grant on a reuse); each rotation is written back to the file.
local scim = require "spec.openresty.support.scim"
local server = require "spec.support.server"
local core = require "close.core"
local cjson = require "cjson.safe"

local USER = "urn:ietf:params:scim:schemas:core:2.0:User"
local LIFETIME = 3

local function new_user(email, display)
  return { schemas = { USER }, userName = email, displayName = display, active = true }
end

describe("bin/close-scim with a token file", function()
  it("refreshes once per expiry for all 4 workers, never reuses a refresh token, and keeps the file current",
    function()
      server.reset()
      server.config{ token_lifetime = LIFETIME }
      local grant = server.oauth_grant()
      local dir = scim.tmpdir()
      local file = dir .. "/tokens.json"
      assert(core.write_private(file, cjson.encode{ access_token = grant.access_token,
        refresh_token = grant.refresh_token, expires_at = grant.expires_at, client_id = server.oauth_client_id }))
      local inst = assert(scim.start{ dir = dir, args = { "--workers", "4" },
        env = ("CLOSE_TOKEN_FILE=%s CLOSE_CLIENT_SECRET=%s CLOSE_BASE_URL=%s CLOSE_SCIM_TOKEN=%s")
          :format(file, server.oauth_client_secret, server.http_url, scim.TOKEN) })
      finally(function() scim.cleanup(inst) end)
      local started = core.now()
      local rounds = 4
      for round = 1, rounds do
        local out = scim.burst(inst.base, 10, "oauth" .. round .. "x", new_user)
        for i, a in ipairs(scim.answers(out, 10)) do
          assert.equal(201, a.code, ("round %d user %d: %s"):format(round, i, cjson.encode(a.doc)))
        end
        scim.sh("rm -rf " .. out)
        if round < rounds then scim.sleep(LIFETIME * 0.8) end
      end
      local elapsed = core.now() - started
      local counts = server.oauth_counts(server.oauth_stats())
      assert.equal(0, counts.families_revoked)
      assert.equal(0, counts.invalid_grant)
      -- one refresh per expiry at most (one more for the expiry under way)
      assert.is_true(counts.refreshes >= 1, "no refresh in " .. elapsed .. " s")
      assert.is_true(counts.refreshes <= math.ceil(elapsed / LIFETIME) + 1,
        ("%d refreshes in %.1f s of %d s tokens"):format(counts.refreshes, elapsed, LIFETIME))
      -- the file holds the rotated pair, privately
      assert.is_true((core.check_private(file)))
      local now = cjson.decode(scim.read(file))
      assert.not_equal(grant.refresh_token, now.refresh_token)
      scim.cleanup(inst)
    end)
end)
