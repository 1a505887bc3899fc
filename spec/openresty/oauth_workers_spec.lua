-- OAuth in a real nginx with four workers (the app of test/openresty started
-- with CLOSE_TEST_APP_WORKERS=4, test/openresty/oauth_app.lua): each worker
-- has a client of its own, and all of them keep their tokens in one
-- close.oauth.shared_store (a lua_shared_dict with its lock). Calls spread
-- over the workers and across an access token's expiry make exactly one
-- refresh; a refresh token that was used already ends in kind `auth`
-- without a refresh loop. The same again with close.oauth.redis_store
-- (Debian's redis-server, reached through close.redis's cosockets).
local cjson = require "cjson"
local core = require "close.core"
local server = require "spec.support.server"
local app = require "spec.openresty.support.app"
local redis_server = require "spec.support.redis_server"

local BASE = app.multi_url
local LIFETIME = 2          -- seconds an access token lives on the server
local FORM = "application/x-www-form-urlencoded"

local redis_port -- the redis_store's server, in its describe

local function setup_app(tokens)
  local status, doc, res = app.post_json(BASE .. "/oauth/setup", {
    client_id = server.oauth_client_id, client_secret = server.oauth_client_secret,
    access_token = tokens.access_token, refresh_token = tokens.refresh_token,
    expires_at = tokens.expires_at, expires_in = tokens.expires_in, target = "http", redis_port = redis_port })
  assert(status == 200, "setup: HTTP " .. status .. " " .. res.body)
  return doc
end

local function app_state()
  local res, err = core.http():request{ method = "GET", url = BASE .. "/oauth/state", timeout = 5,
                                        connect_timeout = 2 }
  assert(res and res.status == 200, err and err.message or (res and res.body))
  return cjson.decode(res.body)
end

