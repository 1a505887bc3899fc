-- An application inside nginx + ngx_lua (the OpenResty host of the specs in
-- spec/openresty): handlers that call close's create_membership through the
-- cosocket transport against the fake Close server (test/server), and a
-- small upstream (the "raw" server) whose crafted responses exercise the
-- transport's HTTP reading. Everything is reported back as JSON.
--
-- luacheck: globals ngx

local cjson = require "cjson.safe"
local close = require "close"
local transport = require "close.transport.ngx"

local M = {}

local dict = ngx.shared.close_app

local function env(name)
  local v = os.getenv(name)
  if not v or v == "" then error(name .. " is not set (test/openresty/ctl.sh passes it with 'env')", 2) end
  return v
end

local function send(status, obj)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.say(cjson.encode(obj))
end

---------------------------------------------------------------------------
-- Clients: one per worker and configuration, built on first use and kept
-- in this module-level table (the module is loaded once per worker).

local clients = {}

-- target name -> base URL of the fake Close server
local function base_url(target)
  local https_port = env("CLOSE_TEST_HTTPS_URL"):match("^https://[^/]-:(%d+)/")
  local urls = {
    http = env("CLOSE_TEST_HTTP_URL"),                  -- http://127.0.0.1:port/api/v1
    https = env("CLOSE_TEST_HTTPS_LOCALHOST_URL"),      -- https://localhost:port/api/v1 (in the cert)
    https_ip = env("CLOSE_TEST_HTTPS_URL"),             -- https://127.0.0.1:port/api/v1
    -- loopback (*.localhost) but not a name the certificate covers
    wrong_name = "https://wrong-name.localhost:" .. https_port .. "/api/v1",
    -- nothing listens there
    refused = "http://127.0.0.1:" .. env("CLOSE_TEST_CLOSED_PORT") .. "/api/v1",
    refused6 = "http://[::1]:" .. env("CLOSE_TEST_CLOSED_PORT") .. "/api/v1",
  }
  return urls[target]
end

local function number_arg(args, name)
  local v = args[name]
  if v == nil then return nil end
  return tonumber(v) or error("argument " .. name .. " must be a number")
end

local function client_for(args, pool)
  local target = args.target or "http"
  local kind = args.transport or "ngx"
  local opts = {
    api_key = env("CLOSE_TEST_API_KEY"),
    base_url = base_url(target) or error("unknown target " .. tostring(target)),
    backoff_base = number_arg(args, "backoff_base") or 0.05,
    timeout = number_arg(args, "timeout") or 5,
    deadline = number_arg(args, "deadline") or 20,
    max_retries = number_arg(args, "max_retries"),
    max_body = number_arg(args, "max_body"),
  }
  pool = args.pool or pool
  local key = table.concat({ target, kind, tostring(pool), tostring(opts.backoff_base), tostring(opts.timeout),
    tostring(opts.deadline), tostring(opts.max_retries), tostring(opts.max_body) }, "|")
  if not clients[key] then
    if kind == "ngx" then
      opts.transport = transport.new{ pool = pool }
      opts.sleep = transport.sleep
    elseif kind == "curl" then -- the blocking libcurl transport: the control of the concurrency spec
      opts.transport = require("close.transport.curl").new()
      opts.sleep = require("close.core").sleep
    else
      error("unknown transport " .. kind)
    end
    clients[key] = close.new(opts)
  end
  return clients[key]
end

local function outcome(client, email, role_id)
  local t0 = ngx.now()
  local m, err, meta = client:create_membership{ email = email, role_id = role_id or "user" }
  ngx.update_time()
  if m then
    return { ok = true, id = m.id, role_id = m.role_id, status = meta.status, attempts = meta.attempts,
             duration = ngx.now() - t0 }
  end
  return { ok = false, kind = err.kind, status = err.status, message = err.message, attempts = err.attempts,
           retry_after = err.retry_after, duration = ngx.now() - t0 }
