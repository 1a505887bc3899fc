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
  local function lines(header_set)
    local names, out = {}, {}
    for k in pairs(header_set) do names[#names + 1] = k end
    table.sort(names)
    for i, k in ipairs(names) do out[i] = k .. ": " .. header_set[k] end
    return table.concat(out, "\r\n")
  end
  return { plain = plain, plain_lines = lines(plain), body = with_body, body_lines = lines(with_body) }
end

--- The transport, sleep and pacing of a call of a client (its parts): the batch
-- scheduler's when the call runs in an item of a batch (the scheduler owns
-- them), else the client's own, fixed at close.new.
function M.io(parts)
  local co = coroutine.running()
  return co and parts.batches.by_co[co] or parts.io
end

-- build: the parts of the request that stay the same over its attempts
local function build(parts, req)
  local url = req.url or (parts.base_url .. req.path .. (req.query and query_string(req.query) or ""))
  local body = req.json or req.form -- already encoded (cjson cannot say every JSON; a form is not JSON)
  if body == nil and req.body ~= nil then
    local why
    body, why = json.encode(req.body)
    if not body then
      return nil, Error.validation({ body = "cannot be encoded as JSON: " .. tostring(why) }, req.method, url)
    end
  end
  if parts.conn.closed then
    return nil, Error.new("closed", "the client is closed (client:close() was called)",
      { method = req.method, url = url })
  end
  if parts.check_phase then
    local ok, why = parts.check_phase()
    if not ok then
      return nil, Error.new("validation", (why:gsub("^close: ", "")), { method = req.method, url = url })
    end
  end
  local io = M.io(parts)
  return { parts = parts, req = req, method = req.method, url = url, body = body, io = io,
    start = parts.clock(), deadline = req.deadline or parts.deadline, reauthorized = false,
    pacer = io.paced and parts.pacer, group = io.paced and pacer_group(req.method, req.path or url) }
end

-- the error of a call whose deadline passed before its next attempt
local function deadline_passed(call, attempt)
  return Error.new("timeout", ("deadline of %gs passed"):format(call.deadline),
    { attempts = attempt - 1, method = call.method, url = call.url })
end

