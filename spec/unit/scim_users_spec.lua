-- /Users through the pure handler with a stubbed client and store: a SCIM
-- User is a Close membership (GET, list, filter, POST, DELETE).

local S = require "spec.unit.support.scim"
local cjson = require "cjson.safe"
local unpack = table.unpack or unpack

local USER = "urn:ietf:params:scim:schemas:core:2.0:User"
local ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

local function ids(list)
  local out = {}
  for i, r in ipairs(list) do out[i] = r.id end
  return out
end

describe("scim GET /Users/{id}", function()
  it("is the membership: id, userName (the address), active, role, meta; name and emails from Close", function()
    local t = S.new()
    local res = t:req("GET", "/Users/memb_sam")
    assert.are.equal(200, res.status)
    assert.are.same({
      schemas = { USER }, id = "memb_sam", userName = "Sam@acme.com", active = true,
      displayName = "Sam Seller", name = { givenName = "Sam", familyName = "Seller", formatted = "Sam Seller" },
      emails = { { value = "Sam@acme.com", type = "work", primary = true } },
      roles = { { value = "user", display = "User", primary = true } },
      groups = { { value = "user", display = "User", type = "direct", ["$ref"] = "/scim/v2/Groups/user" } },
      meta = { resourceType = "User", created = "2026-12-23T04:26:40Z", lastModified = "2026-12-23T04:26:40Z",
        location = "/scim/v2/Users/memb_sam" },
    }, res.json)
    -- one read of the organization: the caller, the memberships (inactive too), the roles
    assert.are.same({ "GET /me/", "memberships", "roles" }, t.client.calls)
  end)

  it("an inactive membership is active false; an unknown id is 404", function()
    local t = S.new()
    local res = t:req("GET", "/Users/memb_old")
    assert.is_false(res.json.active)
    assert.are.same({ { value = "role_sales", display = "Sales Rep", primary = true } }, res.json.roles)
    S.is_error(t:req("GET", "/Users/memb_nobody"), 404, nil, "no user has id 'memb_nobody'")
  end)

  it("attributes and excludedAttributes trim the resource; id and schemas stay", function()
    local t = S.new()
    local res = t:req("GET", "/Users/memb_sam", nil, { query = "attributes=userName,name.givenName,EMAILS.value" })
    assert.are.same({ schemas = { USER }, id = "memb_sam", userName = "Sam@acme.com", name = { givenName = "Sam" },
      emails = { { value = "Sam@acme.com" } } }, res.json)
    res = t:req("GET", "/Users/memb_sam", nil, { query = "excludedAttributes=groups,roles,meta,name,emails,id" })
    assert.are.same({ schemas = { USER }, id = "memb_sam", userName = "Sam@acme.com", active = true,
      displayName = "Sam Seller" }, res.json)
  end)
end)