end

---------------------------------------------------------------------------
-- Phases without cosockets: build a client (allowed), try a call (refused),
-- keep the message for the specs.

local function try_call_here()
  local client = close.new{ api_key = "ck_unused", base_url = "http://127.0.0.1:9/api/v1" }
  local ok, res, err = pcall(client.create_membership, client, { email = "phase@acme.com", role_id = "user" })
  local _, available_msg = transport.available()
  local out = { phase = ngx.get_phase(), raised = not ok, available_message = available_msg }
  if not ok then out.message = tostring(res)
  elseif not res then out.message, out.kind, out.attempts = err.message, err.kind, err.attempts end
  return out
end

local function store(name, value)
  dict:set("refusal:" .. name, cjson.encode(value))
end

function M.init()
  store("init", try_call_here())
end

function M.init_worker()
  store("init_worker", try_call_here())
  -- the worker's default client, built here once: building needs no cosocket
  clients.default = close.new{ api_key = env("CLOSE_TEST_API_KEY"), base_url = env("CLOSE_TEST_HTTP_URL"),
                               transport = transport.new(), sleep = transport.sleep, backoff_base = 0.05 }
end

function M.refusal_in_set()
  return cjson.encode(try_call_here())
end

function M.refusal_in_log()
  store("log", try_call_here())
end

function M.stored_refusal()
  local v = dict:get("refusal:" .. tostring(ngx.req.get_uri_args().phase))
  if not v then return send(404, { error = "nothing stored for this phase" }) end
  ngx.header["Content-Type"] = "application/json"
  ngx.say(v)
end

---------------------------------------------------------------------------
-- Handlers with cosockets

-- GET /membership?email=&role=&target=&calls=&timeout=&deadline=&max_retries=&max_body=&pool=&transport=
-- -> {results = [outcome, ...]}; `default=1` uses the client built in init_worker.
function M.membership(pool)
  local args = ngx.req.get_uri_args()
  local client = args.default and clients.default or client_for(args, pool)
  local results = {}
  for i = 1, tonumber(args.calls) or 1 do
    local email = args.email or "app@acme.com"
    if i > 1 then email = email:gsub("@", "+" .. i .. "@") end
    results[i] = outcome(client, email, args.role)
  end
  send(200, { results = results, phase = ngx.get_phase() })
end

-- GET /defaults?email= : a client given no transport nor sleep, so that
-- close picks them (the cosocket ones inside nginx).
function M.defaults()
  clients.defaults = clients.defaults or close.new{ api_key = env("CLOSE_TEST_API_KEY"),
    base_url = env("CLOSE_TEST_HTTP_URL"), backoff_base = 0.05 }
  send(200, { results = { outcome(clients.defaults, ngx.req.get_uri_args().email or "defaults@acme.com") } })
end

-- GET /timer?id=&email= : the call runs in a timer, after the response;
-- GET /timer/result?id= : its outcome, or 404 while it runs.
function M.timer()
  local args = ngx.req.get_uri_args()
  local id = assert(args.id, "id is required")
  local client = client_for(args)
  local ok, err = ngx.timer.at(0, function(premature)
    if premature then return end
    local out = outcome(client, args.email or "timer@acme.com", args.role)
    out.phase = ngx.get_phase()
    dict:set("timer:" .. id, cjson.encode(out))
  end)
  if not ok then return send(500, { error = "cannot schedule: " .. tostring(err) }) end
  send(200, { scheduled = id })
end

function M.timer_result()
  local v = dict:get("timer:" .. tostring(ngx.req.get_uri_args().id))
  if not v then return send(404, { pending = true }) end
  ngx.header["Content-Type"] = "application/json"
  ngx.say(v)
end

