--- The request driver: one call is a pipeline of named steps,
-- build -> send -> interpret -> decide (-> sleep -> send again).
-- It lives in Lua because a C function cannot yield: under OpenResty the
-- transport and the sleep yield to the event loop, so the loop that calls
-- them must be Lua. The decisions it strings together are C's (close.core:
-- status kinds, the server's wait hints, the retry verdict).
-- @module close.driver

local core = require "close.core"
local cjson = require "cjson.safe"
local Error = require "close.error"
local pacer_group = require("close.pacer").group

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
function M.query_string(query)
  if not query then return "" end
  local keys = {}
  for k in pairs(query) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    parts[#parts + 1] = core.urlencode(k) .. "=" .. core.urlencode(tostring(query[k]))
  end
  return #parts > 0 and ("?" .. table.concat(parts, "&")) or ""
end

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

-- build: the parts of the request that stay the same over its attempts
local function build(c, req)
  local url = req.url or (c.base_url .. req.path .. (req.query and M.query_string(req.query) or ""))
  local body = req.json or req.form -- already encoded (cjson cannot say every JSON; a form is not JSON)
  if body == nil and req.body ~= nil then
    local why
    body, why = json.encode(req.body)
    if not body then
      return nil, Error.validation({ body = "cannot be encoded as JSON: " .. tostring(why) }, req.method, url)
    end
  end
  return url, body
end

-- send: one attempt through the transport; always returns a response table
-- or nil and an error of the shape {kind=, message=}
local function send(c, h, method, url, body, remaining, max_body)
  local res, terr = c.transport({
    method = method, url = url, body = body,
    headers = body and h.body or h.plain, header_lines = body and h.body_lines or h.plain_lines,
    timeout = remaining < c.timeout and remaining or c.timeout,
    connect_timeout = remaining < c.connect_timeout and remaining or c.connect_timeout,
    ca_file = c.ca_file, max_body = max_body or c.max_body,
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

-- The body's facts that interpret reads: Close's rate_reset, under "error"
-- or at the top level.
local function rate_reset(doc)
  if type(doc) ~= "table" then return nil end
  local e = doc.error
  return type(e) == "table" and e.rate_reset or doc.rate_reset
end

-- interpret: a response -> the decoded document (success), or the attempt's
-- kind, description and wait hint filled in. What the status and headers
-- mean is one call into C (close.core.interpret); the body is decoded once.
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

-- the error a call ends with, from its last attempt and the verdict
local function failure(c, a, verdict, needed, deadline)
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
  return Error.new(a.kind, message, fields, c.secrets)
end

--- Sends one logical call with retries.
-- `c` is the client's resolved configuration; `req` is
-- `{method=, path=, query=, body=(table) or json=(string), idempotent=}`,
-- or, for a request of its own such as the token endpoint's,
-- `{method=, url=, form=, headers=(a set from M.headers), deadline=}`.
-- Returns `decoded, nil, meta` or `nil, err`.
function M.call(c, req)
  local method = req.method
  local url, body = build(c, req)
  if not url then return nil, body end
  if c.check_phase then
    local ok, why = c.check_phase()
    if not ok then
      return nil, Error.new("validation", (why:gsub("^close: ", "")), { method = method, url = url })
    end
  end
  local clock = c.clock
  local start = clock()
  local deadline = req.deadline or c.deadline
  -- authorize: a request with headers of its own skips it; an OAuth provider
  -- may refresh its token first, and a 401 makes it refresh once more
  local auth = not req.headers and c.auth
  local reauthorized = false
  local attempt = 0
  -- pace: in a batch (or with pace = true) each send waits for its group's slot
  local p = (c.batch_running or c.pace) and c.pacer
  local group = p and pacer_group(method, req.path or url)
  while true do
    attempt = attempt + 1
    local now = clock()
    local remaining = deadline - (now - start)
    if remaining <= 0 then
      return nil, Error.new("timeout", ("deadline of %gs passed"):format(deadline),
        { attempts = attempt - 1, method = method, url = url })
    end
    local h = req.headers or c.headers
    if auth then
      local aerr
      h, aerr = auth:headers(c, remaining)
      if not h then return nil, aerr end
    end
    if p then
      local d = p:delay(group, now)
      -- a slot past the deadline is not waited for: the server may still take it
      if d > 0 and d < remaining then
        c.sleep(d)
        now = clock()
      end
    end
    local res, terr = send(c, h, method, url, body, remaining, req.max_body)
    local done = clock()
    local a = { method = method, url = url, attempt = attempt, duration = done - now }
    if res then
      local doc = interpret(c, a, res)
      if p then p:update(group, done, a.rate_limit, a.status, a.hint) end
      if doc then
        if c.on_attempt then report(c, a, nil) end
        return doc, nil, { status = a.status, headers = res.headers, rate_limit = a.rate_limit,
          attempts = attempt, duration = done - start }
      end
    else
      a.kind, a.message = terr.kind, terr.message
      if p then p:update(group, done) end
    end
    -- decide: the verdict is C's (retry.c), from every input it needs
    local wait, verdict, needed = retry_decide({
      attempt = attempt, max_retries = c.max_retries, status = a.status, kind = a.kind,
      idempotent = req.idempotent, can_reauthorize = auth and true, reauthorized = reauthorized,
      hint = a.hint, elapsed = done - start, deadline = deadline,
      backoff_base = c.backoff_base, max_wait = c.max_wait, random = c.rng or c.random(),
    })
    if verdict == "reauthorize" then
      -- the provider says whether the refused token was one it held valid
      if auth:rejected(h.token) then
        reauthorized, a.hint_source = true, "reauthorize"
      else
        wait, verdict = nil, "not_retryable"
      end
    end
    if c.on_attempt then report(c, a, wait) end
    if not wait then return nil, failure(c, a, verdict, needed, deadline) end
    c.sleep(wait)
  end
end

return M
