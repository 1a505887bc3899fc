--- URLs: sorted percent-encoding of a table (a query string, a form).
-- @module close.url

local core = require "close.core"

local M = {}

--- `k=v&...` with keys sorted and both sides percent-encoded ("" for none):
-- the same table always makes the same string.
function M.encode(fields)
  local keys, parts = {}, {}
  for k in pairs(fields) do keys[#keys + 1] = k end
  table.sort(keys)
  for i, k in ipairs(keys) do parts[i] = core.urlencode(k) .. "=" .. core.urlencode(tostring(fields[k])) end
  return table.concat(parts, "&")
end

--- `?k=v&...` as `encode` makes it ("" for none).
function M.query_string(query)
  if not query then return "" end
  local s = M.encode(query)
  return s ~= "" and ("?" .. s) or ""
end

return M
