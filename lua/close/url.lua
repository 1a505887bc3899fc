--- URLs: splitting one, and sorted percent-encoding of a table (a query
-- string, a form).
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

--- Splits an http(s) URL: the one URL splitter of the Lua side (the
-- cosocket transport, the token endpoint's origin, the pacer's groups).
-- @return `{scheme=, host=, port=, path=, tls=, ipv6=, connect_host=, host_header=}` or nil, reason
function M.split(url)
  if type(url) ~= "string" then return nil, "the URL is not a string" end
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then return nil, "not an absolute URL" end
  scheme = scheme:lower()
  if scheme ~= "http" and scheme ~= "https" then
    return nil, "unsupported scheme '" .. scheme .. "'"
  end
  local authority, path = rest:match("^([^/?#]*)(.*)$")
  path = path:gsub("#.*$", "")
  if path == "" or path:sub(1, 1) == "?" then path = "/" .. path end
  if path:find("[%c ]") then return nil, "the URL path has spaces or control characters" end
  if authority:find("@", 1, true) then return nil, "user info in the URL is not supported" end
  local host, port, ipv6
  local v6, after = authority:match("^%[([%x:.]+)%](.*)$")
  if v6 then
    host, ipv6 = v6:lower(), true
    if after ~= "" then
      port = after:match("^:(%d*)$")
      if not port then return nil, "malformed host" end
    end
  else
    host, port = authority:match("^([^:]*):(%d*)$")
    if not host then host = authority end
    host = host:lower()
    if host == "" then return nil, "no host in the URL" end
    if not host:match("^[%w._-]+$") then return nil, "malformed host" end
  end
  local default_port = scheme == "https" and 443 or 80
  port = (port == nil or port == "") and default_port or tonumber(port)
  if not port or port < 1 or port > 65535 then return nil, "port out of range" end

  local u = { scheme = scheme, host = host, port = port, path = path, tls = scheme == "https", ipv6 = ipv6 }
  local bracketed = ipv6 and ("[" .. host .. "]") or host
  -- a loopback name (localhost, *.localhost) connects without a resolver, as curl does
  u.connect_host = (not ipv6 and not host:match("^[%d.]+$") and core.is_loopback_host(host)) and "127.0.0.1"
    or bracketed
  u.host_header = port == default_port and bracketed or (bracketed .. ":" .. port)
  return u
end

--- The origin of an http(s) URL: `scheme://host[:port]` (the port only
-- when not the scheme's default), or nil and the reason.
function M.origin(url)
  local u, why = M.split(url)
  if not u then return nil, why end
  return u.scheme .. "://" .. u.host_header
end

--- `?k=v&...` as `encode` makes it ("" for none).
function M.query_string(query)
  if not query then return "" end
  local s = M.encode(query)
  return s ~= "" and ("?" .. s) or ""
end

return M