describe("scim GET /Users (list)", function()
  it("lists every membership but deleted ones, 1-based paging, count capped at max_results", function()
    local t = S.new{ max_results = 3 }
    local res = t:req("GET", "/Users", nil, { query = "startIndex=1&count=2" })
    assert.are.equal(200, res.status)
    assert.are.same({ "urn:ietf:params:scim:api:messages:2.0:ListResponse" }, res.json.schemas)
    assert.are.equal(4, res.json.totalResults)
    assert.are.equal(1, res.json.startIndex)
    assert.are.equal(2, res.json.itemsPerPage)
    assert.are.same({ "memb_caller", "memb_boss" }, ids(res.json.Resources))
    res = t:req("GET", "/Users", nil, { query = "startIndex=3&count=2" })
    assert.are.same({ "memb_sam", "memb_old" }, ids(res.json.Resources))
    res = t:req("GET", "/Users", nil, { query = "count=1000" })
    assert.are.equal(3, res.json.itemsPerPage)
    res = t:req("GET", "/Users", nil, { query = "startIndex=0&count=0" })
    assert.are.equal(4, res.json.totalResults)
    assert.are.equal(1, res.json.startIndex)
    assert.are.same({}, res.json.Resources)
    assert.is_truthy(res.body:find('"Resources":[]', 1, true))
    res = t:req("GET", "/Users", nil, { query = "startIndex=9" })
    assert.are.equal(0, res.json.itemsPerPage)
  end)

  it("a startIndex or count that is not a whole number is 400 invalidValue", function()
    local t = S.new()
    S.is_error(t:req("GET", "/Users", nil, { query = "count=two" }), 400, "invalidValue",
      "count must be a whole number")
    S.is_error(t:req("GET", "/Users", nil, { query = "startIndex=1.5" }), 400, "invalidValue", "startIndex")
  end)

  it("userName eq matches the address without regard to case; no match is 200 with totalResults 0", function()
    local t = S.new()
    local res = t:req("GET", "/Users", nil,
      { query = "filter=userName%20eq%20%22sam%40ACME.com%22&startIndex=1&count=100" })
    assert.are.equal(200, res.status)
    assert.are.equal(1, res.json.totalResults)
    assert.are.equal("memb_sam", res.json.Resources[1].id)
    -- Entra: '+' for the spaces, unquoted value
    res = t:req("GET", "/Users", nil, { query = "filter=userName+eq+SAM@acme.com" })
    assert.are.equal("memb_sam", res.json.Resources[1].id)
    res = t:req("GET", "/Users", nil, { query = 'filter=userName+eq+"nobody@acme.com"' })
    assert.are.equal(200, res.status)
    assert.are.equal(0, res.json.totalResults)
    assert.are.same({}, res.json.Resources)
  end)

  it("id eq and externalId eq come from the index; other filters are evaluated", function()
    local t = S.new()
    local res = t:req("GET", "/Users", nil, { query = 'filter=id eq "memb_boss"' })
    assert.are.same({ "memb_boss" }, ids(res.json.Resources))
    res = t:req("GET", "/Users", nil, { query = "filter=active eq False" })
    assert.are.same({ "memb_old" }, ids(res.json.Resources))
    res = t:req("GET", "/Users", nil, { query = 'filter=name.familyName sw "a" or displayName co "seller"' })
    assert.are.same({ "memb_caller", "memb_sam" }, ids(res.json.Resources))
    res = t:req("GET", "/Users", nil,
      { query = 'filter=emails[type eq "work" and value ew "@acme.com"] and not (active eq true)' })
    assert.are.same({ "memb_old" }, ids(res.json.Resources))
    res = t:req("GET", "/Users", nil,
      { query = 'filter=emails[type eq "work"].value ew "@acme.com" and not (active eq true)' })
    assert.are.same({ "memb_old" }, ids(res.json.Resources))
    res = t:req("GET", "/Users", nil, { query = 'filter=roles.value eq "admin"' })
    assert.are.same({ "memb_caller", "memb_boss" }, ids(res.json.Resources))
  end)

  it("a filter that does not parse is 400 invalidFilter", function()
    local t = S.new()
    S.is_error(t:req("GET", "/Users", nil, { query = "filter=userName%20eq" }), 400, "invalidFilter")
    S.is_error(t:req("GET", "/Users", nil, { query = 'filter=userName zz "a"' }), 400, "invalidFilter")
    -- parses, but cannot apply: ordering on a boolean
    S.is_error(t:req("GET", "/Users", nil, { query = "filter=active gt true" }), 400, "invalidFilter")
  end)
end)