-- `n` calls to /oauth/membership, in batches of `per_batch` parallel
-- connections; batch b starts at epoch time `first + b * interval`.
local function plan(prefix, n, per_batch, first, interval)
  local out, now = {}, core.time()
  local batches = math.ceil(n / per_batch)
  local i = 0
  for b = 0, batches - 1 do
    local urls = {}
    for _ = 1, math.min(per_batch, n - i) do
      i = i + 1
      urls[#urls + 1] = BASE .. "/oauth/membership" .. require("close.driver").query_string{
        email = ("%s%d@acme.com"):format(prefix, i) }
    end
    out[#out + 1] = { delay = first + b * interval - now, urls = urls }
  end
  return out
end

local function pids_of(bodies)
  local count, distinct = {}, 0
  for _, b in pairs(bodies) do
    if not count[b.pid] then distinct = distinct + 1 end
    count[b.pid] = (count[b.pid] or 0) + 1
  end
  local parts = {}
  for pid, c in pairs(count) do parts[#parts + 1] = pid .. ": " .. c end
  table.sort(parts)
  return distinct, table.concat(parts, ", ")
end

local function requests_to(uri)
  local out = {}
  for _, r in ipairs(server.requests()) do
    if r.uri == uri then out[#out + 1] = r end
  end
  return out
end

for _, kind in ipairs({ "shared_store", "redis_store" }) do
describe("OAuth across four nginx workers sharing a token store (" .. kind .. ")", function()
  local redis
  setup(function()
    if kind == "redis_store" then
      redis = redis_server.start()
      redis_port = redis.port
    end
  end)
  teardown(function()
    if redis then redis:destroy() end
    redis_port = nil
  end)
  before_each(function() server.reset() end)

  it("200 calls spread over the workers and across an expiry make exactly one refresh", function()
    assert.equal(LIFETIME, server.config{ token_lifetime = LIFETIME }.token_lifetime)
    local g = server.oauth_grant()
    assert.equal(LIFETIME, g.expires_in)
    local issued = g.expires_at - LIFETIME
    setup_app(g)

    -- The first refresh comes a tenth of the lifetime before expiry (0.2 s),
    -- the next one not before issued + 2 x 1.8 s: the calls run from
    -- issued + 0.1 s to issued + ~3 s, across the first expiry only.
    local n, per_batch, interval = 200, 8, 0.12
    local bodies, took = app.paced_get(plan("oauthw", n, per_batch, issued + 0.1, interval))

    local first_start, last_start, kinds = math.huge, -math.huge, {}
    for i = 1, n do
      local b = bodies[i]
      assert.is_table(b, "no answer for call " .. i)
      if not b.ok then kinds[#kinds + 1] = ("%d: %s %s"):format(i, tostring(b.kind), tostring(b.message)) end
      first_start, last_start = math.min(first_start, b.started), math.max(last_start, b.started)
    end
    local distinct, spread = pids_of(bodies)
    local st = app_state()
    local s = server.oauth_stats()
    print(("\n  %d calls over %.2f s (from issue + %.2f s to issue + %.2f s; expiry at issue + %d s); "
      .. "workers (pid: calls) %s; server refreshes %d, token requests %d"):format(
      n, took, first_start - issued, last_start - issued, LIFETIME, spread, s.refreshes, s.token_requests))

    assert.same({}, kinds)
    for i = 1, n do
      assert.equal(200, bodies[i].status)
      assert.equal(1, bodies[i].attempts, "call " .. i .. " was retried (a 401?)")
    end
    assert.is_true(distinct >= 2, "all calls landed on one worker: " .. spread)

    -- the run really crossed the expiry, and only the first one
    assert.is_true(first_start < g.expires_at - LIFETIME / 10, "no call before the refresh point")
    assert.is_true(last_start > g.expires_at, "no call after the expiry")
    assert.is_true(last_start < st.expires_at - st.expires_in / 10,
      "the run was too slow: it reached the second token's refresh point")

    assert.same(server.oauth_counts{ token_requests = 1, refreshes = 1 }, s)
    assert.equal(1, st.refreshes)           -- on_tokens, in whichever worker refreshed
    assert.is_false(st.locked)

    -- no 401: every API request carried a valid bearer token, none was repeated
    local api = requests_to("/api/v1/membership/")
    assert.equal(n, #api)
    for _, r in ipairs(api) do
      assert.equal("bearer", r.auth_scheme)
      assert.is_true(r.authenticated)
    end
    assert.equal(1, #requests_to("/oauth2/token/"))
  end)

  -- A pair whose refresh token someone else has used already (rotated out),
  -- set up as expired so that the first call of every worker refreshes.
  local function setup_used_refresh_token()
    local g = server.oauth_grant()
    local res, err = core.http():request{ method = "POST", url = server.origin_http .. "/oauth2/token/",
      headers = { ["Content-Type"] = FORM }, timeout = 5, connect_timeout = 2,
      body = ("grant_type=refresh_token&client_id=%s&client_secret=%s&refresh_token=%s"):format(
        core.urlencode(server.oauth_client_id), core.urlencode(server.oauth_client_secret),
        core.urlencode(g.refresh_token)) }
    assert(res, err and err.message)
    assert.equal(200, res.status)
    assert.same(server.oauth_counts{ token_requests = 1, refreshes = 1 }, server.oauth_stats())
    setup_app{ access_token = g.access_token, refresh_token = g.refresh_token, expires_at = core.time() - 1,
               expires_in = g.expires_in }
  end

  -- `n` calls over the workers, all refused with kind auth; returns the server's counters
  local function calls_refused(prefix, n)
    local bodies = app.paced_get(plan(prefix, n, 8, core.time(), 0.1))
    local distinct, spread = pids_of(bodies)
    local s = server.oauth_stats()
    print(("\n  %d calls with a used refresh token: workers (pid: calls) %s; server token requests %d "
      .. "(1 of them the spec's own), families revoked %d"):format(n, spread, s.token_requests, s.families_revoked))
    for i = 1, n do
      local b = bodies[i]
      assert.is_table(b, "no answer for call " .. i)
      assert.is_false(b.ok)
      assert.equal("auth", b.kind)
      assert.matches("refresh token was refused", b.message, 1, true)
    end
    assert.is_true(distinct >= 2, "all calls landed on one worker: " .. spread)
    assert.equal(0, #requests_to("/api/v1/membership/"))
    assert.equal(1, s.families_revoked)
    return s, distinct
  end

  it("a refresh token used already: kind auth in every worker, no refresh loop", function()
    setup_used_refresh_token()
    local s, distinct = calls_refused("oauthdead", 40)
    -- at most one request per worker that served calls, not one per call
    assert.is_true(s.token_requests - 1 <= distinct,
      ("%d token requests from %d workers"):format(s.token_requests - 1, distinct))
    -- and none at all afterwards
    local again = calls_refused("oauthdead2", 40)
    assert.equal(s.token_requests, again.token_requests)
  end)

  it("a refresh token used already: one token request for it across the workers, not one per worker", function()
    setup_used_refresh_token()
    local s = calls_refused("oauthdead", 40)
    -- the spec's own refresh and the app's single one: the refusal is shared through the store
    assert.is_true(s.token_requests <= 2, ("%d token requests for one used refresh token "
      .. "(the spec's own and %d from the app)"):format(s.token_requests, s.token_requests - 1))
  end)
end)
end