-- authorize: the header set of this attempt. A request with headers of its
-- own (the token endpoint's) has them; else the client's auth provider
-- gives them (an OAuth one may refresh its token first).
local function authorize(call, remaining)
  if call.req.headers then return call.req.headers end
  return call.parts.auth:headers(call.parts, remaining)
end

-- pace: wait for the group's slot (in a batch, or with pace = true). A slot
-- past the deadline is not waited for: the server may still take the call.
-- Returns the clock's time, read again only after a wait.
local function pace(call, remaining, now)
  if not call.pacer then return now end
  local d = call.pacer:delay(call.group, now)
  if not (d > 0 and d < remaining) then return now end
  call.io.sleep(d)
  return call.parts.clock()
end

-- send: one attempt through the transport; returns a response table, or
-- nil and an error of the shape {kind=, message=}
local function send(call, header_set, remaining)
  local parts, body = call.parts, call.body
  local res, terr = call.io.transport({
    method = call.method, url = call.url, body = body,
    headers = body and header_set.body or header_set.plain,
    header_lines = body and header_set.body_lines or header_set.plain_lines,
    timeout = remaining < parts.timeout and remaining or parts.timeout,
    connect_timeout = remaining < parts.connect_timeout and remaining or parts.connect_timeout,
    ca_file = parts.ca_file, max_body = call.req.max_body or parts.max_body,
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
local function report(parts, outcome, wait)
  parts.on_attempt({ method = outcome.method, url = outcome.url, attempt = outcome.attempt,
    status = outcome.status, kind = outcome.kind, duration = outcome.duration, wait = wait,
    wait_source = wait and (outcome.hint_source or "backoff") or nil, rate_limit = outcome.rate_limit })
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
local function interpret(parts, outcome, res)
  local status, body = res.status, res.body
  local headers = res.headers or {}
  res.headers = headers
  local doc = body ~= "" and json.decode(body) or nil
  -- nil: C reads the same system clock itself, one call into C less
  local wall = parts.wallclock ~= system_wallclock and parts.wallclock() or nil
  local kind
  kind, outcome.retryable, outcome.hint, outcome.hint_source, outcome.rate_limit =
    core_interpret(status, headers, rate_reset(doc), wall)
  outcome.status = status
  if not kind then
    if body == "" then return {} end
    -- an object is expected (cjson cannot tell [] from {}; a list with items is refused)
    if type(doc) == "table" and #doc == 0 then return doc end
    outcome.kind, outcome.message = "protocol", "response is not a JSON object"
    return nil
  end
  outcome.kind = kind
  outcome.info = describe(status, doc, body, parts.secrets)
  return nil
end

-- one attempt: send, interpret, and the pacer fed with what came back.
-- Returns the attempt's record (`doc` set on success; `done` the clock's
-- time after it) and the response.
local function attempt_once(call, header_set, remaining, attempt, t0)
  local parts = call.parts
  local res, terr = send(call, header_set, remaining)
  local done = parts.clock()
  local outcome = { method = call.method, url = call.url, attempt = attempt, duration = done - t0, done = done }
  if res then
    outcome.doc = interpret(parts, outcome, res)
    if call.pacer then call.pacer:update(call.group, done, outcome.rate_limit, outcome.status, outcome.hint) end
  else
    outcome.kind, outcome.message = terr.kind, terr.message
    if call.pacer then call.pacer:update(call.group, done) end
  end
  return outcome, res
end

-- decide: the wait before the next attempt, or nil, the verdict and the
-- wait the server asked for: one call into C (retry.c), which holds the
-- whole rule (what may be repeated by which call, a 401's one
-- re-authorization, backoff, caps, deadline). On "reauthorize" the auth
-- provider says whether the refused token was one it held valid; if not,
-- the 401 is final.
local function decide(call, outcome, header_set)
  local parts = call.parts
  local wait, verdict, needed = retry_decide({
    attempt = outcome.attempt, max_retries = parts.max_retries, status = outcome.status, kind = outcome.kind,
    idempotent = call.req.idempotent, can_reauthorize = not call.req.headers, reauthorized = call.reauthorized,
    hint = outcome.hint, elapsed = outcome.done - call.start, deadline = call.deadline,
    backoff_base = parts.backoff_base, max_wait = parts.max_wait, random = parts.rng or parts.random(),
  })
  if verdict ~= "reauthorize" then return wait, verdict, needed end
  if not parts.auth:rejected(header_set.token) then return nil, "not_retryable", 0 end
  call.reauthorized, outcome.hint_source = true, "reauthorize"
  return wait, verdict, needed
end

-- A 404 from a base_url whose path is not Close's /api/v1 is most likely
-- that path, not the object: say so.
local function wrong_path_hint(call, outcome)
  local base = call.parts.base_url
  if outcome.status == 404 and not call.req.url and not base:find("/api/v%d+/?$") then
    return (" (base_url %s does not end in /api/v1: the path looks wrong)"):format(base)
  end
  return ""
end

-- the error a call ends with, from its last attempt and the verdict
local function failure(call, outcome, verdict, needed)
  local parts, deadline = call.parts, call.deadline
  local fields = { status = outcome.status, attempts = outcome.attempt, method = outcome.method, url = outcome.url,
    rate_limit = outcome.rate_limit, retry_after = outcome.hint }
  local message = outcome.message
  if outcome.info then
    message = outcome.info.message
    fields.field_errors, fields.errors, fields.code = outcome.info.field_errors, outcome.info.errors, outcome.info.code
  end
  if verdict == "wait_cap" then
    message = message .. (" (the server asks to wait %gs, more than max_wait %gs)"):format(needed, parts.max_wait)
  elseif verdict == "deadline" then
    message = message .. (" (a retry would pass the deadline of %gs)"):format(deadline)
  end
  return Error.new(outcome.kind, message .. wrong_path_hint(call, outcome), fields, parts.secrets)
end

--- Sends one logical call with retries.
-- `parts` is the client's internals (settings and owned objects, see
-- close.client); `req` is
-- `{method=, path=, query=, body=(table) or json=(string), idempotent=}`,
-- or, for a request of its own such as the token endpoint's,
-- `{method=, url=, form=, headers=(a set from M.headers), deadline=}`.
-- Returns `decoded, nil, meta` or `nil, err`.
function M.call(parts, req)
  local call, err = build(parts, req)
  if not call then return nil, err end
  local attempt = 0
  while true do -- ends: decide stops after max_retries, and the deadline ends any wait
    attempt = attempt + 1
    local now = parts.clock()
    local remaining = call.deadline - (now - call.start)
    if remaining <= 0 then return nil, deadline_passed(call, attempt) end
    local header_set, aerr = authorize(call, remaining)
    if not header_set then return nil, aerr end
    now = pace(call, remaining, now)
    local outcome, res = attempt_once(call, header_set, remaining, attempt, now)
    if outcome.doc then
      if parts.on_attempt then report(parts, outcome, nil) end
      return outcome.doc, nil, { status = outcome.status, headers = res.headers, rate_limit = outcome.rate_limit,
        attempts = attempt, duration = outcome.done - call.start }
    end
    local wait, verdict, needed = decide(call, outcome, header_set)
    if parts.on_attempt then report(parts, outcome, wait) end
    if not wait then return nil, failure(call, outcome, verdict, needed) end
    call.io.sleep(wait)
  end
end

return M
