-- A stand-in for close.scim's handler in spec/openresty/scim_serve_spec.lua:
-- it answers what serve() handed it (the request, the configuration serve
-- built), so that the spec sees the adapter alone. POST .../store runs one
-- store call from the body ({op, key, value}); .../audit writes a record;
-- .../boom raises; .../created answers 201 with headers; .../empty 204.
-- luacheck: globals ngx
local cjson = require "cjson.safe"

local M = {}

function M.handler(config)
  local h = {}
  function h.handle(_, req)
    local route = req.path:match("/scim/v2/(.*)$") or ""
    if route == "boom" then error("the echo handler was asked to fail") end
    if route == "empty" then return { status = 204, headers = {} } end
    if route == "created" then
      return { status = 201, headers = { ["Content-Type"] = "application/scim+json", Location = "/scim/v2/Users/x",
                                         ["X-Echo"] = "yes" }, body = '{"id":"x"}' }
    end
    local out = { method = req.method, path = req.path, query = req.query, headers = req.headers,
                  body_length = #req.body, body_head = req.body:sub(1, 16), body_tail = req.body:sub(-16),
                  pid = ngx.worker.pid() }
    if route == "store" then
      local op = cjson.decode(req.body)
      local v, err = config.store[op.op](config.store, op.key, op.value)
      out.result, out.err = v, err and { kind = err.kind, message = err.message }
    elseif route == "audit" then
      config.audit(cjson.decode(req.body))
    end
    out.config = { default_role = config.default_role, base_path = config.base_path,
                   max_results = config.max_results, token_length = #config.token,
                   client = tostring(config.client), clock = config.clock() }
    return { status = 200, headers = { ["Content-Type"] = "application/scim+json" }, body = cjson.encode(out) }
  end
  return h
end

return M
