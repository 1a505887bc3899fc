--- The request driver: send, interpret, wait, retry.
-- It lives in Lua because a C function cannot yield: under OpenResty the
-- transport and the sleep yield to the event loop, so the loop that calls
-- them must be Lua. The decisions it strings together are C's (close.core:
-- status kinds, the server's wait hints, the retry verdict).
-- @module close.driver

local core = require "close.core"
local cjson = require "cjson.safe"
local Error = require "close.error"

local M = {}

local json = cjson.new()
json.decode_max_depth(64)

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
local function describe(status, body, secrets)
  local doc = body ~= "" and json.decode(body) or nil
  local out = {}
  if type(doc) == "table" then
    local e = doc.error
    if type(e) == "string" then out.message = e
    elseif type(e) == "table" then
      out.message = type(e.message) == "string" and e.message or nil
      out.rate_reset = e.rate_reset
    end
    if type(doc.message) == "string" then out.message = out.message or doc.message end
    out.rate_reset = out.rate_reset or doc.rate_reset
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

--- Sends one logical call with retries.
-- `c` is the client's resolved configuration; `req` is
-- `{method=, path=, query=, body=(table) or json=(string), idempotent=}`.
-- Returns `decoded, nil, meta` or `nil, err`.
function M.call(c, req)
  local method = req.method
  local url = c.base_url .. req.path .. M.query_string(req.query)
  if c.check_phase then
    local ok, why = c.check_phase()
    if not ok then
      return nil, Error.new("validation", (why:gsub("^close: ", "")), { method = method, url = url })
    end
  end
  local headers = {
    ["Authorization"] = c.auth_header,
    ["User-Agent"] = c.user_agent,
    ["Accept"] = "application/json",
  }
  local body = req.json -- already encoded, when cjson cannot say it
  if body == nil and req.body ~= nil then
    local why
    body, why = json.encode(req.body)
    if not body then
      return nil, Error.validation({ body = "cannot be encoded as JSON: " .. tostring(why) }, method, url)
    end
  end
  if body ~= nil then headers["Content-Type"] = "application/json" end
  local start = c.clock()
  local attempt = 0
  while true do
    attempt = attempt + 1
    local elapsed = c.clock() - start
    local remaining = c.deadline - elapsed
    if remaining <= 0 then
      return nil, Error.new("timeout", ("deadline of %gs passed"):format(c.deadline),
        { attempts = attempt - 1, method = method, url = url })
    end
    local t0 = c.clock()
    local res, terr = c.transport({
      method = method, url = url, headers = headers, body = body,
      timeout = math.min(c.timeout, remaining),
      connect_timeout = math.min(c.connect_timeout, remaining),
      ca_file = c.ca_file, max_body = c.max_body,
    })
    local duration = c.clock() - t0
    local status, kind, rate_limit, hint, hint_source, info
    -- what the on_attempt hook sees of this attempt: never a credential
    local function report(wait)
      if c.on_attempt then
        c.on_attempt({ method = method, url = url, attempt = attempt, status = status, kind = kind,
          duration = duration, wait = wait, wait_source = wait and (hint_source or "backoff") or nil,
          rate_limit = rate_limit })
      end
    end
    if res then
      status = res.status
      res.headers = res.headers or {}
      rate_limit = core.ratelimit(res.headers)
      kind = core.status_kind(status)
      if not kind then
        local doc = res.body == "" and {} or json.decode(res.body)
        -- an object is expected (cjson cannot tell [] from {}; a list with items is refused)
        if type(doc) ~= "table" or #doc > 0 then
          kind = "protocol"
          terr = { message = "response is not a JSON object" }
        else
          report(nil)
          return doc, nil, { status = status, headers = res.headers, rate_limit = rate_limit,
            attempts = attempt, duration = c.clock() - start }
        end
      else
        info = describe(status, res.body, c.secrets)
        -- a wait hint means something only on a response that asks to come back later
        if core.is_retryable(status, kind) then
          hint, hint_source = core.wait_hint(status, res.headers, info.rate_reset, c.wallclock())
        end
      end
    else
      -- a transport of the user's may return anything: make it the shape we need
      local t = type(terr) == "table" and terr or { message = terr }
      kind = Error.KINDS[t.kind] and t.kind or "network"
      local msg = t.message
      if msg == nil then msg = Error.KINDS[t.kind] and t.kind or "transport failed" end
      terr = { kind = kind, message = tostring(msg) }
    end
    local wait, verdict, needed = core.retry_decide({
      attempt = attempt, max_retries = c.max_retries,
      -- a 429 was refused before any effect, so even a non-idempotent call may repeat it
      retryable = kind ~= "protocol" and (req.idempotent or status == 429)
        and core.is_retryable(status, kind),
      hint = hint, elapsed = c.clock() - start, deadline = c.deadline,
      backoff_base = c.backoff_base, max_wait = c.max_wait, random = c.random(),
    })
    report(wait)
    if not wait then
      local fields = { status = status, attempts = attempt, method = method, url = url,
        rate_limit = rate_limit, retry_after = hint }
      local message
      if info then
        message = info.message
        fields.field_errors, fields.errors = info.field_errors, info.errors
      else
        message = terr.message
      end
      if verdict == "wait_cap" then
        message = message .. (" (the server asks to wait %gs, more than max_wait %gs)"):format(needed, c.max_wait)
      elseif verdict == "deadline" then
        message = message .. (" (a retry would pass the deadline of %gs)"):format(c.deadline)
      end
      return nil, Error.new(kind, message, fields, c.secrets)
    end
    c.sleep(wait)
  end
end

return M
