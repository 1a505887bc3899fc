-- Two close-scim nodes sharing Debian's redis-server (a free port, a
-- private directory, AOF on) against the local Close-compatible server,
-- optionally behind examples/scim-two-nodes.conf (nginx as the load
-- balancer, its ports swapped for free ones); and a provider that retries.
local scim = require "spec.openresty.support.scim"
local redis_server = require "spec.support.redis_server"
local server = require "spec.support.server"
local cjson = require "cjson.safe"

local M = {}

M.USER = "urn:ietf:params:scim:schemas:core:2.0:User"
M.PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
M.API_ENV = ("CLOSE_API_KEY=%s CLOSE_BASE_URL=%s CLOSE_SCIM_TOKEN=%s")
  :format(server.api_key, server.http_url, scim.TOKEN)

function M.user(email, display)
  return { schemas = { M.USER }, userName = email, displayName = display, active = true,
           name = { givenName = display, familyName = "Node" }, externalId = "x-" .. email }
end

--- Starts Redis and two nodes: o.env (default M.API_ENV), o.workers (2),
-- o.password (Redis's). Returns {redis, url, nodes = {inst, inst}}.
function M.start(o)
  o = o or {}
  local r = redis_server.start{ password = o.password }
  local url = ("redis://%s127.0.0.1:%d/0"):format(o.password and (":" .. o.password .. "@") or "", r.port)
  local t = { redis = r, url = url, nodes = {} }
  for i = 1, 2 do
    local inst, out = scim.start{ args = { "--workers", tostring(o.workers or 2), "--redis", url },
                                  env = o.env or M.API_ENV }
    if not inst then
      M.stop(t)
      error("node " .. i .. " did not start: " .. tostring(out))
    end
    t.nodes[i] = inst
  end
  return t
end

--- examples/scim-two-nodes.conf in front of the nodes: sets t.lb = {dir,
-- base, ca}.
function M.balance(t)
  local dir = scim.tmpdir()
  local port = scim.free_port()
  local conf = scim.read("examples/scim-two-nodes.conf")
  local n1, n2, n3
  conf, n1 = conf:gsub("\n        listen 8443 ssl;", "\n        listen 127.0.0.1:" .. port .. " ssl;")
  conf, n2 = conf:gsub("server 127%.0%.0%.1:8081 ", "server 127.0.0.1:" .. t.nodes[1].port .. " ")
  conf, n3 = conf:gsub("server 127%.0%.0%.1:8082 ", "server 127.0.0.1:" .. t.nodes[2].port .. " ")
  assert(n1 == 1 and n2 == 1 and n3 == 1, "examples/scim-two-nodes.conf: listen 8443 ssl, nodes 8081 and 8082")
  scim.write(dir .. "/nginx.conf", conf)
  assert(scim.sh(("mkdir -p %s/logs %s/tls"):format(dir, dir)))
  local certs = scim.make_certs(dir .. "/tls")
  assert(scim.sh(("cp %s %s/tls/cert.pem && cp %s %s/tls/key.pem && chmod -R a+rX %s")
    :format(certs.cert, dir, certs.key, dir, dir)))
  assert(scim.sh(("nginx -p %s/ -c %s/nginx.conf -e %s/logs/error.log"):format(dir, dir, dir)),
    "the balancer did not start: " .. tostring(scim.read(dir .. "/logs/error.log")))
  t.lb = { dir = dir, base = "https://127.0.0.1:" .. port .. "/scim/v2", ca = certs.ca }
  assert(scim.wait_for(function()
    return pcall(scim.request, "GET", t.lb.base .. "/ServiceProviderConfig", nil, { ca_file = t.lb.ca })
  end, 10), "no answer through the balancer")
  return t.lb
end

function M.stop(t)
  if t.lb then
    scim.sh(("kill -QUIT $(cat %s/logs/nginx.pid) 2>/dev/null; sleep 0.3; rm -rf %s"):format(t.lb.dir, t.lb.dir))
  end
  for _, inst in ipairs(t.nodes) do scim.cleanup(inst) end
  if t.redis then t.redis:destroy() end
end

--- One request, a transport failure as status 0 (a node killed mid-request).
function M.try(method, url, body, o)
  local ok, status, doc, res = pcall(scim.request, method, url, body, o)
  if not ok then return 0, nil, nil end
  return status, doc, res
end

--- The provider's way: a request sent again after a transport failure, a
-- 502 or a 503 (after at most `pause` seconds), up to `tries` times.
-- Returns the final status and body, and the list of every status seen
-- with its Retry-After.
function M.send(method, url, body, o)
  o = o or {}
  local seen = {}
  local status, doc
  for _ = 1, o.tries or 10 do
    local res
    status, doc, res = M.try(method, url, body, o)
    seen[#seen + 1] = { status = status, retry_after = res and res.headers and res.headers["retry-after"] }
    if status ~= 0 and status ~= 502 and status ~= 503 and status ~= 504 then break end
    scim.sleep(o.pause or 0.5)
  end
  return status, doc, seen
end

--- Every audit record of both nodes.
function M.audit(t)
  local out = {}
  for _, inst in ipairs(t.nodes) do
    for _, r in ipairs(scim.audit(inst)) do out[#out + 1] = r end
  end
  return out
end

--- Close's memberships with this address.
function M.memberships(email)
  local out = {}
  for _, m in ipairs(server.state().memberships) do
    if m.email == email then out[#out + 1] = m end
  end
  return out
end

M.json = cjson
return M
