--- SCIM errors (RFC 7644 section 3.12): what a step returns as `nil, err`
-- and the one place that turns it, or a Close error, into a response.
-- @module close.scim.errors

local json = require "close.scim.json"

local M = {}

M.SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
M.CONTENT_TYPE = "application/scim+json"

local Err = {}
Err.__index = Err
function Err.__tostring(e)
  return ("scim %d%s: %s"):format(e.status, e.scimType and (" " .. e.scimType) or "", e.detail)
end

--- An error: status, scimType (or nil), detail (one line), extra headers.
function M.new(status, scim_type, detail, headers)
  return setmetatable({ status = status, scimType = scim_type, detail = detail, headers = headers }, Err)
end

function M.is(e) return getmetatable(e) == Err end

-- the 400 family, by scimType
function M.syntax(detail) return M.new(400, "invalidSyntax", detail) end
function M.value(detail) return M.new(400, "invalidValue", detail) end
function M.filter(detail) return M.new(400, "invalidFilter", detail) end
function M.path(detail) return M.new(400, "invalidPath", detail) end
function M.no_target(detail) return M.new(400, "noTarget", detail) end
function M.mutability(detail) return M.new(400, "mutability", detail) end
function M.uniqueness(detail) return M.new(409, "uniqueness", detail) end
function M.not_found(detail) return M.new(404, nil, detail) end

-- seconds a provider should wait after a 503 of ours
M.RETRY_AFTER = 5

-- A Close error kind -> what the provider sees. Refusals that are about the
-- request keep their meaning; everything that says "Close or the bridge
-- cannot do it now" is 503 (or 429), which providers retry.
local function retry_after(err, default)
  local s = tonumber(err.retry_after) or default
  return tostring(math.max(1, math.ceil(s)))
end

--- A close.error (from the client) -> a SCIM error. Never echoes a secret:
-- the client's messages are scrubbed already, and only `message` is used.
function M.from_close(err, what)
  local kind = type(err) == "table" and err.kind or "server"
  local msg = (what and (what .. ": ") or "") .. tostring(type(err) == "table" and err.message or err)
  if kind == "rate_limited" then
    return M.new(429, nil, "Close's rate limit is spent: " .. msg,
      { ["Retry-After"] = retry_after(err, M.RETRY_AFTER) })
  elseif kind == "validation" or kind == "bad_request" then
    local fe = {}
    for k, v in pairs(type(err.field_errors) == "table" and err.field_errors or {}) do
      fe[#fe + 1] = tostring(k) .. ": " .. tostring(v)
    end
    table.sort(fe)
    return M.value("Close refused it: " .. (#fe > 0 and table.concat(fe, "; ") or msg))
  elseif kind == "permission" then
    return M.new(403, nil, "Close refused it (permission): " .. msg)
  elseif kind == "api" and (tonumber(err.status) or 0) >= 400 and tonumber(err.status) < 500 then
    -- e.g. 402, the plan's seats spent: retrying will not help, so not a 503
    return M.new(403, nil, ("Close refused it (status %d): %s"):format(tonumber(err.status), msg))
  elseif kind == "not_found" then
    return M.not_found("Close has no such membership: " .. msg)
  elseif kind == "store" then
    return M.new(503, nil, "the bridge's store failed: " .. msg, { ["Retry-After"] = tostring(M.RETRY_AFTER) })
  end
  -- network, timeout, tls, server, protocol, auth (our credentials), api, closed
  return M.new(503, nil, "Close cannot be reached or refused the bridge (" .. kind .. "): " .. msg,
    { ["Retry-After"] = retry_after(err, M.RETRY_AFTER) })
end

--- A store failure (`nil, err` of store:get/set/delete/scan) -> 503.
function M.store(err, what)
  return M.from_close({ kind = "store", message = type(err) == "table" and err.message or (what or "failed") })
end

--- A SCIM error -> a response table.
function M.response(e)
  local headers = { ["Content-Type"] = M.CONTENT_TYPE }
  for k, v in pairs(e.headers or {}) do headers[k] = v end
  local body = { schemas = json.array({ M.SCHEMA }), status = tostring(e.status), detail = e.detail,
    scimType = e.scimType }
  return { status = e.status, headers = headers, body = json.encode(body) }
end

return M
