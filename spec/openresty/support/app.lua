-- The OpenResty-style app host (test/openresty) as seen from the specs:
-- its addresses come from the environment that scripts/with-openresty.sh
-- exports; requests go over loopback through close.core's libcurl handle.
local core = require "close.core"
local cjson = require "cjson.safe"

local M = {}

local function env(name)
  return require("spec.support.env")(name, "scripts/with-openresty.sh")
end

M.url = env("CLOSE_TEST_APP_URL")
M.raw_url = env("CLOSE_TEST_RAW_URL")
M.raw_url6 = os.getenv("CLOSE_TEST_RAW_URL6") -- absent without IPv6 loopback

local http = core.http()

--- The URL of an app location with its query.
function M.location(path, params)
  return M.url .. path .. require("close.driver").query_string(params)
end

--- GET an app location; returns status and the decoded JSON body (or the raw body).
function M.get(path, params, timeout)
  local res, err = http:request({
    method = "GET", url = M.location(path, params),
    timeout = timeout or 15, connect_timeout = 2, max_body = 4 * 1048576,
  })
  assert(res, err and err.message)
  local doc = cjson.decode(res.body)
  return res.status, doc, res
end

--- One create_membership in the app; returns its outcome (see close_app.lua).
function M.membership(params, path)
  local status, doc, res = M.get(path or "/membership", params)
  assert(status == 200, "app answered HTTP " .. status .. ": " .. res.body)
  return doc.results[1], doc
end

--- The bare transport in the app against `url`; returns the list of results.
function M.transport(url, params)
  local p = { url = url }
  for k, v in pairs(params or {}) do p[k] = v end
  local status, doc, res = M.get("/transport", p)
  assert(status == 200, "app answered HTTP " .. status .. ": " .. res.body)
  return doc.results
end

local serial = 0
--- A name not used before in this run (pool labels, timer ids).
function M.unique(prefix)
  serial = serial + 1
  return ("%s-%d-%d"):format(prefix, os.time(), serial)
end

return M