-- GET /transport?url=&method=&calls=&timeout=&max_body=&bad_header=&pool=
-- -> {results = [{status=, headers=, body=} or {kind=, message=}]}: the bare transport.
function M.transport()
  local args = ngx.req.get_uri_args()
  local t = transport.new{ pool = args.pool }
  local results = {}
  for i = 1, tonumber(args.calls) or 1 do
    local headers = { ["X-Test"] = "yes", Accept = "application/json" }
    if args.bad_header then headers["X-Bad"] = "a\r\nInjected: 1" end
    local res, err = t({
      method = args.method or "GET", url = args.url, headers = headers, body = args.body,
      timeout = tonumber(args.timeout) or 5, connect_timeout = 2,
      max_body = tonumber(args.max_body) or 1048576,
    })
    results[i] = res or { kind = err.kind, message = err.message }
  end
  send(200, { results = results })
end

-- POST /batch with a JSON body {n=, concurrency=, tag=, op=, bad_key=, invalid=,
-- on_result_sleep=, pool=, pool_size=}: client:batch over n items in this
-- request, with a client of its own (a fresh pacer). op "create" (default)
-- creates the memberships <tag><i>@acme.com; "me" reads GET /me/ n times.
-- The first `invalid` items have an invalid email: they fail before any I/O,
-- so their threads end before the batch waits. `bad_key` uses a wrong API
-- key; `on_result_sleep` makes on_result yield (ngx.sleep) each time.
-- Answers {outcomes=, ok=, failed={kind=N}, not_started=, stopped=,
-- peak_concurrency=, elapsed=, attempts=, fn_calls=, fn_calls_max=,
-- on_result_calls=, missing=, transport={connects=, reused=}} (the batch's
-- transport's connections opened and reused).
function M.batch()
  ngx.req.read_body()
  local body = cjson.decode(ngx.req.get_body_data() or "")
  if type(body) ~= "table" then return send(400, { error = "expected a JSON object" }) end
  local n = tonumber(body.n) or 10
  local tag = body.tag or "batch"
  local invalid = tonumber(body.invalid) or 0
  local batch_transport, handle = transport.new{ pool = body.pool, pool_size = body.pool_size }
  local client = close.new{
    api_key = body.bad_key and "ck_wrong_key_for_the_batch_spec" or env("CLOSE_TEST_API_KEY"),
    base_url = env("CLOSE_TEST_HTTP_URL"),
    transport = batch_transport, sleep = transport.sleep,
    backoff_base = 0.05, timeout = tonumber(body.timeout) or 10, deadline = tonumber(body.deadline) or 30,
  }
  local items = {}
  for i = 1, n do items[i] = i end
  local calls, on_result_calls, fn_calls = {}, 0, 0
  local function fn(c, i)
    fn_calls = fn_calls + 1
    calls[i] = (calls[i] or 0) + 1
    if body.op == "me" then return c:request("GET", "/me/") end
    local email = i <= invalid and ("not an email " .. i) or (tag .. i .. "@acme.com")
    return c:create_membership{ email = email, role_id = "user" }
  end
  local opts = { concurrency = body.concurrency or "auto", on_result = function()
    on_result_calls = on_result_calls + 1
    if body.on_result_sleep then ngx.sleep(tonumber(body.on_result_sleep)) end
  end }
  local before = handle:stats()
  ngx.update_time()
  local t0 = ngx.now()
  local outcomes, _, meta = client:batch(items, fn, opts)
  ngx.update_time()
  local elapsed = ngx.now() - t0
  local after = handle:stats()
  local out = {
    outcomes = #outcomes, ok = 0, failed = {}, not_started = meta.not_started, peak_concurrency = meta.peak_concurrency,
    stopped = meta.stopped and meta.stopped.kind or nil, elapsed = elapsed, attempts = 0,
    fn_calls = fn_calls, fn_calls_max = 0, on_result_calls = on_result_calls, missing = 0,
    transport = { connects = after.connects - before.connects, reused = after.reused - before.reused },
  }
  for i = 1, n do
    local o = outcomes[i]
    if type(o) ~= "table" then
      out.missing = out.missing + 1
    elseif o.ok then
      out.ok = out.ok + 1
      out.attempts = out.attempts + ((o.meta and o.meta.attempts) or 0)
    else
      local kind = o.err and o.err.kind or "?"
      out.failed[kind] = (out.failed[kind] or 0) + 1
      out.attempts = out.attempts + (o.err and o.err.attempts or 0)
    end
    if (calls[i] or 0) > out.fn_calls_max then out.fn_calls_max = calls[i] end
  end
  send(200, out)
end

---------------------------------------------------------------------------
-- The raw upstream: responses written byte by byte on the raw socket.

local RAW = {
  chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n"
    .. "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer-X: t\r\n\r\n",
  chunked_huge = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFF\r\nxx",
  chunked_bad = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
  chunked_cut = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nhel",
  until_close = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the server closes",
  bad_status = "HTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
  bad_header = "HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 2\r\n\r\n{}",
  interim = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}",
  empty = "",
  short = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
  bad_length = "HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\n{}",
  no_reason = "HTTP/1.1 204\r\n\r\n",
}

