-- close.scim.filter: parse, path and tostring through the C core, and match
-- against decoded resources (names in any case, caseExact, multi-valued
-- attributes, value paths, pr, numbers, booleans, dateTimes, refusals).

local filter = require "close.scim.filter"
local core = require "close.core"

local USER = "urn:ietf:params:scim:schemas:core:2.0:User"
local ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

-- a small schema in the shape the handler passes: attrpath -> definition
local DEFS = {
  username = { type = "string", caseExact = false },
  id = { type = "string", caseExact = true },
  externalid = { type = "string", caseExact = true },
  active = { type = "boolean" },
  emails = { type = "complex", multiValued = true },
  ["emails.value"] = { type = "string" }, ["emails.type"] = { type = "string" },
  ["emails.primary"] = { type = "boolean" },
  name = { type = "complex" }, ["name.givenname"] = { type = "string" },
  ["meta.lastmodified"] = { type = "dateTime" },
  age = { type = "integer" },
  cert = { type = "binary" },
  manager = { type = "complex" }, ["manager.value"] = { type = "string" },
  members = { type = "complex", multiValued = true }, ["members.value"] = { type = "string", caseExact = true },
}
local function schema(p)
  return DEFS[p.name:lower() .. (p.sub and "." .. p.sub:lower() or "")]
end

local bjensen = {
  schemas = { USER, ENT },
  id = "memb_2819c223",
  externalId = "00u1Abc",
  userName = "Bjensen@Example.com",
  active = true,
  name = { givenName = "Barbara", familyName = "Jensen" },
  emails = {
    { value = "bjensen@example.com", type = "work", primary = true },
    { value = "babs@jensen.org", type = "home" },
  },
  meta = { lastModified = "2011-05-13T04:42:34Z", created = "2010-01-23T04:56:22Z" },
  age = 42,
  title = "",
  [ENT] = { department = "Sales", manager = { value = "memb_boss" } },
}

local function m(text, resource)
  local ast = assert(filter.parse(text))
  return filter.match(ast, resource or bjensen, schema)
end

describe("close.scim.filter.parse", function()
  it("gives the AST of the interface", function()
    assert.same({ op = "eq", attr = { name = "userName" }, value = "x@y.com" }, filter.parse('userName eq "x@y.com"'))
    assert.same({ op = "or", left = { op = "pr", attr = { name = "title" } },
      right = { op = "and", left = { op = "eq", attr = { name = "a" }, value = 5 },
        right = { op = "not", expr = { op = "eq", attr = { name = "b" }, value = true } } } },
      filter.parse("title pr or a eq 5 and not (b eq True)"))
    assert.same({ op = "has", attr = { name = "emails" }, filter = { op = "and",
      left = { op = "eq", attr = { name = "type" }, value = "work" },
      right = { op = "eq", attr = { name = "primary" }, value = true } } },
      filter.parse('emails[type eq "work" and primary eq true]'))
    assert.same({ op = "has", attr = { name = "emails" }, filter = { op = "eq", attr = { name = "type" },
      value = "work" }, test = { op = "ew", attr = { name = "value" }, value = "@acme.com" } },
      filter.parse('emails[type eq "work"].value ew "@acme.com"'))
    assert.same({ op = "has", attr = { name = "emails" }, filter = { op = "pr", attr = { name = "type" } },
      test = { op = "pr", attr = { name = "display" } } }, filter.parse("emails[type pr].display pr"))
    assert.same({ op = "eq", attr = { schema = ENT, name = "manager", sub = "value" }, value = "m1" },
      filter.parse(ENT .. ':manager.value eq "m1"'))
    assert.equal(filter.null, filter.parse("a eq null").value)
    assert.equal(-1.5, filter.parse("a lt -1.5").value)
    assert.equal("bare", filter.parse("a Eq bare").value)
    assert.equal("eq", filter.parse("a Eq bare").op)
  end)

  it("refuses bad filters with invalidFilter, the position and the reason", function()
    local cases = {
      { "", 'invalid filter at character 1: empty filter' },
      { "userName", "invalid filter at character 9: expected an operator (eq ne co sw ew gt ge lt le pr)" },
      { 'userName eq "x', "invalid filter at character 13: unterminated string" },
      { "(a pr", "invalid filter at character 6: expected ')'" },
      { 'emails[type eq "work"].value', "invalid filter at character 29: expected an operator "
          .. "(eq ne co sw ew gt ge lt le pr)" },
      { 'emails[type eq "work"].value.x eq "x"',
        "invalid filter at character 24: invalid sub-attribute name after ']'" },
      { ("("):rep(40) .. "a pr", "invalid filter at character 33: nested too deeply" },
      { "a pr" .. (" "):rep(8200), "invalid filter at character 8193: longer than 8192 bytes" },
    }
    for _, c in ipairs(cases) do
      local ast, err = filter.parse(c[1])
      assert.is_nil(ast)
      local at = tonumber(c[2]:match("character (%d+)"))
      assert.same({ scimType = "invalidFilter", detail = c[2], position = at }, err)
    end
    local ast, err = filter.parse(42)
    assert.is_nil(ast)
    assert.same({ scimType = "invalidFilter", detail = "filter must be a string" }, err)
  end)
end)

