-- Control of the local Close-compatible server (test/server) from specs and
-- the demo: its addresses and credentials come from the environment that
-- scripts/with-server.sh exports.
local core = require "close.core"
local cjson = require "cjson"

local M = {}

local function env(name)
  return require("spec.support.env")(name, "scripts/with-server.sh")
end

M.http_url = env("CLOSE_TEST_HTTP_URL")
M.https_url = env("CLOSE_TEST_HTTPS_URL")
M.https_localhost_url = env("CLOSE_TEST_HTTPS_LOCALHOST_URL")
M.ca = env("CLOSE_TEST_CA")
M.other_ca = env("CLOSE_TEST_OTHER_CA")
M.api_key = env("CLOSE_TEST_API_KEY")
M.oauth_token = env("CLOSE_TEST_OAUTH_TOKEN")
M.control_url = env("CLOSE_TEST_CONTROL_URL")
M.oauth_client_id = env("CLOSE_TEST_OAUTH_CLIENT_ID")
M.oauth_client_secret = env("CLOSE_TEST_OAUTH_CLIENT_SECRET")
M.authorize_url = env("CLOSE_TEST_AUTHORIZE_URL")
-- scheme://127.0.0.1:port, where /oauth2/token/ lives (as on api.close.com)
M.origin_http = (M.http_url:gsub("/api/v1$", ""))
M.origin_https = (M.https_url:gsub("/api/v1$", ""))
M.token_url = M.origin_https .. "/oauth2/token/"

local http = core.http()

local function control(method, path, body)
  local res, err = http:request({
    method = method, url = M.control_url .. path,
    headers = { ["Content-Type"] = "application/json" },
    body = body ~= nil and cjson.encode(body) or nil,
    timeout = 5, connect_timeout = 2, max_body = 8 * 1048576,
  })
  assert(res, err and err.message)
  assert(res.status == 200, "control " .. path .. ": HTTP " .. res.status .. " " .. res.body)
  return cjson.decode(res.body)
end

--- Restores the seed organization; clears faults, limits, OAuth state and the request log.
function M.reset() return control("POST", "/reset", {}) end
--- Queues faults for the next API requests, or token requests with
--- target = "oauth" (see test/server/close_server.lua).
function M.faults(list) return control("POST", "/faults", list) end
--- Sets the rate limiter, the OAuth access token lifetime and the latency:
--- {rate_limit = N (per key and endpoint group, default 1000),
---  rate_window = seconds (default 1), org_rate_limit = N (all keys and
---  groups; default 3 * rate_limit, cjson.null restores that),
---  rate_limit_body = "json" | "none" | "alternate" (of a 429),
---  retry_after = true (a 429 also sends Retry-After; default false),
---  latency = seconds, latency_jitter = seconds (each 0..10, default 0),
---  token_lifetime = seconds}. Returns the whole config.
function M.config(t) return control("POST", "/config", t) end
--- API request counters since the last reset: {requests = N,
--- by_status = {["200"] = N, ...}, by_group = {["POST /api/v1/membership/"] = N, ...},
--- max_concurrency = N, in_flight = N, connections = N (distinct connections)}.
function M.stats() return control("GET", "/stats") end
--- A new token family without the login flow:
--- {access_token, refresh_token, expires_in, expires_at (epoch seconds)}.
function M.oauth_grant() return control("POST", "/oauth/grant", {}) end
--- OAuth counters since the last reset: {token_requests, refreshes,
--- codes_exchanged, families_revoked, invalid_grant, pkce_verified}.
function M.oauth_stats() return control("GET", "/oauth") end
--- Every access token issued since the last reset, in issue order:
--- {issued_at, expires_at, replaced_at (absent while current)}, epoch seconds.
function M.oauth_tokens() return control("GET", "/oauth/tokens") end
--- The counters oauth_stats gives, all 0 but those of t: what specs expect.
function M.oauth_counts(t)
  local out = { token_requests = 0, refreshes = 0, codes_exchanged = 0, families_revoked = 0, invalid_grant = 0,
    pkce_verified = 0 }
  for k, v in pairs(t) do out[k] = v end
  return out
end
--- The API requests the server received since the last reset.
function M.requests() return control("GET", "/requests") end
--- Adds members in one request: {{email=, role_id=, active=}, ...}.
function M.add_members(list) return control("POST", "/members", { members = list }) end
--- The organization's memberships as the server holds them.
function M.state() return control("GET", "/state") end

return M