describe("scim POST /Users", function()
  local okta = { schemas = { USER }, userName = "jane@acme.com", name = { givenName = "Jane", familyName = "Doe" },
    emails = { { primary = true, value = "jane@acme.com", type = "work" } }, displayName = "Jane Doe",
    active = true, password = "s3cret-Pa55word" }

  it("creates the membership with the default role, keeps what Close cannot hold (never the password), 201", function()
    local t = S.new()
    local res = t:req("POST", "/Users", okta)
    assert.are.equal(201, res.status, res.body)
    assert.are.equal("/scim/v2/Users/memb_new1", res.headers.Location)
    assert.are.equal("memb_new1", res.json.id)
    assert.are.equal("jane@acme.com", res.json.userName)
    assert.is_true(res.json.active)
    assert.are.same({ givenName = "Jane", familyName = "Doe" }, res.json.name)
    assert.are.equal("Jane Doe", res.json.displayName)
    assert.is_nil(res.json.password)
    assert.are.same({ { value = "user", display = "User", primary = true } }, res.json.roles)
    assert.are.equal("2026-12-23T04:26:40Z", res.json.meta.created)
    assert.are.same({ "GET /me/", "memberships", "roles", "create jane@acme.com user" }, t.client.calls)
    local stored = t.store.data["user:memb_new1"]
    assert.is_nil(stored:find("s3cret", 1, true))
    assert.are.same({ operation = "create", address = "jane@acme.com", outcome = "ok",
      before = {}, after = { role = "user", active = true },
      time = "2026-12-23T04:26:40Z", request = { method = "POST", path = "/scim/v2/Users" } }, t.audits[1])
    -- and it is there afterwards, with what was sent
    local got = t:req("GET", "/Users/memb_new1")
    assert.are.same(res.json, got.json)
    local list = t:req("GET", "/Users", nil, { query = 'filter=userName eq "JANE@acme.com"' })
    assert.are.equal("memb_new1", list.json.Resources[1].id)
  end)

  it("roles select the Close role by name or id; an unknown role is 400 invalidValue and nothing is sent", function()
    local t = S.new()
    local body = cjson.decode(cjson.encode(okta))
    body.roles = { { value = "sales rep", primary = "True" } }
    local res = t:req("POST", "/Users", body)
    assert.are.equal(201, res.status, res.body)
    assert.are.same({ { value = "sales rep", primary = true } }, res.json.roles)
    assert.are.equal("create jane@acme.com role_sales", t.client.calls[#t.client.calls])
    body.userName, body.roles = "kim@acme.com", { { value = "Astronaut" } }
    local n = #t.client.calls
    S.is_error(t:req("POST", "/Users", body), 400, "invalidValue", "unknown role 'Astronaut'")
    -- the index knows the create: nothing is read again, nothing sent
    assert.are.same({}, { unpack(t.client.calls, n + 1) })
  end)

  it("an active member with that userName (any case) is 409 uniqueness", function()
    local t = S.new()
    local body = cjson.decode(cjson.encode(okta))
    body.userName = "SAM@acme.com"
    S.is_error(t:req("POST", "/Users", body), 409, "uniqueness", "already an active member (id memb_sam)")
    assert.are.same({ "GET /me/", "memberships", "roles" }, t.client.calls)
  end)

  it("an inactive member is reactivated with the role asked for, under its own id", function()
    local t = S.new()
    local res = t:req("POST", "/Users", { userName = "old@acme.com", externalId = "ext-9" })
    assert.are.equal(201, res.status, res.body)
    assert.are.equal("memb_old", res.json.id)
    assert.is_true(res.json.active)
    assert.are.equal("ext-9", res.json.externalId)
    assert.are.same({ "GET /me/", "memberships", "roles", "create old@acme.com user", "update memb_old user" },
      t.client.calls)
    assert.are.equal("reactivate", t.audits[1].operation)
    assert.are.same({ role = "role_sales", active = false }, t.audits[1].before)
    assert.are.same({ role = "user", active = true }, t.audits[1].after)
    local res2 = t:req("GET", "/Users", nil, { query = 'filter=externalId eq "ext-9"' })
    assert.are.same({ "memb_old" }, ids(res2.json.Resources))
  end)

  it("Entra's create: externalId, title, the enterprise extension, booleans as strings, names in any case", function()
    local t = S.new()
    local res = t:req("POST", "/Users", { schemas = { USER, ENT }, externalId = "0a1b", UserName = "lee@acme.com",
      Active = "True", displayName = "Lee", title = "Engineer",
      emails = { { Primary = "true", type = "work", value = "lee@acme.com" } },
      [ENT] = { Department = "R&D", manager = { value = "memb_boss" } } },
      { headers = { ["content-type"] = "application/json; charset=utf-8" } })
    assert.are.equal(201, res.status, res.body)
    assert.are.same({ USER, ENT }, res.json.schemas)
    assert.are.equal("lee@acme.com", res.json.userName)
    assert.is_true(res.json.active)
    assert.are.same({ { primary = true, type = "work", value = "lee@acme.com" } }, res.json.emails)
    assert.are.same({ department = "R&D", manager = { value = "memb_boss" } }, res.json[ENT])
    assert.are.equal("Engineer", res.json.title)
    assert.are.equal("0a1b", res.json.externalId)
  end)

  it("active false creates and deactivates", function()
    local t = S.new()
    local res = t:req("POST", "/Users", { userName = "off@acme.com", active = "false" })
    assert.are.equal(201, res.status, res.body)
    assert.is_false(res.json.active)
    assert.are.same({ "create off@acme.com user", "deactivate memb_new1" }, { t.client.calls[4], t.client.calls[5] })
  end)

  it("a missing or invalid userName is 400 invalidValue; a body that is not an object is 400 invalidSyntax", function()
    local t = S.new()
    S.is_error(t:req("POST", "/Users", { name = { givenName = "X" } }), 400, "invalidValue", "userName is required")
    S.is_error(t:req("POST", "/Users", { userName = "not an address" }), 400, "invalidValue",
      "userName must be an email address")
    S.is_error(t:req("POST", "/Users", "{\"userName\": "), 400, "invalidSyntax", "JSON object")
    S.is_error(t:req("POST", "/Users", "[1,2]"), 400, "invalidSyntax")
    S.is_error(t:req("POST", "/Users", { userName = "x@acme.com", active = "maybe" }), 400, "invalidValue",
      "'active' must be a boolean")
    S.is_error(t:req("POST", "/Users", { userName = "x@acme.com", name = "Just A String" }), 400, "invalidValue",
      "'name' must be an object")
    assert.are.same({}, t.audits)
  end)
end)

describe("scim DELETE /Users/{id}", function()
  it("deactivates, 204 with no body; from then on GET is 404 and lists leave it out", function()
    local t = S.new()
    local res = t:req("DELETE", "/Users/memb_sam")
    assert.are.equal(204, res.status)
    assert.are.equal("", res.body)
    assert.is_false(t:member("memb_sam").active)
    assert.are.equal("deactivate memb_sam", t.client.calls[#t.client.calls])
    S.is_error(t:req("GET", "/Users/memb_sam"), 404)
    assert.are.equal(0, t:req("GET", "/Users", nil, { query = 'filter=userName eq "sam@acme.com"' }).json.totalResults)
    assert.are.equal(3, t:req("GET", "/Users").json.totalResults)
    S.is_error(t:req("DELETE", "/Users/memb_sam"), 404)
    assert.are.same({ operation = "delete", address = "Sam@acme.com", outcome = "ok",
      before = { role = "user", active = true }, after = { role = "user", active = false },
      time = "2026-12-23T04:26:40Z", request = { method = "DELETE", path = "/scim/v2/Users/memb_sam" } }, t.audits[1])
  end)

  it("a POST of the address afterwards reactivates it and the id is back", function()
    local t = S.new()
    t:req("DELETE", "/Users/memb_sam")
    local res = t:req("POST", "/Users", { userName = "sam@acme.com" })
    assert.are.equal(201, res.status, res.body)
    assert.are.equal("memb_sam", res.json.id)
    assert.are.equal(200, t:req("GET", "/Users/memb_sam").status)
    assert.is_nil(t.store.data["deleted:memb_sam"])
  end)

  it("never the caller's own membership, nor the last active admin: 403, nothing sent", function()
    local t = S.new()
    S.is_error(t:req("DELETE", "/Users/memb_caller"), 403, nil, "the caller's own membership is never deactivated")
    assert.are.equal("refused: the caller's own membership is never deactivated", t.audits[1].outcome)
    t.client.me = { id = "user_other", email = "other@acme.com" }
    t.h.index:invalidate()
    t.client:deactivate_membership("memb_caller")
    t.h.index:invalidate()
    S.is_error(t:req("DELETE", "/Users/memb_boss"), 403, nil,
      "the organization's last active admin is never deactivated")
    assert.is_true(t:member("memb_boss").active)
  end)
end)

describe("scim filters over the index (close.scim.filter)", function()
  local function lee(t)
    local res = t:req("POST", "/Users", { userName = "lee@acme.com", externalId = "E-1", title = "Engineer",
      emails = { { type = "work", value = "lee@acme.com", primary = true },
        { type = "home", value = "lee@home.example" } },
      [ENT] = { department = "R&D" } })
    assert.are.equal(201, res.status, res.body)
    return res.json.id
  end
  local function found(t, f)
    local res = t:req("GET", "/Users", nil, { query = "filter=" .. f:gsub("%%", "%%25"):gsub("&", "%%26") })
    assert.are.equal(200, res.status, res.body)
    return ids(res.json.Resources)
  end

  it("externalId is caseExact; userName is not; a schema-qualified name works", function()
    local t = S.new()
    local id = lee(t)
    assert.are.same({ id }, found(t, 'externalId eq "E-1"'))
    assert.are.same({}, found(t, 'externalId eq "e-1"'))
    assert.are.same({ id }, found(t, 'urn:ietf:params:scim:schemas:core:2.0:User:userName eq "LEE@acme.com"'))
    assert.are.same({ id }, found(t, 'USERNAME Eq "lee@acme.com"'))
  end)

  it("value paths with and, pr, the enterprise extension, dateTime ordering, unknown attributes", function()
    local t = S.new()
    local id = lee(t)
    assert.are.same({ id }, found(t, 'emails[type eq "home" and value co "home"]'))
    assert.are.equal(5, #found(t, 'emails[type eq "work" and primary eq true]'))
    assert.are.same({ id }, found(t, 'emails[type eq "work" and value sw "LEE"]'))
    assert.are.same({ id }, found(t, "title pr"))
    assert.are.same({ id }, found(t, 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "r&d"'))
    assert.are.same({}, found(t, 'meta.lastModified gt "2027-01-01T00:00:00Z"'))
    assert.are.equal(5, #found(t, 'meta.created ge "2026-01-01T00:00:00Z"'))
    assert.are.same({}, found(t, 'nosuchattribute eq "x"'))
    assert.are.same({ "memb_caller", "memb_boss", "memb_sam", "memb_old" }, found(t, "not (externalId pr)"))
  end)
end)

describe("scim POST /Users/.search and /Groups/.search", function()
  it("is a GET whose parameters come in a SearchRequest body", function()
    local t = S.new()
    local res = t:req("POST", "/Users/.search", { schemas = { "urn:ietf:params:scim:api:messages:2.0:SearchRequest" },
      filter = 'userName eq "sam@acme.com"', attributes = { "userName", "active" }, startIndex = 1, count = 10 })
    assert.are.equal(200, res.status, res.body)
    assert.are.same({ schemas = { USER }, id = "memb_sam", userName = "Sam@acme.com", active = true },
      res.json.Resources[1])
    res = t:req("POST", "/Groups/.search", { filter = 'displayName eq "support"', excludedAttributes = { "members" } })
    assert.are.equal("role_support", res.json.Resources[1].id)
    S.is_error(t:req("POST", "/Users/.search", { sortBy = "userName" }), 501, nil, "sorting")
    S.is_error(t:req("POST", "/Users/.search", "42"), 400, "invalidSyntax")
    S.is_error(t:req("POST", "/Users/.search", { filter = "userName eq" }), 400, "invalidFilter")
    S.is_error(t:req("GET", "/Users/.search"), 405)
  end)
end)
