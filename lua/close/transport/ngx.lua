--- The OpenResty transport: HTTP/1.1 over ngx_lua cosockets.
-- Inside nginx a request handler must not block (libcurl would stall every
-- request of the worker), so this transport talks HTTP itself over
-- `ngx.socket.tcp`, which yields to the event loop while it waits.
--
--     local t = require "close.transport.ngx"
--     local client = close.new{ api_key = ..., transport = t.new(), sleep = t.sleep }
--
-- Same interface as `close.transport.curl`: `transport(request)` returns
-- `{status=, headers=, body=}` or `nil, {kind=, message=}`. Differences:
--
-- * Certificates are checked against `lua_ssl_trusted_certificate` (and
--   `lua_ssl_verify_depth`) of the nginx configuration; `request.ca_file` is
--   ignored. nginx matches the certificate against the host name only (DNS
--   names), so an https URL with an IP address fails verification even when
--   the certificate lists that IP.
-- * Host names are resolved by nginx's `resolver` directive, which must be
--   configured for any name but `localhost` and `*.localhost`: those are
--   loopback (RFC 6761) and connect to 127.0.0.1 without a resolver, as curl
--   does.
-- * Connections are kept in the cosocket pool of the worker
--   (`lua_socket_keepalive_timeout`), one pool per scheme, host, port and
--   TLS server name, holding up to 1000 idle connections (the `pool_size`
--   option of `new`; not `lua_socket_pool_size`). The handle `new` returns
--   counts the connections its transport opened and reused (`stats()`).
--
-- Only some phases have cosockets: rewrite, access, content, ngx.timer and
-- the ssl_certificate/ssl_session_fetch/ssl_client_hello handlers. Elsewhere
-- (init, init_worker, set, header_filter, body_filter, log, balancer...) a
-- client call returns `nil, err` saying so before any I/O (close.lua checks
-- `available()` first); the transport and `sleep` called directly raise.
-- @module close.transport.ngx

-- luacheck: read globals ngx
local ngx = ngx -- nil outside nginx: then only available() may be called

-- close.core is loaded inside nginx too: the wire parser, the limits and
-- their messages, the loopback rule and the defaults are the libcurl
-- transport's own, so both transports read a response alike.
local core = require "close.core"
local host = require "close.host"
local LIMITS, DEFAULTS = core.limits, core.defaults

local M = {}

local MAX_HEAD = LIMITS.max_head
local MAX_CHUNK_LINE = LIMITS.max_chunk_line
local MAX_INTERIM = LIMITS.max_interim
local BLOCK = 16384           -- bytes asked of the socket per read
local MAX_STALE_RETRIES = 1   -- fresh attempts after a pooled connection turned out dead

