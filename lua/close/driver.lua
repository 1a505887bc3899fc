--- The request driver: one call is a pipeline of named steps,
-- build -> authorize -> pace -> send -> interpret -> decide (-> sleep ->
-- authorize again).
-- It lives in Lua because a C function cannot yield: under OpenResty the
-- transport and the sleep yield to the event loop, so the loop that calls
-- them must be Lua. The decisions it strings together are C's (close.core:
-- interpret says what a response means, retry_decide what to do next).
-- Each attempt crosses into C few times (spec/unit/crossings_spec.lua
-- counts them): the clock before and after the send, the transport, the
-- JSON decode, interpret; on a retry also the verdict and the sleep.
-- @module close.driver

local core = require "close.core"
local cjson = require "cjson.safe"
local Error = require "close.error"
local pacer_group = require("close.pacer").group
local query_string = require("close.url").query_string

local M = {}

local json = cjson.new()
json.decode_max_depth(64)

local core_interpret, retry_decide, system_wallclock = core.interpret, core.retry_decide, core.time

-- The start of a non-JSON body for the message, secrets removed before the
-- cut so that no piece of one survives it.
local function printable_snippet(body, secrets)
  local s = Error.scrub(body, secrets):sub(1, 200):gsub("[%c\128-\255]+", " ")
  s = s:gsub("^%s+", ""):gsub("%s+$", "")
  return s
end