describe("close.scim.filter.path", function()
  it("parses attribute paths and value paths with a sub-attribute", function()
    assert.same({ name = "active" }, filter.path("active"))
    assert.same({ name = "name", sub = "givenName" }, filter.path("name.givenName"))
    assert.same({ name = "emails", sub = "value", filter = { op = "eq", attr = { name = "type" }, value = "work" } },
      filter.path('emails[type eq "work"].value'))
    assert.same({ name = "members", filter = { op = "eq", attr = { name = "value" }, value = "memb_1" } },
      filter.path('members[value eq "memb_1"]'))
    assert.same({ schema = ENT, name = "manager" }, filter.path(ENT .. ":manager"))
  end)

  it("refuses bad paths with invalidPath", function()
    local p, err = filter.path('emails[type eq "work"]x')
    assert.is_nil(p)
    assert.same({ scimType = "invalidPath", position = 23,
      detail = "invalid path at character 23: unexpected text after the path" }, err)
    p, err = filter.path("")
    assert.is_nil(p)
    assert.equal("invalid path at character 1: empty path", err.detail)
  end)
end)

describe("close.scim.filter.tostring", function()
  it("prints the canonical form, which parses to the same AST", function()
    local cases = {
      { 'userName eq x@y.com', 'userName eq "x@y.com"' },
      { "a pr OR (b pr Or c pr)", "a pr or (b pr or c pr)" },
      { "(a pr or b pr) and not c pr", "(a pr or b pr) and not (c pr)" },
      { 'emails[type eq work and primary eq TRUE]', 'emails[type eq "work" and primary eq true]' },
      { 'a eq "\\u00e9\\t\\""', 'a eq "\195\169\\t\\""' },
      { "a gt 1e3 and b le 0.5 and c eq null", "a gt 1000 and b le 0.5 and c eq null" },
    }
    for _, c in ipairs(cases) do
      local ast = assert(filter.parse(c[1]))
      assert.equal(c[2], filter.tostring(ast))
      assert.same(ast, filter.parse(filter.tostring(ast)))
    end
    assert.equal('emails[type eq "work"].value', filter.tostring(filter.path('emails[type eq "work"].value')))
    assert.equal(ENT .. ":manager", filter.tostring(filter.path(ENT .. ":manager")))
  end)

  it("prints trees built by hand, and refuses what is not a tree", function()
    assert.equal('userName eq "a\\"b"', filter.tostring({ op = "eq", attr = { name = "userName" }, value = 'a"b' }))
    assert.equal("a eq 2.5", filter.tostring({ op = "eq", attr = { name = "a" }, value = 2.5 }))
    local bad = {
      { { op = "eq", attr = { name = "a b" }, value = 1 }, "invalid attribute name" },
      { { op = "eq", attr = { name = "a" }, value = {} }, "value must be a string, number, boolean or filter.null" },
      { { op = "eq", attr = { name = "a" }, value = 1 / 0 }, "number is not finite" },
      { { op = "xx", attr = { name = "a" } }, "unknown op" },
      { { op = "and", left = { op = "pr", attr = { name = "a" } } }, "a filter node must be a table" },
      { { op = "has", attr = { name = "a" }, filter = { op = "has", attr = { name = "b" },
        filter = { op = "pr", attr = { name = "c" } } } }, "a value path inside a value path" },
      { { op = "has", attr = { name = "a" }, filter = { op = "pr", attr = { name = "b" } },
        test = { op = "and", left = { op = "pr", attr = { name = "c" } },
          right = { op = "pr", attr = { name = "d" } } } },
        "unknown operator" },
      { { op = "has", attr = { name = "a" }, filter = { op = "pr", attr = { name = "b" } },
        test = { op = "pr", attr = { name = "c", sub = "d" } } },
        "the test after a value path names one sub-attribute" },
    }
    for _, c in ipairs(bad) do
      local s, err = filter.tostring(c[1])
      assert.is_nil(s)
      assert.same({ scimType = "invalidFilter", detail = "cannot print the filter: " .. c[2] }, err)
    end
    local loop = { op = "not" }
    loop.expr = loop
    assert.equal("cannot print the filter: too many nodes", select(2, filter.tostring(loop)).detail)
  end)

  it("is the C core's, with the limit exported", function()
    assert.equal(8192, core.scim_max_filter)
  end)
end)

