-- `make bench`: figures as ratios against a baseline measured in the same run
-- (never a timed test). Run through scripts/with-server.sh.
--
-- 1. Client overhead per call: create_membership with a stub transport
--    (validation in C, request building, JSON, the driver loop) against the
--    least a hand-written call does (build the table, cjson.encode it,
--    decode the reply).
-- 2. Keep-alive: N creates through one client (one connection) against N
--    creates through a new client each (a new connection each), over TLS to
--    the local server.
local close = require "close"
local core = require "close.core"
local cjson = require "cjson"
local server = require "spec.support.server"

local function time(n, f)
  f(0) -- warm up
  local t0 = core.now()
  for i = 1, n do f(i) end
  return (core.now() - t0) / n
end

local reply = '{"id":"memb_JPCqDJq0AmoZFhemXAWrWk9327DqfJgUF2VGPMOL4Lp","role_id":"user"}'
local response = { status = 200, headers = { ratelimit = "limit=100, remaining=99, reset=1" }, body = reply }
local stub = close.new{ api_key = "ck_bench", transport = function() return response end }

local N = 20000
local baseline = time(N, function()
  local body = cjson.encode({ email = "jane.doe@acme.com", role_id = "user" })
  local doc = cjson.decode(response.body)
  return body, doc
end)
local client_cost = time(N, function()
  return assert(stub:create_membership{ email = "jane.doe@acme.com", role_id = "user" })
end)
print(("overhead: close %.2f us/call, hand-written %.2f us/call: ratio %.2f"):format(
  client_cost * 1e6, baseline * 1e6, client_cost / baseline))

server.reset()
local M = 200
local one = close.new{ api_key = server.api_key, base_url = server.https_url, ca_file = server.ca }
local kept = time(M, function(i)
  assert(one:create_membership{ email = ("ka%d@acme.com"):format(i), role_id = "user" })
end)
local fresh = time(M, function(i)
  local c = close.new{ api_key = server.api_key, base_url = server.https_url, ca_file = server.ca }
  assert(c:create_membership{ email = ("nc%d@acme.com"):format(i), role_id = "user" })
  c:close()
end)
print(("keep-alive over TLS: %.2f ms/call reused, %.2f ms/call new connection: %.1fx faster"):format(
  kept * 1e3, fresh * 1e3, fresh / kept))