-- The strings and numbers of a JSON list, joined; anything else is skipped.
local function join_strings(list)
  local parts = {}
  for _, v in ipairs(list) do
    if type(v) == "string" or type(v) == "number" then parts[#parts + 1] = tostring(v) end
  end
  return table.concat(parts, " ")
end

-- Close's error bodies: {"error": "..."}, {"error": {"message": ..}},
-- {"errors": [...], "field-errors": {...}}, {"message": ..}.
local function describe(status, doc, body, secrets)
  local out = {}
  if type(doc) == "table" then
    local e = doc.error
    if type(e) == "string" then out.message = e
    elseif type(e) == "table" then
      out.message = type(e.message) == "string" and e.message or nil
    end
    -- OAuth's token endpoint: {"error": "invalid_grant", "error_description": ...}
    if type(e) == "string" and e:match("^[%l_]+$") then
      out.code = e
      if type(doc.error_description) == "string" then out.message = e .. ": " .. doc.error_description end
    end
    if type(doc.message) == "string" then out.message = out.message or doc.message end
    if type(doc["field-errors"]) == "table" and next(doc["field-errors"]) then
      out.field_errors = {}
      for k, v in pairs(doc["field-errors"]) do
        out.field_errors[tostring(k)] = type(v) == "table" and join_strings(v) or tostring(v)
      end
    end
    if type(doc.errors) == "table" and #doc.errors > 0 then
      out.errors = {}
      for _, v in ipairs(doc.errors) do
        if type(v) == "string" or type(v) == "number" then out.errors[#out.errors + 1] = tostring(v) end
      end
      out.message = out.message or out.errors[1]
    end
    if not out.message and out.field_errors then out.message = "invalid fields" end
  end
  if not out.message then
    local snippet = printable_snippet(body, secrets)
    out.message = "HTTP " .. status .. (snippet ~= "" and (": " .. snippet) or "")
  end
  return out
end

--- `?k=v&...` with keys sorted and both sides percent-encoded ("" for none).
M.query_string = query_string

--- The request headers of a client, built once at `close.new`: a table for
-- calls without a body and one with Content-Type (`content_type`, JSON by
-- default), each with the same lines
-- as one string (`lines`) that the libcurl transport takes as it is.
-- Transports must not change them.
function M.headers(auth_header, user_agent, content_type)
  local plain = { ["Authorization"] = auth_header, ["User-Agent"] = user_agent, ["Accept"] = "application/json" }
  local with_body = { ["Content-Type"] = content_type or "application/json" }
  for k, v in pairs(plain) do with_body[k] = v end
  local function lines(h)
    local names, out = {}, {}
    for k in pairs(h) do names[#names + 1] = k end
    table.sort(names)
    for i, k in ipairs(names) do out[i] = k .. ": " .. h[k] end
    return table.concat(out, "\r\n")
  end
  return { plain = plain, plain_lines = lines(plain), body = with_body, body_lines = lines(with_body) }
end

--- The transport, sleep and pacing of a call of client c: the batch
-- scheduler's when the call runs in an item of a batch (the scheduler owns
-- them), else the client's own, fixed at close.new.
function M.io(c)
  local co = coroutine.running()
  return co and c.batches.by_co[co] or c.io
end

-- build: the parts of the request that stay the same over its attempts
local function build(c, req)
  local url = req.url or (c.base_url .. req.path .. (req.query and query_string(req.query) or ""))
  local body = req.json or req.form -- already encoded (cjson cannot say every JSON; a form is not JSON)
  if body == nil and req.body ~= nil then
    local why
    body, why = json.encode(req.body)
    if not body then
      return nil, Error.validation({ body = "cannot be encoded as JSON: " .. tostring(why) }, req.method, url)
    end
  end
  if c.conn.closed then
    return nil, Error.new("closed", "the client is closed (client:close() was called)",
      { method = req.method, url = url })
  end
  if c.check_phase then
    local ok, why = c.check_phase()
    if not ok then
      return nil, Error.new("validation", (why:gsub("^close: ", "")), { method = req.method, url = url })
    end
  end
  local io = M.io(c)
  return { c = c, req = req, method = req.method, url = url, body = body, io = io,
    start = c.clock(), deadline = req.deadline or c.deadline, reauthorized = false,
    pacer = io.paced and c.pacer, group = io.paced and pacer_group(req.method, req.path or url) }
end

-- the seconds left before the call's deadline and the clock's time, or nil
-- and the timeout error
local function time_left(call, attempt)
  local now = call.c.clock()
  local remaining = call.deadline - (now - call.start)
  if remaining > 0 then return remaining, now end
  return nil, Error.new("timeout", ("deadline of %gs passed"):format(call.deadline),
    { attempts = attempt - 1, method = call.method, url = call.url })
end

-- authorize: the header set of this attempt. A request with headers of its
-- own (the token endpoint's) has them; else the client's auth provider
-- gives them (an OAuth one may refresh its token first).
local function authorize(call, remaining)
  if call.req.headers then return call.req.headers end
  return call.c.auth:headers(call.c, remaining)
end

-- pace: wait for the group's slot (in a batch, or with pace = true). A slot
-- past the deadline is not waited for: the server may still take the call.
-- Returns the clock's time, read again only after a wait.
local function pace(call, remaining, now)
  if not call.pacer then return now end
  local d = call.pacer:delay(call.group, now)
  if not (d > 0 and d < remaining) then return now end
  call.io.sleep(d)
  return call.c.clock()
end

-- send: one attempt through the transport; returns a response table, or
-- nil and an error of the shape {kind=, message=}
local function send(call, h, remaining)
  local c, body = call.c, call.body
  local res, terr = call.io.transport({
    method = call.method, url = call.url, body = body,
    headers = body and h.body or h.plain, header_lines = body and h.body_lines or h.plain_lines,
    timeout = remaining < c.timeout and remaining or c.timeout,
    connect_timeout = remaining < c.connect_timeout and remaining or c.connect_timeout,
    ca_file = c.ca_file, max_body = call.req.max_body or c.max_body,
  })
  if res then return res end
  -- a transport of the user's may return anything: make it the shape we need
  local t = type(terr) == "table" and terr or { message = terr }
  local kind = Error.KINDS[t.kind] and t.kind or "network"
  local msg = t.message
  if msg == nil then msg = Error.KINDS[t.kind] and t.kind or "transport failed" end
  return nil, { kind = kind, message = tostring(msg) }
end

-- what the on_attempt hook sees of an attempt: never a credential
local function report(c, a, wait)
  c.on_attempt({ method = a.method, url = a.url, attempt = a.attempt, status = a.status, kind = a.kind,
    duration = a.duration, wait = wait, wait_source = wait and (a.hint_source or "backoff") or nil,
    rate_limit = a.rate_limit })
end

-- The body's fact that interpret reads: Close's rate_reset, under "error"
-- or at the top level.
local function rate_reset(doc)
  if type(doc) ~= "table" then return nil end
  local e = doc.error
  return type(e) == "table" and e.rate_reset or doc.rate_reset
end

-- interpret: a response -> the decoded document (success), or the attempt's
-- kind, description and wait hint filled in. What the status and headers
-- mean is one call into C (interpret.c); the body is decoded once.
local function interpret(c, a, res)
  local status, body = res.status, res.body
  local headers = res.headers or {}
  res.headers = headers
  local doc = body ~= "" and json.decode(body) or nil
  -- nil: C reads the same system clock itself, one call into C less
  local wall = c.wallclock ~= system_wallclock and c.wallclock() or nil
  local kind
  kind, a.retryable, a.hint, a.hint_source, a.rate_limit = core_interpret(status, headers, rate_reset(doc), wall)
  a.status = status
  if not kind then
    if body == "" then return {} end
    -- an object is expected (cjson cannot tell [] from {}; a list with items is refused)
    if type(doc) == "table" and #doc == 0 then return doc end
    a.kind, a.message = "protocol", "response is not a JSON object"
    return nil
  end
  a.kind = kind
  a.info = describe(status, doc, body, c.secrets)
  return nil
end

-- one attempt: send, interpret, and the pacer fed with what came back.
-- Returns the attempt's record (`doc` set on success; `done` the clock's
-- time after it) and the response.
local function attempt_once(call, h, remaining, attempt, t0)
  local c = call.c
  local res, terr = send(call, h, remaining)
  local done = c.clock()
  local a = { method = call.method, url = call.url, attempt = attempt, duration = done - t0, done = done }
  if res then
    a.doc = interpret(c, a, res)
    if call.pacer then call.pacer:update(call.group, done, a.rate_limit, a.status, a.hint) end
  else
    a.kind, a.message = terr.kind, terr.message
    if call.pacer then call.pacer:update(call.group, done) end
  end
  return a, res
end

-- decide: the wait before the next attempt, or nil, the verdict and the
-- wait the server asked for: one call into C (retry.c), which holds the
-- whole rule (what may be repeated by which call, a 401's one
-- re-authorization, backoff, caps, deadline). On "reauthorize" the auth
-- provider says whether the refused token was one it held valid; if not,
-- the 401 is final.
local function decide(call, a, h)
  local c = call.c
  local wait, verdict, needed = retry_decide({
    attempt = a.attempt, max_retries = c.max_retries, status = a.status, kind = a.kind,
    idempotent = call.req.idempotent, can_reauthorize = not call.req.headers, reauthorized = call.reauthorized,
    hint = a.hint, elapsed = a.done - call.start, deadline = call.deadline,
    backoff_base = c.backoff_base, max_wait = c.max_wait, random = c.rng or c.random(),
  })
  if verdict ~= "reauthorize" then return wait, verdict, needed end
  if not c.auth:rejected(h.token) then return nil, "not_retryable", 0 end
  call.reauthorized, a.hint_source = true, "reauthorize"
  return wait, verdict, needed
end

-- A 404 from a base_url whose path is not Close's /api/v1 is most likely
-- that path, not the object: say so.
local function wrong_path_hint(call, a)
  local base = call.c.base_url
  if a.status == 404 and not call.req.url and not base:find("/api/v%d+/?$") then
    return (" (base_url %s does not end in /api/v1: the path looks wrong)"):format(base)
  end
  return ""
end

-- the error a call ends with, from its last attempt and the verdict
local function failure(call, a, verdict, needed)
  local c, deadline = call.c, call.deadline
  local fields = { status = a.status, attempts = a.attempt, method = a.method, url = a.url,
    rate_limit = a.rate_limit, retry_after = a.hint }
  local message = a.message
  if a.info then
    message = a.info.message
    fields.field_errors, fields.errors, fields.code = a.info.field_errors, a.info.errors, a.info.code
  end
  if verdict == "wait_cap" then
    message = message .. (" (the server asks to wait %gs, more than max_wait %gs)"):format(needed, c.max_wait)
  elseif verdict == "deadline" then
    message = message .. (" (a retry would pass the deadline of %gs)"):format(deadline)
  end
  return Error.new(a.kind, message .. wrong_path_hint(call, a), fields, c.secrets)
end

--- Sends one logical call with retries.
-- `c` is the client's internals (settings and owned objects, see
-- close.client); `req` is
-- `{method=, path=, query=, body=(table) or json=(string), idempotent=}`,
-- or, for a request of its own such as the token endpoint's,
-- `{method=, url=, form=, headers=(a set from M.headers), deadline=}`.
-- Returns `decoded, nil, meta` or `nil, err`.
function M.call(c, req)
  local call, err = build(c, req)
  if not call then return nil, err end
  local attempt = 0
  while true do -- ends: decide stops after max_retries, time_left at the deadline
    attempt = attempt + 1
    local remaining, now = time_left(call, attempt)
    if not remaining then return nil, now end
    local h, aerr = authorize(call, remaining)
    if not h then return nil, aerr end
    now = pace(call, remaining, now)
    local a, res = attempt_once(call, h, remaining, attempt, now)
    if a.doc then
      if c.on_attempt then report(c, a, nil) end
      return a.doc, nil, { status = a.status, headers = res.headers, rate_limit = a.rate_limit,
        attempts = attempt, duration = a.done - call.start }
    end
    local wait, verdict, needed = decide(call, a, h)
    if c.on_attempt then report(c, a, wait) end
    if not wait then return nil, failure(call, a, verdict, needed) end
    call.io.sleep(wait)
  end
end

return M