describe("close.scim.filter.match", function()
  it("compares userName without regard to case and ids exactly", function()
    assert.is_true(m('userName eq "bjensen@example.com"'))
    assert.is_true(m('USERNAME EQ "BJENSEN@EXAMPLE.COM"'))
    assert.is_true(m('userName eq BJENSEN@example.com'))
    assert.is_false(m('userName eq "bjensen@example.org"'))
    assert.is_true(m('externalId eq "00u1Abc"'))
    assert.is_false(m('externalId eq "00u1abc"'))
    assert.is_true(m('id eq "memb_2819c223"'))
    assert.is_true(m('urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bjensen"'))
  end)

  it("applies co, sw, ew, ne and the orderings to strings", function()
    assert.is_true(m('userName co "@EXAMPLE"'))
    assert.is_true(m('userName sw "bj"'))
    assert.is_true(m('userName ew ".com"'))
    assert.is_false(m('userName ew ".org"'))
    assert.is_true(m('userName ne "x"'))
    assert.is_false(m('userName ne "bjensen@example.com"'))
    assert.is_true(m('userName gt "a"'))
    assert.is_false(m('userName lt "a"'))
    assert.is_true(m('name.givenName eq "barbara"'))
  end)

  it("matches a multi-valued attribute when any value does, through value for complex ones", function()
    assert.is_true(m('emails co "jensen.org"'))
    assert.is_true(m('emails.value eq "babs@jensen.org"'))
    assert.is_true(m('emails.type eq "home"'))
    assert.is_false(m('emails.type eq "other"'))
    assert.is_true(m('emails[type eq "work" and primary eq true]'))
    assert.is_false(m('emails[type eq "home" and primary eq true]'))
    assert.is_true(m('emails[type eq "work"] and not (emails[type eq "other"])'))
    assert.is_true(m('EMAILS[TYPE eq "Work"]'))
    -- a value path, then a test of the same element's sub-attribute
    assert.is_true(m('emails[type eq "work"].value ew "@example.com"'))
    assert.is_false(m('emails[type eq "work"].value ew "@jensen.org"'))
    assert.is_true(m('emails[type eq "home"].value ew "@JENSEN.org"'))
    assert.is_true(m('emails[type eq "work" and primary eq true].value eq "bjensen@example.com"'))
    assert.is_false(m('emails[type eq "home"].primary eq true'))
    assert.is_false(m('emails[type eq "home"].primary pr'))
    assert.is_true(m('emails[primary eq true].type pr'))
    assert.is_true(filter.parse('emails[type eq "work"].value ew "@acme.com"') ~= nil)
    assert.equal('emails[type eq "work"].value ew "@acme.com"',
      filter.tostring(filter.parse('emails[ type eq work ].value EW "@acme.com"')))
  end)

  it("evaluates value paths on members of a group", function()
    local group = { displayName = "Sales", members = { { value = "memb_1" }, { value = "memb_2" } } }
    assert.is_true(m('members[value eq "memb_2"]', group))
    assert.is_false(m('members[value eq "MEMB_2"]', group))
    assert.is_false(m('members[value eq "memb_3"]', group))
  end)

  it("treats null, empty strings and empty lists as not present", function()
    assert.is_true(m("userName pr"))
    assert.is_false(m("title pr"))
    assert.is_false(m("nickName pr"))
    assert.is_false(m("phoneNumbers pr", { phoneNumbers = {} }))
    assert.is_true(m("title eq null"))
    assert.is_false(m("userName eq null"))
    assert.is_true(m("userName ne null"))
    assert.is_true(m("emails pr"))
    assert.is_true(m("nickName ne \"x\""))
  end)

  it("compares booleans liberally, numbers as numbers and dateTimes as instants", function()
    assert.is_true(m("active eq true"))
    assert.is_true(m("active eq True"))
    assert.is_true(m('active eq "true"'))
    assert.is_false(m("active eq false"))
    assert.is_true(m("active eq false", { active = "False" }))
    assert.is_true(m("age gt 41.5 and age le 42"))
    assert.is_false(m("age lt 42"))
    assert.is_true(m('age eq "42"'))
    assert.is_true(m('meta.lastModified gt "2011-05-13T04:42:33Z"'))
    assert.is_true(m('meta.lastModified eq "2011-05-13T06:42:34+02:00"'))
    assert.is_true(m('meta.lastModified lt "2011-05-13T04:42:34.5Z"'))
    assert.is_false(m('meta.lastModified ge "2012-01-01T00:00:00Z"'))
    assert.is_true(m('meta.created gt "2010"'))
  end)

  it("reads an extension's attributes under its URN", function()
    assert.is_true(m(ENT .. ':department eq "sales"'))
    assert.is_true(m(ENT .. ':manager.value eq "memb_boss"'))
    assert.is_true(m(ENT .. ':manager eq "memb_boss"'))
    assert.is_false(m(ENT .. ':department eq "eng"'))
  end)

  it("works without a schema: strings without regard to case, values by their types", function()
    local ast = filter.parse('userName eq "BJENSEN@example.com" and age ge 40 and active eq true')
    assert.is_true(filter.match(ast, bjensen))
    assert.is_false(filter.match(ast, "not a table"))
  end)

  it("refuses what RFC 7644 refuses with invalidFilter", function()
    local cases = {
      { "active gt true", "active: gt does not apply to a boolean" },
      { "cert le 5", "cert: le does not apply to a binary" },
      { "userName gt false", "userName: gt does not apply to a boolean" },
      { "age gt null", "age: null compares only with eq and ne" },
      { 'userName[value eq "x"]', "userName is not a complex attribute" },
      { 'name eq "x"', "name is complex: filter on one of its sub-attributes" },
      { 'userName eq "x" or emails[type eq "work"] and active ge true', "active: ge does not apply to a boolean" },
      { 'emails[type eq "work"].primary gt true', "emails[primary]: gt does not apply to a boolean" },
    }
    for _, c in ipairs(cases) do
      local ok, err = m(c[1])
      assert.is_nil(ok)
      assert.same({ scimType = "invalidFilter", detail = c[2] }, err)
    end
    local ok, err = filter.match({ op = "has", attr = { name = "emails" }, filter = { op = "has",
      attr = { name = "x" }, filter = { op = "pr", attr = { name = "y" } } } }, bjensen, schema)
    assert.is_nil(ok)
    assert.equal("emails[x]: a value path inside a value path", err.detail)
    ok, err = filter.match({ op = "has", attr = { name = "emails" }, filter = { op = "pr", attr = { name = "type" } },
      test = { op = "not", expr = { op = "pr", attr = { name = "value" } } } }, bjensen, schema)
    assert.is_nil(ok)
    assert.equal("emails: the test after ']' must be pr or a comparison", err.detail)
    ok, err = filter.match({ op = "has", attr = { name = "emails" }, filter = { op = "pr", attr = { name = "type" } },
      test = { op = "pr", attr = { name = "value", sub = "x" } } }, bjensen, schema)
    assert.is_nil(ok)
    assert.equal("emails: the test after ']' names one sub-attribute", err.detail)
    ok, err = filter.match({ op = "eq" }, bjensen, schema)
    assert.is_nil(ok)
    assert.equal("filter node without attr", err.detail)
  end)
end)