-- The idle connections a pool keeps (`pool_size` of tcpsock:connect; fixed
-- when the worker first connects to that pool). It must hold every
-- connection that a batch has open at once: when more come back than it
-- holds, ngx_lua closes the least recently used ones, and the batch's next
-- calls connect (and for https shake hands) again. nginx's default,
-- `lua_socket_pool_size 30`, is below close.batch's concurrencies (auto up
-- to 64, a fixed one up to 1000), so the pool is sized here: 1000, the
-- largest batch concurrency. It is an upper bound, not a reservation: only
-- connections that were open at once are kept (each slot costs about 200
-- bytes of the worker's Lua memory).
local DEFAULT_POOL_SIZE = require("close.batch").MAX_CONCURRENCY

local BODY_TOO_LARGE = LIMITS.body_too_large
local HEAD_TOO_LARGE = LIMITS.head_too_large

local COSOCKET_PHASES = {
  rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true,
}

--- Whether cosockets can be used here and now.
-- @return true; or false and a message naming the phase and what to do
function M.available()
  if not host.nginx() then
    return false, "close: ngx.socket is not available: this is not OpenResty (nginx with ngx_lua)"
  end
  local phase = ngx.get_phase()
  if COSOCKET_PHASES[phase] then return true end
  return false, ("close: cosockets are not available in the '%s' phase; call it from a handler "
    .. "(rewrite_by_lua*, access_by_lua*, content_by_lua*) or from ngx.timer.at"):format(tostring(phase))
end

local function check_phase()
  local ok, msg = M.available()
  if not ok then error(msg, 0) end
end

--- Waits without blocking the worker (`ngx.sleep`), for the client's `sleep` option.
-- @tparam number seconds
function M.sleep(seconds)
  check_phase()
  if type(seconds) == "number" and seconds > 0 then ngx.sleep(seconds) end
end

local function dotted(v)
  v = tonumber(v) or 0
  return ("%d.%d.%d"):format(math.floor(v / 1000000), math.floor(v / 1000) % 1000, v % 1000)
end

--- "nginx/1.22.1; ngx_lua/0.10.23", for a User-Agent; nil outside nginx.
function M.runtime()
  if type(ngx) ~= "table" or type(ngx.config) ~= "table" then return nil end
  return ("nginx/%s; ngx_lua/%s"):format(dotted(ngx.config.nginx_version), dotted(ngx.config.ngx_lua_version))
end

local function fail(kind, message)
  return nil, { kind = kind, message = message }
end

-- -------------------------------------------------------------------------
-- URL

--- Splits an http(s) URL (close.url.split); exported for tests.
M.parse_url = require("close.url").split

-- -------------------------------------------------------------------------
-- Request

local function sanitize(s)
  return (s:sub(1, 80):gsub("[%c\128-\255]", "?"))
end

-- The header lines of a set of request headers, checked by close.core's
-- rule for every header we send, sorted: `{lines=, host=, connection=,
-- close_asked=}` (what the set gives itself), or nil and a reason.
local function header_block(headers)
  if headers ~= nil and type(headers) ~= "table" then return nil, "headers must be a table" end
  local names, given = {}, {}
  for name, value in pairs(headers or {}) do
    if type(value) == "number" then value = tostring(value) end
    if type(name) ~= "string" then return nil, "invalid header name of type " .. type(name) end
    local ok, why = core.check_header(name, type(value) == "string" and value or "")
    if not ok and why == "name" then return nil, "invalid header name '" .. sanitize(name) .. "'" end
    if type(value) ~= "string" then return nil, "header '" .. name .. "' must have a string value" end
    -- never echo the value: it may be the Authorization header
    if not ok then return nil, "header '" .. name .. "' has a CR, LF or NUL in its value" end
    local lname = name:lower()
    if given[lname] then return nil, "header '" .. name .. "' is given twice" end
    if lname ~= "content-length" and lname ~= "transfer-encoding" then
      names[#names + 1] = name
      given[lname] = value
    end
  end
  table.sort(names)
  local out = {}
  for i, name in ipairs(names) do out[i] = name .. ": " .. given[name:lower()] .. "\r\n" end
  local close_asked = false
  for token in (given.connection or ""):lower():gmatch("[^,%s]+") do
    if token == "close" then close_asked = true end
  end
  return { lines = table.concat(out), host = given.host ~= nil, connection = given.connection ~= nil,
    close_asked = close_asked }
end

-- The client's fixed header sets, checked once: a request that carries its
-- set as `header_lines` too (close's driver does) finds it in its
-- transport's handle `t` on every later attempt. Bounded: an OAuth client
-- makes a new set per token.
local MAX_BLOCKS = 16

local function cached_header_block(t, req)
  local key = req.header_lines
  local hb = type(key) == "string" and t.blocks[key]
  if hb then return hb end
  local why
  hb, why = header_block(req.headers)
  if hb and type(key) == "string" then
    if t.nblocks >= MAX_BLOCKS then t.blocks, t.nblocks = {}, 0 end
    t.blocks[key], t.nblocks = hb, t.nblocks + 1
  end
  return hb, why
end

local BODY_METHODS = core.BODY_METHODS -- the methods whose requests carry a body (wire.c)

-- The request to write: `{wire = its bytes (its line, Host and Connection
-- unless the set gives them, the set's lines, the body's length and the
-- body), close_asked = whether its headers ask to close}`; or nil and why
-- it cannot be sent.
local function build_request(t, req, u)
  local method = req.method
  if type(method) ~= "string" or not core.is_token(method) then
    return nil, "invalid method"
  end
  local hb, why = cached_header_block(t, req)
  if not hb then return nil, why end
  local body = req.body
  if body ~= nil and type(body) ~= "string" then return nil, "body must be a string" end
  local length = body and ("Content-Length: " .. #body .. "\r\n") or (BODY_METHODS[method] and "Content-Length: 0\r\n")
  return { wire = { method, " ", u.path, " HTTP/1.1\r\n",
    hb.host and "" or ("Host: " .. u.host_header .. "\r\n"),
    hb.connection and "" or "Connection: keep-alive\r\n",
    hb.lines, length or "", "\r\n", body or "" }, close_asked = hb.close_asked }
end

-- -------------------------------------------------------------------------
-- Reading, with one deadline for the whole attempt

local function ms(seconds)
  local v = math.floor(seconds * 1000 + 0.5)
  if v < 1 then v = 1 end
  return v
end

-- Sets the socket's timeout to what is left until the deadline; false when
-- nothing is left.
local function time_left_to_socket(st)
  local left = st.deadline - ngx.now()
  if left <= 0 then return false end
  st.sock:settimeout(ms(left))
  return true
end

-- Reads what has arrived (one block at most) onto st.buf.
local function receive_more(st)
  if not time_left_to_socket(st) then return nil, "timeout" end
  local data, err = st.sock:receiveany(BLOCK)
  if not data then return nil, err end
  st.buf = st.buf .. data
  st.received = st.received + #data
  return true
end

local function read_line(st, limit)
  while true do
    local i = st.buf:find("\n", 1, true)
    if i then
      if i - 1 > limit then return nil, "too long" end
      local line = st.buf:sub(1, i - 1)
      st.buf = st.buf:sub(i + 1)
      if line:sub(-1) == "\r" then line = line:sub(1, -2) end
      return line
    end
    if #st.buf > limit then return nil, "too long" end
    local ok, err = receive_more(st)
    if not ok then return nil, err end
  end
end

local function read_exact(st, n)
  local have = #st.buf
  if have >= n then
    local data = st.buf:sub(1, n)
    st.buf = st.buf:sub(n + 1)
    return data
  end
  if not time_left_to_socket(st) then return nil, "timeout", have end
  local data, err, partial = st.sock:receive(n - have)
  if not data then
    return nil, err, have + #(partial or "")
  end
  data = st.buf .. data
  st.buf = ""
  return data
end

-- The failure of a read in the middle of a body or head.
local function read_failure(err, what)
  if err == "timeout" then return fail("timeout", "timed out reading the " .. what) end
  if err == "closed" then return fail("protocol", "the connection closed in the middle of the " .. what) end
  return fail("network", "reading the " .. what .. ": " .. tostring(err))
end

-- Reads one response head; returns status, headers, head size and, for a
-- final response, how its body is framed ("none", "length", "chunked" or
-- "close"), its length and whether the connection may be kept (close.core
-- decides all of it); or nil, err.
local function read_head(st, method, max_body)
  while true do
    -- the parser of close.core: false while the head is incomplete
    local status, headers, version, size, framing, length, keep = core.parse_head(st.buf, method, max_body)
    if status then
      if version < 10 or version >= 20 then return fail("protocol", "not an HTTP/1.x response") end
      st.buf = st.buf:sub(size + 1)
      return status, headers, size, framing, length, keep
    end
    if status == nil then return fail("protocol", headers) end -- headers: the reason
    local ok, err = receive_more(st)
    if not ok then
      if st.received == 0 then
        if err == "timeout" then return fail("timeout", "timed out waiting for the response") end
        st.empty = true -- nothing came back: a dead pooled connection, maybe
        if err == "closed" then return fail("network", "the server closed the connection without a response") end
        return fail("network", "reading the response: " .. tostring(err))
      end
      return read_failure(err, "response headers")
    end
  end
end

local function read_chunked(st, max_body, trailer_room)
  local parts, total = {}, 0
  while true do
    local line, err = read_line(st, MAX_CHUNK_LINE)
    if not line then
      if err == "too long" then return fail("protocol", LIMITS.chunk_line_too_long) end
      return read_failure(err, "response body")
    end
    local size, why = core.chunk_size(line)
    if not size then return fail("protocol", why) end
    if size == 0 then break end
    if total + size > max_body then return fail("protocol", BODY_TOO_LARGE) end
    local data, rerr = read_exact(st, size)
    if not data then return read_failure(rerr, "response body") end
    parts[#parts + 1] = data
    total = total + size
    local crlf, lerr = read_line(st, 1)
    if crlf ~= "" then
      if crlf or lerr == "too long" then return fail("protocol", "malformed chunked body: no CRLF after a chunk") end
      return read_failure(lerr, "response body")
    end
  end
  -- trailers: read and dropped, within what is left of the header allowance
  while true do
    local line, err = read_line(st, trailer_room)
    if not line then
      if err == "too long" then return fail("protocol", HEAD_TOO_LARGE) end
      return read_failure(err, "response body")
    end
    if line == "" then break end
    trailer_room = trailer_room - #line - 2
    if trailer_room < 0 then return fail("protocol", HEAD_TOO_LARGE) end
  end
  return table.concat(parts)
end

local function read_until_close(st, max_body)
  local parts, total = { st.buf }, #st.buf
  st.buf = ""
  if total > max_body then return fail("protocol", BODY_TOO_LARGE) end
  while true do
    if not time_left_to_socket(st) then return fail("timeout", "timed out reading the response body") end
    local data, err = st.sock:receiveany(BLOCK)
    if not data then
      if err == "closed" then break end
      return read_failure(err, "response body")
    end
    total = total + #data
    if total > max_body then return fail("protocol", BODY_TOO_LARGE) end
    parts[#parts + 1] = data
  end
  return table.concat(parts)
end

-- Reads a body of n bytes (Content-Length).
local function read_length(st, n)
  local body, rerr, got = read_exact(st, n)
  if body then return body end
  if rerr == "closed" then
    return fail("protocol", ("the connection closed in the middle of the response body (%d of %d bytes)")
      :format(got or 0, n))
  end
  return read_failure(rerr, "response body")
end

-- Reads the whole response: returns response, reusable or nil, err.
local function read_response(st, method, max_body)
  local status, headers, size, framing, length, keep
  local used = 0
  for _ = 1, MAX_INTERIM + 1 do
    status, headers, size, framing, length, keep = read_head(st, method, max_body)
    if not status then return nil, headers end
    used = used + size
    if status >= 200 or status == 101 then break end
  end
  if status < 200 then
    return fail("protocol", status == 101 and "unexpected 101 Switching Protocols" or "too many 1xx responses")
  end
  local body, err
  if framing == "none" then
    body = ""
  elseif framing == "chunked" then
    body, err = read_chunked(st, max_body, math.max(MAX_HEAD - used, 2))
  elseif framing == "length" then
    body, err = read_length(st, length)
  else -- "close": until the server closes (close.core said the connection is not kept)
    body, err = read_until_close(st, max_body)
  end
  if not body then return nil, err end
  if st.buf ~= "" then keep = false end -- bytes past the response: do not reuse
  return { status = status, headers = headers, body = body }, keep
end

-- -------------------------------------------------------------------------
-- One attempt on one connection

local function connect_error(err)
  if err == "timeout" then return fail("timeout", "timed out connecting") end
  return fail("network", "cannot connect: " .. tostring(err))
end

-- A connected socket (from the pool or new) and whether it was pooled, or
-- nil, err. `t`: the transport's handle (pool label and size, counts).
local function connect(u, t, connect_timeout, timeout)
  local sock, serr = ngx.socket.tcp()
  if not sock then return fail("network", "cannot create a socket: " .. tostring(serr)) end
  sock:settimeouts(ms(connect_timeout), ms(timeout), ms(timeout))
  local ok, err = sock:connect(u.connect_host, u.port, u.pool_opts)
  if not ok then return connect_error(err) end
  local reused = (sock:getreusedtimes() or 0) > 0
  if reused then t.reused = t.reused + 1 else t.connects = t.connects + 1 end
  return sock, reused
end

-- TLS on a new connection, within what is left of the connect timeout;
-- true, or nil, err (the socket closed).
local function handshake(sock, u, connect_deadline)
  local left = connect_deadline - ngx.now()
  if left <= 0 then
    sock:close()
    return fail("timeout", "timed out connecting")
  end
  sock:settimeouts(ms(left), ms(left), ms(left))
  -- ngx_lua 0.10.23 with lua-resty-core 0.1.25 (Debian 12) raises
  -- "assertion failed!" instead of returning the reason when verification
  -- fails before the handshake had to wait (seen on loopback)
  local called, session, herr = pcall(sock.sslhandshake, sock, nil, u.host, true)
  if not called then session, herr = nil, "certificate verification failed" end
  if session then return true end
  sock:close()
  if herr == "timeout" then return fail("timeout", "timed out in the TLS handshake") end
  -- ngx_lua reports a failed verification as "<X509 code>: <reason>"
  if type(herr) == "string" and herr:match("^%d+: ") then herr = "certificate verify error " .. herr end
  return fail("tls", "TLS handshake with " .. u.host .. " failed: " .. tostring(herr))
end

-- Sends wire and reads the response on st.sock, then pools the connection
-- or closes it. The response, or nil, err, stale (see attempt).
local function exchange(st, req, wire, close_asked, reused, max_body)
  local sock = st.sock
  if not time_left_to_socket(st) then
    sock:close()
    return fail("timeout", "timed out before sending the request")
  end
  local sent, werr = sock:send(wire)
  if not sent then
    sock:close()
    if werr == "timeout" then return fail("timeout", "timed out sending the request") end
    return nil, { kind = "network", message = "sending the request: " .. tostring(werr) }, reused
  end
  local res, keep = read_response(st, req.method, max_body)
  if not res then
    sock:close()
    return nil, keep, reused and st.empty -- keep is the error here
  end
  if keep and not close_asked then
    local kept = sock:setkeepalive()
    if not kept then sock:close() end
  else
    sock:close()
  end
  return res
end

-- One attempt: the response, or nil, err and whether it failed on a pooled
-- connection before any response byte (stale: worth one fresh attempt).
local function attempt(u, req, wire, close_asked, t)
  ngx.update_time()
  local now = ngx.now()
  local timeout = tonumber(req.timeout) or DEFAULTS.timeout
  local connect_timeout = math.min(tonumber(req.connect_timeout) or DEFAULTS.connect_timeout, timeout)
  local sock, reused = connect(u, t, connect_timeout, timeout)
  if not sock then return nil, reused end
  if u.tls and not reused then
    local ok, err = handshake(sock, u, now + connect_timeout)
    if not ok then return nil, err end
  end
  local st = { buf = "", received = 0, deadline = now + timeout, sock = sock }
  return exchange(st, req, wire, close_asked, reused, tonumber(req.max_body) or DEFAULTS.max_body)
end

-- -------------------------------------------------------------------------

local Handle = {}
Handle.__index = Handle

--- The connections of this handle's transport since it was made:
-- `{connects = N (opened), reused = N (requests sent over a pooled connection)}`.
function Handle:stats()
  return { connects = self.connects, reused = self.reused }
end

-- new's options, checked (raising at new's caller): the pool label and size
local function check_options(opts)
  if opts ~= nil and type(opts) ~= "table" then
    error("close.transport.ngx.new: expected a table of options or nothing", 3)
  end
  local pool_label = opts and opts.pool
  if pool_label ~= nil and type(pool_label) ~= "string" then
    error("close.transport.ngx.new: option 'pool' must be a string", 3)
  end
  local pool_size = opts and opts.pool_size
  if pool_size == nil then
    pool_size = DEFAULT_POOL_SIZE
  elseif not (type(pool_size) == "number" and pool_size >= 1 and pool_size <= 100000 and pool_size % 1 == 0) then
    error("close.transport.ngx.new: option 'pool_size' must be a whole number from 1 to 100000", 3)
  end
  return pool_label, pool_size
end

--- Creates a transport.
-- @tparam[opt] table opts `pool`: a label added to the connection pool
--   names, for locations that trust different CAs (a pooled connection is
--   not verified again). `pool_size`: the idle connections each pool keeps
--   (default 1000; the first connect of the worker to a pool fixes it).
-- @return `transport` (a function `request -> response | nil, err`) and its
--   handle (`handle:stats()`)
function M.new(opts)
  local pool_label, pool_size = check_options(opts)
  local t = setmetatable({ pool_label = pool_label, pool_size = pool_size, connects = 0, reused = 0,
    blocks = {}, nblocks = 0 }, Handle)
  -- the URLs this transport sent to, split once with their pool's options
  -- (a client calls few; bounded all the same)
  local urls, nurls = {}, 0
  local function split(url)
    local u, why = urls[url]
    if u then return u end
    u, why = M.parse_url(url)
    if not u then return nil, why end
    local pool = u.scheme .. "://" .. u.host .. ":" .. u.port
    if u.tls then pool = pool .. "|tls:" .. u.host .. ":verify" end
    if pool_label then pool = pool .. "|" .. pool_label end
    u.pool_opts = { pool = pool, pool_size = pool_size }
    if nurls >= 64 then urls, nurls = {}, 0 end
    urls[url], nurls = u, nurls + 1
    return u
  end
  return function(req)
    check_phase()
    if type(req) ~= "table" then error("close.transport.ngx: the request must be a table", 2) end
    local u, why = split(req.url)
    if not u then return fail("protocol", "bad URL: " .. why) end
    local request, bad = build_request(t, req, u)
    if not request then return fail("protocol", "bad request: " .. bad) end
    local res, err, stale
    for _ = 0, MAX_STALE_RETRIES do
      -- a pooled connection the server already closed fails before any
      -- response byte; that request never reached the server, so send it
      -- again on a new connection (as curl does)
      res, err, stale = attempt(u, req, request.wire, request.close_asked, t)
      if res or not stale then break end
    end
    return res, err
  end, t
end

return M
