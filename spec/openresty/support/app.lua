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
-- the same app with four workers (scripts/with-openresty.sh starts it too)
M.multi_url = env("CLOSE_TEST_MULTI_APP_URL")

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

--- POST a JSON body to a URL (within `timeout` seconds, default 15);
-- returns status and the decoded JSON body.
function M.post_json(url, obj, timeout)
  local res, err = http:request({
    method = "POST", url = url, headers = { ["Content-Type"] = "application/json" }, body = cjson.encode(obj),
    timeout = timeout or 15, connect_timeout = 2, max_body = 1048576,
  })
  assert(res, err and err.message)
  return res.status, cjson.decode(res.body), res
end

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- GETs URLs from several curl processes at once: `plan` is a list of
-- {delay = seconds from now, urls = {...}}; each entry is one
-- `curl --parallel` over its URLs (a connection each), started `delay`
-- seconds after the launch. Every curl is bounded by `max_time` (default
-- 20 s). Returns the decoded bodies in plan order (nil for a transfer that
-- gave nothing) and the wall time of the whole run.
function M.paced_get(plan, max_time)
  local dir = assert(io.popen("mktemp -d")):read("*l")
  local lines, n = {}, 0
  for _, batch in ipairs(plan) do
    local cmd = { "curl --silent --show-error --no-progress-meter --parallel --parallel-immediate",
                  "--parallel-max", tostring(#batch.urls), "--max-time", tostring(max_time or 20) }
    for _, url in ipairs(batch.urls) do
      n = n + 1
      cmd[#cmd + 1] = "-o " .. shell_quote(dir .. "/" .. n .. ".json") .. " " .. shell_quote(url)
    end
    lines[#lines + 1] = ("(sleep %.3f; exec %s) &"):format(math.max(0, batch.delay), table.concat(cmd, " "))
  end
  lines[#lines + 1] = "wait"
  local script = dir .. "/run.sh"
  local f = assert(io.open(script, "w"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
  local t0 = core.now()
  os.execute("sh " .. shell_quote(script))
  local took = core.now() - t0
  local bodies = {}
  for i = 1, n do
    local path = dir .. "/" .. i .. ".json"
    local out = io.open(path, "rb")
    if out then
      bodies[i] = cjson.decode(out:read("*a"))
      out:close()
      os.remove(path)
    end
  end
  os.remove(script)
  os.remove(dir)
  return bodies, took
end

local serial = 0
--- A name not used before in this run (pool labels, timer ids).
function M.unique(prefix)
  serial = serial + 1
  return ("%s-%d-%d"):format(prefix, os.time(), serial)
end

return M
