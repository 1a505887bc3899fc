-- Sends every request variant the client can send to Prism (see
-- scripts/conformance.sh) and fails on any spec violation Prism reports.
-- Usage: lua test/conformance.lua FULL_SPEC_URL SEED_SPEC_URL
local close = require "close"
local curl = require "close.transport.curl"

local full_url, seed_url = arg[1], arg[2]
local passed, failed = 0, 0

-- The real libcurl transport, keeping the last response so its headers can
-- be checked for Prism's sl-violations.
local last
local send = curl.new()
local function transport(req)
  local res, err = send(req)
  last = res
  return res, err
end

local function client(base_url, auth)
  local opts = { base_url = base_url, transport = transport, max_retries = 0 }
  for k, v in pairs(auth) do opts[k] = v end
  return close.new(opts)
end

local function check(name, ok, err)
  local violations = last and last.headers["sl-violations"]
  if ok and not violations then
    passed = passed + 1
    print("ok      " .. name)
  else
    failed = failed + 1
    print("FAILED  " .. name .. ": " .. tostring(violations or err))
  end
end

local auths = {
  { name = "api_key", opts = { api_key = "ck_conformance_key" } },
  { name = "oauth_token", opts = { oauth_token = "ct_conformance_token" } },
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
        last = nil
        local c = client(spec.url, auth.opts)
        local res, err = operation.run(c)
        check(("%s %s %s"):format(spec.name, auth.name, operation.name), res ~= nil, err)
        c:close()
      end
    end
  end
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
