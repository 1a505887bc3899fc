-- Two close-scim nodes x 4 workers sharing one OAuth grant through Redis,
-- against the local server's 2-second access tokens, rotating refresh
-- tokens and reuse detection (on): 400 SCIM writes make one refresh per
-- expiry for all eight workers together and never present a refresh token
-- twice. CLOSE_TOKEN_FILE seeds Redis once; from then on Redis holds the pair.
local close = require "close"
local scim = require "spec.openresty.support.scim"
local server = require "spec.support.server"
local nodes = require "spec.nodes.support"
local redis_server = require "spec.support.redis_server"

describe("two nodes x 4 workers on one OAuth grant in Redis", function()
  local t, dir
  before_each(function() server.reset() end)
  after_each(function()
    if t then nodes.stop(t) end
    if dir then scim.sh("rm -rf " .. dir) end
    t, dir = nil, nil
  end)

  it("refresh once per expiry under 400 writes, with no refresh token used twice", function()
    server.config{ token_lifetime = 2, latency = 0.1 }
    dir = scim.tmpdir()
    local g = server.oauth_grant()
    local seed = { access_token = g.access_token, refresh_token = g.refresh_token, expires_in = 2,
                   expires_at = g.expires_at }
    assert.is_true(close.oauth.file_store(dir .. "/tokens.json"):save(seed))
    local env = ("CLOSE_TOKEN_FILE=%s/tokens.json CLOSE_CLIENT_ID=%s CLOSE_CLIENT_SECRET=%s CLOSE_BASE_URL=%s "
      .. "CLOSE_SCIM_TOKEN=%s")
      :format(dir, server.oauth_client_id, server.oauth_client_secret, server.http_url, scim.TOKEN)
    t = nodes.start{ env = env, workers = 4 }
    local n = 400
    for i = 1, n do
      scim.write(("%s/%d.json"):format(dir, i),
        nodes.json.encode(nodes.user(("tok%d@acme.com"):format(i), "Tok " .. i)))
    end
    -- 8 writers at a time, alternating between the nodes
    local cmd = ("seq 1 %d | xargs -P 8 -I{} sh -c 'if [ $(( {} %% 2 )) = 0 ]; then b=%s; else b=%s; fi; "
      .. "curl -s -m 60 -o %s/{}.body -w %%{http_code} -H \"Authorization: Bearer %s\" "
      .. "-H \"Content-Type: application/scim+json\" --data-binary @%s/{}.json $b/Users >%s/{}.code'")
      :format(n, t.nodes[1].base, t.nodes[2].base, dir, scim.TOKEN, dir, dir)
    local t0 = tonumber(scim.capture("date +%s.%N"))
    assert.is_true(scim.sh("timeout 300 bash -c " .. ("'" .. cmd:gsub("'", "'\\''") .. "'") .. " >/dev/null 2>&1"))
    local elapsed = tonumber(scim.capture("date +%s.%N")) - t0
    for i = 1, n do
      assert.equal("201", scim.read(("%s/%d.code"):format(dir, i)), scim.read(("%s/%d.body"):format(dir, i)))
    end
    assert.is_true(elapsed > 4, "the writes took " .. elapsed .. " s: too few expiries to tell")
    local stats = server.oauth_stats()
    assert.equal(0, stats.families_revoked)
    assert.equal(0, stats.invalid_grant)
    assert.equal(stats.refreshes, stats.token_requests)
    -- one refresh per expiry: every token the nodes replaced had served at
    -- least the nine tenths of its 2 s that the client's skew allows (a
    -- second refresh for the same expiry replaces a fresh token), and the
    -- refreshes are within one of the tokens (the seed's included) whose
    -- expiry came before the run's end
    local tokens, t1, expiries = server.oauth_tokens(), t0 + elapsed, 0
    assert.equal(stats.refreshes + 1, #tokens) -- the seed, then one per refresh
    for i, tok in ipairs(tokens) do
      if tok.expires_at <= t1 then expiries = expiries + 1 end
      if i < #tokens then
        assert.is_true(tok.replaced_at - tok.issued_at >= 1.75,
          ("token %d of %d was replaced after %.2f s"):format(i, #tokens, tok.replaced_at - tok.issued_at))
      end
    end
    assert.is_true(math.abs(stats.refreshes - expiries) <= 1,
      ("%d refreshes, %d expiries in %.1f s"):format(stats.refreshes, expiries, elapsed))
    -- Redis holds the last pair; the seed file is left as it was
    local pair = close.oauth.redis_store{ port = t.redis.port }.load()
    assert.is_not.equal(g.refresh_token, pair.refresh_token)
    assert.equal(g.refresh_token, close.oauth.file_store(dir .. "/tokens.json").load().refresh_token)
  end)

  it("answer 503 with Retry-After while the pair in Redis cannot be read, then work without a restart", function()
    server.config{ token_lifetime = 3600 }
    local g = server.oauth_grant()
    t = nodes.start{ env = ("CLOSE_CLIENT_ID=%s CLOSE_CLIENT_SECRET=%s CLOSE_BASE_URL=%s CLOSE_SCIM_TOKEN=%s")
      :format(server.oauth_client_id, server.oauth_client_secret, server.http_url, scim.TOKEN) }
    assert.is_true(close.oauth.redis_store{ port = t.redis.port }:save{ access_token = g.access_token,
      refresh_token = g.refresh_token, expires_in = 3600, expires_at = g.expires_at })
    -- Redis goes before the node's workers have read the pair
    local r = t.redis
    r:stop()
    local status, doc, res = scim.request("POST", t.nodes[1].base .. "/Users", nodes.user("late@acme.com", "Late"))
    assert.equal(503, status)
    assert.equal("5", res.headers["retry-after"])
    assert.equal("the bridge's store (Redis) cannot be reached now; try again later", doc.detail)
    assert.equal(0, #nodes.memberships("late@acme.com"))
    t.redis = redis_server.start{ port = r.port, dir = r.dir }
    status = scim.wait_for(function()
      local s = nodes.send("POST", t.nodes[1].base .. "/Users", nodes.user("late@acme.com", "Late"), { tries = 1 })
      return s ~= 503 and s
    end, 10)
    assert.equal(201, status)
    assert.equal(1, #nodes.memberships("late@acme.com"))
    assert.equal(0, server.oauth_stats().families_revoked)
  end)
end)
