-- make bench, the cosocket part: inside nginx (bench/cosocket.conf.in, one
-- worker), N sequential creates over one pooled keep-alive connection to
-- the benchmark's upstream, through close (its cosocket transport) or as a
-- bare cosocket request written by hand (the same bytes out, the head read
-- up to its blank line, Content-Length bytes of body, back to the pool).
-- GET /run?mode=close|bare&calls=N answers "cpu_us X wall_us Y" per call:
-- the worker's CPU time (os.clock) and the wall clock.
-- luacheck: read globals ngx
local close = require "close"

local M = {}

-- the request close sends, with the headers and body it sends (seen by a
-- stub transport), written out once
local function bare_request(u, url)
  local sent
  assert(close.new { api_key = "ck_bench", base_url = url, transport = function(req)
    sent = req
    return { status = 200, headers = {}, body = "{}" }
  end }:create_membership { email = "jane.doe@acme.com", role_id = "user" })
  local names, out = {}, { "POST ", u.path, " HTTP/1.1\r\nHost: ", u.host, ":", u.port, "\r\n",
    "Connection: keep-alive\r\n" }
  for name in pairs(sent.headers) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do out[#out + 1] = name .. ": " .. sent.headers[name] .. "\r\n" end
  out[#out + 1] = "Content-Length: " .. #sent.body .. "\r\n\r\n" .. sent.body
  return table.concat(out)
end

local function bare_call(u, wire)
  local sock = ngx.socket.tcp()
  sock:settimeouts(5000, 5000, 5000)
  assert(sock:connect(u.host, u.port, { pool = "bench-bare" }))
  assert(sock:send(wire))
  local head = assert(sock:receiveuntil("\r\n\r\n")())
  assert(head:match("^HTTP/1%.1 200"), head)
  local n = tonumber(head:match("\r\n[Cc]ontent%-[Ll]ength:%s*(%d+)"))
  local body = assert(sock:receive(n))
  assert(sock:setkeepalive())
  return body
end

local function parse(url)
  local host, port, path = url:match("^http://([^:/]+):(%d+)(/.*)$")
  return { host = host, port = tonumber(port), path = path .. "/membership/" }
end

function M.run()
  local args = ngx.req.get_uri_args()
  local calls, url = tonumber(args.calls) or 2000, args.url
  local u = parse(url)
  local client = close.new { api_key = "ck_bench", base_url = url }
  local one
  if args.mode == "bare" then
    local wire = bare_request(u, url)
    one = function() return bare_call(u, wire) end
  else
    one = function() return assert(client:create_membership { email = "jane.doe@acme.com", role_id = "user" }) end
  end
  one() -- warm up: the connection, the JIT
  ngx.update_time()
  local t0, c0 = ngx.now(), os.clock()
  for _ = 1, calls do one() end
  local cpu = os.clock() - c0
  ngx.update_time()
  ngx.say(("cpu_us %.3f wall_us %.3f"):format(cpu / calls * 1e6, (ngx.now() - t0) / calls * 1e6))
end

return M