function M.raw()
  local case = ngx.var.uri:match("^/raw/([%w_]+)$")
  local sock = assert(ngx.req.socket(true))
  local out = RAW[case]
  if case == "big_head" then
    out = "HTTP/1.1 200 OK\r\n" .. string.rep("X-Filler: " .. string.rep("f", 1000) .. "\r\n", 70)
      .. "Content-Length: 2\r\n\r\n{}"
  elseif case == "many_headers" then
    out = "HTTP/1.1 200 OK\r\n" .. string.rep("X-Filler: f\r\n", 300) .. "Content-Length: 2\r\n\r\n{}"
  elseif case == "chunked_many" then -- 3000 bytes in 30 chunks
    local parts = { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" }
    for i = 1, 30 do parts[i + 1] = "64\r\n" .. string.rep("c", 100) .. "\r\n" end
    out = table.concat(parts) .. "0\r\n\r\n"
  elseif case == "until_close_big" then
    out = "HTTP/1.1 200 OK\r\n\r\n" .. string.rep("u", 5000)
  elseif case == "slow_body" then
    sock:send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    ngx.sleep(3)
    out = "defghij"
  elseif case == "close_on_next" then
    -- answers as if the connection could be kept, then closes it when the
    -- next request comes: what a server that timed out an idle connection
    -- does, in the worst moment
    sock:send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Conn: " .. ngx.var.connection .. "\r\n\r\n{}")
    sock:settimeout(5000)
    sock:receive("*l")
    return
  elseif case == "close_but_stays" then
    -- says Connection: close but keeps serving requests on the connection:
    -- a client that pooled it anyway would be seen reusing it
    local conn = ngx.var.connection
    sock:settimeout(2000)
    for _ = 1, 3 do
      sock:send("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\nX-Conn: " .. conn .. "\r\n\r\n{}")
      local line
      repeat line = sock:receive("*l") until not line or line == ""
      if not line then return end
    end
    return
  elseif case == "slow_head" then
    ngx.sleep(3)
    out = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
  end
  if not out then
    out = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
  end
  sock:send(out)
  -- returning closes the connection: a raw socket is never kept alive
end

-- Ordinary nginx responses, keep-alive allowed; X-Conn is nginx's connection serial.
function M.plain()
  local what = ngx.var.uri:match("^/plain/(%w+)$")
  ngx.header["X-Conn"] = ngx.var.connection
  if what == "echo" then
    ngx.req.read_body()
    local body = cjson.encode({ head = ngx.req.raw_header(), body = ngx.req.get_body_data() })
    ngx.header["Content-Length"] = #body
    ngx.print(body)
  elseif what == "chunked" then -- no Content-Length: nginx sends it chunked
    ngx.print("part one, ")
    ngx.flush(true)
    ngx.print("part two")
  else
    ngx.header["Content-Length"] = 2
    ngx.print("{}")
  end
end

return M
