-- Sends every request variant the client can send to Prism (see
-- scripts/conformance.sh) and fails on any spec violation Prism reports.
-- Usage: lua test/conformance.lua FULL_SPEC_URL SEED_SPEC_URL OAUTH_SPEC_URL
local close = require "close"
local core = require "close.core"
local curl = require "close.transport.curl"

local full_url, seed_url, oauth_url = arg[1], arg[2], arg[3]
assert(full_url and seed_url and oauth_url, "usage: conformance.lua FULL_SPEC_URL SEED_SPEC_URL OAUTH_SPEC_URL")
local token_url = oauth_url .. "/oauth2/token/"
local passed, failed = 0, 0

-- What Prism's close-oauth.yaml mock answers every valid token request with
local MOCK_ACCESS, MOCK_REFRESH = "access_AbCdEf0123456789", "refresh_ZyXwVu9876543210"

-- The real libcurl transport, keeping every request of a check with its
-- response (an OAuth client sends a token request before the API call, and
-- Prism's sl-violations on either must fail the check). `rewrite`, when
-- set, may change a request before it goes and its response after.
local exchanges = {}
local rewrite
local send = curl.new()
local function transport(req)
  local hook
  if rewrite then req, hook = rewrite(req) end
  local res, err = send(req)
  if res and hook then res = hook(res) end
  exchanges[#exchanges + 1] = { req = req, res = res, err = err }
  return res, err
end

local function reset()
  exchanges, rewrite = {}, nil
end

-- the first violation Prism reported on a request of this check
local function violations()
  for _, x in ipairs(exchanges) do
    local v = x.res and x.res.headers["sl-violations"]
    if v then return ("%s %s: %s"):format(x.req.method, x.req.url, v) end
  end
end

local function client(base_url, auth)
  local opts = { base_url = base_url, transport = transport, max_retries = 0 }
  for k, v in pairs(auth) do opts[k] = v end
  return close.new(opts)
end

-- check(name, ok, err[, expect]): passes when the call succeeded, Prism
-- flagged none of its requests, and expect(exchanges) (if given) holds.
local function check(name, ok, err, expect)
  local v = violations()
  local why
  if ok and not v and expect then
    local good, reason = expect(exchanges)
    if not good then why = reason or "expectation failed" end
  end
  if ok and not v and not why then
    passed = passed + 1
    print("ok      " .. name)
  else
    failed = failed + 1
    print("FAILED  " .. name .. ": " .. tostring(v or why or err))
  end
end

local function control(name, caught)
  if caught then passed = passed + 1 else failed = failed + 1 end
  print((caught and "ok      " or "FAILED  ") .. "control: " .. name)
end

-- A form body as a table (the client encodes with %XX; '+' is decoded too)
local function dec(s)
  return (s:gsub("%+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end
local function parse_form(body)
  local out = {}
  for pair in tostring(body or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    out[dec(k)] = dec(v)
  end
  return out
end

local function header(req, name)
  for k, v in pairs(req.headers or {}) do
    if k:lower() == name:lower() then return v end
  end
  if req.header_lines then
    for line in (req.header_lines .. "\r\n"):gmatch("(.-)\r\n") do
      local k, v = line:match("^([^:]+):%s*(.*)$")
      if k and k:lower() == name:lower() then return v end
    end
  end
end

local function is_token_request(x) return x.req.url == token_url end

-- The token requests of a check must be forms to token_url, without an
-- Authorization header, each with the fields `want[i]` (the form's i-th
-- request); every other request must carry a bearer from `bearers` (in
-- order), and the API requests that get no 401 must get a 2xx.
local function expect_oauth(want, bearers)
  return function(xs)
    local ti, bi = 0, 0
    for _, x in ipairs(xs) do
      if is_token_request(x) then
        ti = ti + 1
        if x.req.method ~= "POST" then return false, "token request is not a POST" end
        local ct = header(x.req, "Content-Type")
        if ct ~= "application/x-www-form-urlencoded" then
          return false, "token request Content-Type " .. tostring(ct)
        end
        if header(x.req, "Authorization") then return false, "token request carries an Authorization header" end
        local f, w = parse_form(x.req.body), want[ti]
        if not w then return false, "unexpected token request #" .. ti .. ": " .. tostring(x.req.body) end
        for k, v in pairs(w) do
          if f[k] ~= v then
            return false, ("token request #%d: %s=%s, wanted %s"):format(ti, k, tostring(f[k]), v)
          end
        end
        for k in pairs(f) do
          if w[k] == nil then return false, ("token request #%d has an unexpected field %s"):format(ti, k) end
        end
        if not x.res or x.res.status ~= 200 then
          return false, ("token request #%d got %s"):format(ti, x.res and x.res.status or tostring(x.err))
        end
      else
        bi = bi + 1
        local auth = header(x.req, "Authorization")
        if bearers[bi] and auth ~= "Bearer " .. bearers[bi] then
          return false, ("API request #%d carried %s, wanted Bearer %s"):format(bi, tostring(auth), bearers[bi])
        end
      end
    end
    if ti ~= #want then return false, ("%d token requests, wanted %d"):format(ti, #want) end
    if bi < #bearers then return false, ("%d API requests, wanted at least %d"):format(bi, #bearers) end
    return true
  end
end

local CLIENT_ID, CLIENT_SECRET = "oa2client_conformance", "oa2secret_conformance"
local REFRESH = "rt_conformance_refresh"
local REFRESH_GRANT = { grant_type = "refresh_token", refresh_token = REFRESH, client_id = CLIENT_ID,
  client_secret = CLIENT_SECRET }

local auths = {
  { name = "api_key", opts = { api_key = "ck_conformance_key" } },
  { name = "oauth_token", opts = { oauth_token = "ct_conformance_token" } },
  -- a client with only a refresh token: each call below first refreshes at
  -- Prism's close-oauth.yaml mock, then goes with the token it got
  { name = "oauth(refresh_token)", opts = { oauth = { client_id = CLIENT_ID, client_secret = CLIENT_SECRET,
      refresh_token = REFRESH, token_url = token_url } },
    expect = expect_oauth({ REFRESH_GRANT }, { MOCK_ACCESS }) },
}

-- Every operation the client has, as name -> function(client) -> ok, err
local operations = {}
local ROLES = { "admin", "superuser", "user", "restricteduser", "role_y6eLquXvRUdmwqi61tsmgCJUU7uGfxaRbDuLoONZL9p" }
for _, role in ipairs(ROLES) do
  operations[#operations + 1] = {
    name = "create_membership role_id=" .. role,
    seed = true, -- the seed document describes this endpoint too
    run = function(c) return c:create_membership{ email = "jane.doe+crm@acme.com", role_id = role } end,
  }
end

local MEMB = "memb_JPCqDJq0AmoZFhemXAWrWk9327DqfJgUF2VGPMOL4Lp"
local MEMB2 = "memb_SLfZq4IU5E2nBA3PBzHFsi1HUv98cPmGUIZGlWK7Z3y"
local function op(name, run) operations[#operations + 1] = { name = name, run = run } end
op("create_membership role=<name> (GET /role/, then POST)", function(c)
  return c:create_membership{ email = "jane@acme.com", role = "Account Manager" }
end)
op("update_membership every field", function(c)
  return c:update_membership(MEMB, { role_id = "user", auto_record_calls = "disabled",
    default_caller_id = "phon_abc", hangup_recording_url = "https://example.com/r.mp3",
    may_workflows_impersonate = true, track_email_opens = false })
end)
op("update_membership null fields", function(c)
  return c:update_membership(MEMB, { default_caller_id = close.null, hangup_recording_url = close.null })
end)
for _, v in ipairs({ "enabled", "disabled", "unset" }) do
  op("update_membership auto_record_calls=" .. v, function(c)
    return c:update_membership(MEMB, { auto_record_calls = v })
  end)
end
op("bulk_update_memberships", function(c)
  return c:bulk_update_memberships({ MEMB, MEMB2 }, { role_id = "restricteduser", track_email_opens = true })
end)
op("deactivate_membership", function(c) return c:deactivate_membership(MEMB) end)
op("pinned_views", function(c) return c:pinned_views(MEMB) end)
op("set_pinned_views", function(c)
  return c:set_pinned_views(MEMB, { "save_LCt6QxYsDbdJfMiIkLjBFJBkJTwS9TufXu3nSkHopXM" })
end)
op("set_pinned_views empty", function(c) return c:set_pinned_views(MEMB, {}) end)
op("memberships (GET /me/, GET /organization/{id}/)", function(c) return c:memberships() end)
op("memberships inactive", function(c) return c:memberships{ inactive = true } end)
op("find_membership", function(c)
  local m, err = c:find_membership{ email = "jane@salesteam.com" }
  return m ~= nil or err == nil, err
end)
op("ensure_membership", function(c) return c:ensure_membership{ email = "jane@salesteam.com", role_id = "user" } end)
op("roles", function(c) return c:roles() end)
op("request GET /role/{id}/", function(c)
  return c:request("GET", "/role/role_y6eLquXvRUdmwqi61tsmgCJUU7uGfxaRbDuLoONZL9p/")
end)

for _, spec in ipairs({ { name = "close-memberships.yaml", url = full_url, all = true },
                        { name = "create-membership.seed.yaml", url = seed_url } }) do
  for _, auth in ipairs(auths) do
    for _, operation in ipairs(operations) do
      if spec.all or operation.seed then
        reset()
        local c = client(spec.url, auth.opts)
        local res, err = operation.run(c)
        check(("%s %s %s"):format(spec.name, auth.name, operation.name), res ~= nil, err, auth.expect)
        c:close()
      end
    end
  end
end

-- ---------------------------------------------------------------------------
-- Every token request the client can send, to Prism serving close-oauth.yaml
-- (form-encoded POST /oauth2/token/); the API call that follows goes to the
-- memberships mock with the access token Prism gave.

local REDIRECT = "https://app.example.com/oauth/callback"
local CODE = "ac_conformance_code"
local CODE_GRANT = { grant_type = "authorization_code", code = CODE, redirect_uri = REDIRECT,
  client_id = CLIENT_ID, client_secret = CLIENT_SECRET }
local function with(t, more)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  for k, v in pairs(more) do out[k] = v end
  return out
end
local function oauth(fields)
  return { oauth = with({ client_id = CLIENT_ID, client_secret = CLIENT_SECRET, token_url = token_url }, fields) }
end

-- `Prefer: code=401` makes Prism answer 401 (a documented response) to the
-- API requests that carry Bearer `token`, as Close does to a revoked token
local function refuse_bearer(token)
  return function(req)
    if header(req, "Authorization") ~= "Bearer " .. token then return req end
    local out = with(req, {})
    out.header_lines = nil -- the constant lines would win over headers
    out.headers = with(req.headers, { Prefer = "code=401" })
    return out
  end
end

-- the client's first call (GET /role/) against the memberships mock
local function first_call(name, opts, want, bearers, arm)
  reset()
  local c = client(full_url, opts)
  rewrite = arm
  local res, err = c:roles()
  check("close-oauth.yaml " .. name, res ~= nil, err, expect_oauth(want, bearers))
  c:close()
end

first_call("refresh_token grant on the first call (client with only a refresh_token)",
  oauth({ refresh_token = REFRESH }), { REFRESH_GRANT }, { MOCK_ACCESS })

do
  local store = close.oauth.memory_store()
  store:save({ refresh_token = REFRESH })
  first_call("refresh_token grant on the first call (refresh_token from a store)",
    oauth({ store = store }), { REFRESH_GRANT }, { MOCK_ACCESS })
end

first_call("refresh_token grant on expiry (access_token whose expires_at has passed)",
  oauth({ refresh_token = REFRESH, access_token = "at_conformance_expired", expires_at = core.time() - 1 }),
  { REFRESH_GRANT }, { MOCK_ACCESS })

first_call("refresh_token grant after a 401 (access_token refused, then retried)",
  oauth({ refresh_token = REFRESH, access_token = "at_conformance_revoked" }),
  { REFRESH_GRANT }, { "at_conformance_revoked", MOCK_ACCESS }, refuse_bearer("at_conformance_revoked"))

-- form encoding: reserved characters in every field the client sends
do
  local id, secret, rt = "client&id=1;x", "s3cr&t=+%/?#", "rt+/conformance=="
  first_call("refresh_token grant, credentials with &=+%/?# (form encoding)",
    { oauth = { client_id = id, client_secret = secret, refresh_token = rt, token_url = token_url } },
    { { grant_type = "refresh_token", refresh_token = rt, client_id = id, client_secret = secret } }, { MOCK_ACCESS })
end

first_call("authorization_code grant on the first call (close.new oauth.code + redirect_uri)",
  oauth({ code = CODE, redirect_uri = REDIRECT }), { CODE_GRANT }, { MOCK_ACCESS })

do -- PKCE: the code_verifier of a login (close-provision login makes one per login)
  local verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
  first_call("authorization_code grant with PKCE's code_verifier (close.new oauth.code_verifier)",
    oauth({ code = CODE, redirect_uri = REDIRECT, code_verifier = verifier }),
    { with(CODE_GRANT, { code_verifier = verifier }) }, { MOCK_ACCESS })
end

-- the second refresh sends the refresh token the first one returned
-- (Close rotates them). Prism's mock always returns the same access token,
-- which the client has just seen refused: the second token response is
-- given another one here so that the retry can go.
do
  reset()
  local c = client(full_url, oauth({ refresh_token = REFRESH }))
  local res, err = c:roles()
  if res then
    local refuse, second = refuse_bearer(MOCK_ACCESS), "access_Second0123456789"
    rewrite = function(req)
      if req.url ~= token_url then return refuse(req) end
      return req, function(r)
        if r.status == 200 then
          r.body = r.body:gsub(MOCK_ACCESS, second)
        end
        return r
      end
    end
    res, err = c:pinned_views(MEMB) -- not roles() again: the client keeps the roles it read
    rewrite = nil
  end
  check("close-oauth.yaml refresh_token grant after a 401, with the rotated refresh token", res ~= nil, err,
    expect_oauth({ REFRESH_GRANT, with(REFRESH_GRANT, { refresh_token = MOCK_REFRESH }) },
      { MOCK_ACCESS, MOCK_ACCESS, "access_Second0123456789" }))
  c:close()
end

-- close.oauth.exchange_code: the authorization_code grant, nothing else
local function exchange(name, opts, want)
  reset()
  local t, err = close.oauth.exchange_code(with({ client_id = CLIENT_ID, client_secret = CLIENT_SECRET,
    code = CODE, redirect_uri = REDIRECT, transport = transport, max_retries = 0 }, opts))
  check("close-oauth.yaml " .. name, t ~= nil, err, function(xs)
    if t.access_token ~= MOCK_ACCESS or t.refresh_token ~= MOCK_REFRESH then
      return false, "tokens " .. tostring(t.access_token) .. ", " .. tostring(t.refresh_token)
    end
    return expect_oauth({ want }, {})(xs)
  end)
end
exchange("exchange_code: authorization_code grant with redirect_uri (token_url)",
  { token_url = token_url }, CODE_GRANT)
exchange("exchange_code: authorization_code grant with redirect_uri (token URL from base_url)",
  { base_url = oauth_url .. "/api/v1/" }, CODE_GRANT)
do
  local uri = "http://localhost:8765/callback?next=%2Fhome&state=a+b"
  local code = "ac_code&grant_type=refresh_token"
  exchange("exchange_code: redirect_uri with a query, code with &= (form encoding)",
    { token_url = token_url, redirect_uri = uri, code = code },
    with(CODE_GRANT, { redirect_uri = uri, code = code }))
end

-- Controls for the token endpoint: token requests that break
-- close-oauth.yaml must be flagged, or the checks above prove nothing.
local function raw(body, content_type)
  return send({ method = "POST", url = token_url, body = body,
    headers = { ["Content-Type"] = content_type, ["Accept"] = "application/json" },
    timeout = 10, connect_timeout = 5, max_body = 1048576 })
end
local function flagged(res) return res ~= nil and res.status >= 400 and res.headers["sl-violations"] ~= nil end
control("Prism flags a token request with a JSON body", flagged(raw(
  '{"grant_type":"refresh_token","refresh_token":"rt_x","client_id":"c","client_secret":"s"}',
  "application/json")))
control("Prism flags a token form without client_secret", flagged(raw(
  "grant_type=refresh_token&refresh_token=rt_x&client_id=c", "application/x-www-form-urlencoded")))
control("Prism flags an authorization_code form whose redirect_uri is not a URI", flagged(raw(
  "grant_type=authorization_code&code=ac_x&redirect_uri=not%20a%20uri&client_id=c&client_secret=s",
  "application/x-www-form-urlencoded")))
control("Prism flags an authorization_code form whose code_verifier is too short for RFC 7636", flagged(raw(
  "grant_type=authorization_code&code=ac_x&code_verifier=short&client_id=c&client_secret=s",
  "application/x-www-form-urlencoded")))
-- and through this script's own detection: a client whose token form
-- loses client_secret on the way must fail its check
do
  reset()
  rewrite = function(req)
    if req.url ~= token_url then return req end
    return with(req, { body = req.body:gsub("&?client_secret=[^&]*", "") })
  end
  local c = client(full_url, oauth({ refresh_token = REFRESH }))
  local res = c:roles()
  local v = violations()
  control("a client token form that lost client_secret is reported",
    res == nil and v ~= nil and v:find("client_secret", 1, true) ~= nil)
  c:close()
  reset()
end

-- Control: a request that breaks the spec must be caught, or this whole
-- check proves nothing.
do
  local res = send({
    method = "POST", url = full_url .. "/membership/",
    headers = { ["Authorization"] = "Bearer ct_x", ["Content-Type"] = "application/json" },
    body = '{"email": "jane@acme.com", "role_id": "user", "unexpected": 1}',
    timeout = 10, connect_timeout = 5, max_body = 1048576,
  })
  local caught = res and res.status >= 400 and res.headers["sl-violations"] ~= nil
  if caught then passed = passed + 1 else failed = failed + 1 end
  print((caught and "ok      " or "FAILED  ") .. "control: Prism flags an unknown body field")
end

print(("conformance: %d passed, %d failed"):format(passed, failed))
os.exit(failed == 0 and passed > 0 and 0 or 1)
