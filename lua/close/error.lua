--- The one error shape of the module.
-- Every failure is returned as `nil, err` where `err` is a table of this
-- shape with a readable `__tostring`:
--
-- * `kind`: "validation", "bad_request", "auth", "permission", "not_found",
--   "rate_limited", "server", "api", "timeout", "network", "tls", "protocol",
--   "closed" (a call on a client after `client:close()`), "not_started"
--   (an item of a batch that stopped first), or "store" (a state store of
--   the SCIM bridge failed)
-- * `message`: a one-line explanation
-- * `status`: the HTTP status of the last response, when there was one
-- * `field_errors`: `{field = reason}` (validation and 400 responses)
-- * `errors`: the list of non-field errors of a 400 response
-- * `retry_after`: seconds the server asked to wait, when it did
-- * `rate_limit`: `{limit, remaining, reset}` of the last response
-- * `attempts`: how many requests were sent (0 when refused before sending)
-- * `method`, `url`: the request (never with credentials)
-- @module close.error

local Error = {}
Error.__index = Error

Error.KINDS = {
  validation = true, bad_request = true, auth = true, permission = true,
  not_found = true, rate_limited = true, server = true, api = true,
  timeout = true, network = true, tls = true, protocol = true,
  not_started = true, -- an item of a batch that stopped before it
  closed = true,      -- a call on a closed client: nothing was sent
  store = true, -- a state store (close.store.sqlite) could not read or write
}

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  return keys
end

function Error.__tostring(e)
  local parts = { "close: " .. e.kind .. ": " .. tostring(e.message) }
  -- a validation message already names every field
  if e.kind ~= "validation" and e.field_errors and next(e.field_errors) then
    local fe = {}
    for _, k in ipairs(sorted_keys(e.field_errors)) do
      fe[#fe + 1] = k .. ": " .. tostring(e.field_errors[k])
    end
    parts[#parts + 1] = " [" .. table.concat(fe, "; ") .. "]"
  end
  local ctx = {}
  if e.method and e.url then ctx[#ctx + 1] = e.method .. " " .. e.url end
  if e.status then ctx[#ctx + 1] = "status " .. e.status end
  if e.attempts and e.attempts > 1 then ctx[#ctx + 1] = e.attempts .. " attempts" end
  if e.retry_after then ctx[#ctx + 1] = ("retry after %.3gs"):format(e.retry_after) end
  if #ctx > 0 then parts[#parts + 1] = " (" .. table.concat(ctx, ", ") .. ")" end
  return table.concat(parts)
end

--- Replaces every occurrence of each secret in s.
local function scrub(s, secrets)
  if type(s) ~= "string" or not secrets then return s end
  for _, secret in ipairs(secrets) do
    if #secret > 0 then
      local i = 1
      while true do
        local a, b = s:find(secret, i, true)
        if not a then break end
        s = s:sub(1, a - 1) .. "[REDACTED]" .. s:sub(b + 1)
        i = a + 10
      end
    end
  end
  return s
end
Error.scrub = scrub

--- Builds an error. `fields` holds any of the documented fields; `secrets`
-- (optional) lists strings that must not appear in any text of the error.
function Error.new(kind, message, fields, secrets)
  assert(Error.KINDS[kind], "unknown error kind")
  local e = setmetatable({}, Error)
  for k, v in pairs(fields or {}) do e[k] = v end
  e.kind, e.message = kind, scrub(message, secrets)
  if e.field_errors then
    local fe = {}
    for k, v in pairs(e.field_errors) do fe[scrub(k, secrets)] = scrub(v, secrets) end
    e.field_errors = fe
  end
  if e.errors then
    for i, v in ipairs(e.errors) do e.errors[i] = scrub(v, secrets) end
  end
  e.attempts = e.attempts or 0
  return e
end

--- A validation error from `{field = reason}`; nothing was sent.
function Error.validation(field_errors, method, url)
  local parts = {}
  for _, k in ipairs(sorted_keys(field_errors)) do parts[#parts + 1] = k .. ": " .. field_errors[k] end
  local msg = "invalid " .. table.concat(parts, "; ")
  return Error.new("validation", msg, { field_errors = field_errors, method = method, url = url })
end

--- A state store's failure (close.store.*): what the call was and why.
function Error.store(what, why)
  return Error.new("store", ("store %s: %s"):format(what, tostring(why)))
end

--- Whether v is an error of this module.
function Error.is(v)
  return getmetatable(v) == Error
end

return Error
