--- Helpers shared by the lifecycle_*_spec.lua files (on top of fake.lua):
-- the exact headers of a request, the method + path sequence of a harness,
-- validation refusals and errors raised at the caller's line.
--
--     --     local fake = require "spec.unit.support.fake"
--     local lc = require "spec.unit.support.lifecycle"

local assert = require "luassert"
local core = require "close.core"
local close = require "close"

local M = {}

M.BASE = "https://api.close.com/api/v1"
M.RUNTIME = (type(jit) == "table" and jit.version) or _VERSION
M.UA = "close-lua/" .. close.VERSION .. " (" .. M.RUNTIME .. "; libcurl/" .. core.curl_version() .. ")"
M.AUTH = "Basic dW5pdF90ZXN0X2tleV8wMTIzNDU2Nzg5Og==" -- base64("unit_test_key_0123456789:")

-- The URLs memberships() asks for: organization (with or without inactive ones).
M.ME = M.BASE .. "/me/?_fields=organization_id"
M.ORG_ACTIVE = "?_expand=memberships__user&_fields=id%2Cmemberships"
M.ORG_ALL = "?_expand=memberships__user%2Cinactive_memberships__user"
  .. "&_fields=id%2Cmemberships%2Cinactive_memberships"

--- The exact headers of a request, with Content-Type when it has a body.
function M.headers(with_body)
  local h = { Authorization = M.AUTH, Accept = "application/json", ["User-Agent"] = M.UA }
  if with_body then h["Content-Type"] = "application/json" end
  return h
end

--- "METHOD url-without-base" for every request the transport saw, in order.
function M.sequence(h)
  local out = {}
  for i, req in ipairs(h.calls) do
    local url = req.url
    if url:sub(1, #M.BASE) == M.BASE then url = url:sub(#M.BASE + 1) end
    out[i] = req.method .. " " .. url
  end
  return out
end

--- The message close.error.validation builds from field_errors (sorted by name).
function M.message(field_errors)
  local keys, parts = {}, {}
  for k in pairs(field_errors) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. ": " .. field_errors[k] end
  return "invalid " .. table.concat(parts, "; ")
end

--- Asserts a refusal before any I/O: `res` nil, a validation error with
-- exactly `field_errors`, `method` and `url`, and no transport call.
function M.refused(h, res, err, field_errors, method, url)
  assert.is_nil(res)
  assert.is_true(close.error.is(err), "not a close error: " .. tostring(err))
  assert.are.equal("validation", err.kind)
  assert.are.same(field_errors, err.field_errors)
  assert.are.equal(M.message(field_errors), err.message)
  assert.are.equal(0, err.attempts)
  assert.is_nil(err.status)
  assert.are.equal(method, err.method)
  assert.are.equal(url, err.url)
  assert.are.equal("close: validation: " .. M.message(field_errors) .. " (" .. method .. " " .. url .. ")",
    tostring(err))
  assert.are.equal(0, #h.calls)
  assert.are.equal(0, #h.hooks)
end

--- The fields of an error as a plain table (to compare a whole error).
function M.plain(err)
  local t = {}
  for k, v in pairs(err) do t[k] = v end
  return t
end

--- The line of the caller: `local at, ok, e = lc.line(), pcall(function() ... end)`
-- on one line gives the line the pcall'ed function runs on. The function must
-- not tail-call (`local r = f(); return r`), or the error level points at pcall.
function M.line() return debug.getinfo(2, "l").currentline end

--- Asserts that an error was raised with exactly `msg` at line `at` of `src`
-- (a spec's debug.getinfo(1, "S").short_src).
function M.raised_at(src, at, ok, e, msg)
  assert.is_false(ok, "no error was raised")
  assert.are.equal("string", type(e))
  assert.are.equal(src .. ":" .. at .. ": " .. msg, e)
end

return M
