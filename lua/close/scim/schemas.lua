--- The SCIM schemas the bridge serves (RFC 7643 sections 4, 7 and 8.7),
-- the discovery documents built from them, and the one attribute lookup
-- (names in any case) that filters, PATCH and projection use.
-- @module close.scim.schemas

local json = require "close.scim.json"

local M = {}

M.USER = "urn:ietf:params:scim:schemas:core:2.0:User"
M.ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
M.GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
M.LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
M.PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
M.SPC = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
M.RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
M.SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"

-- An attribute definition with RFC 7643 section 2.2's defaults.
local function attr(name, typ, o)
  o = o or {}
  local a = {
    name = name, type = typ, multiValued = o.multi or false, description = o.desc or name,
    required = o.required or false, mutability = o.mutability or "readWrite",
    returned = o.returned or "default", uniqueness = o.uniqueness or "none",
  }
  if typ ~= "complex" then a.caseExact = o.caseExact or false end
  if o.canonical then a.canonicalValues = json.array(o.canonical) end
  if o.refs then a.referenceTypes = json.array(o.refs) end
  if o.sub then a.subAttributes = json.array(o.sub) end
  return a
end

-- value/display/type/primary: the sub-attributes of most multi-valued attributes
local function multi(name, desc, canonical, value_type, o)
  o = o or {}
  return attr(name, "complex", { multi = true, desc = desc, mutability = o.mutability, sub = {
    attr("value", value_type or "string", { desc = "the value", refs = o.refs, mutability = o.sub_mutability }),
    attr("display", "string", { desc = "a human-readable name", mutability = o.sub_mutability or "readOnly" }),
    attr("type", "string", { desc = "a label for the function", canonical = canonical,
      mutability = o.sub_mutability }),
    attr("primary", "boolean", { desc = "the preferred value", mutability = o.sub_mutability }),
  } })
end

local USER_ATTRIBUTES = {
  attr("userName", "string", { required = true, uniqueness = "server",
    desc = "the Close member's email address, unique without regard to case" }),
  attr("name", "complex", { desc = "the components of the user's name", sub = {
    attr("formatted", "string"), attr("familyName", "string"), attr("givenName", "string"),
    attr("middleName", "string"), attr("honorificPrefix", "string"), attr("honorificSuffix", "string"),
  } }),
  attr("displayName", "string"), attr("nickName", "string"),
  attr("profileUrl", "reference", { refs = { "external" } }),
  attr("title", "string"), attr("userType", "string"), attr("preferredLanguage", "string"),
  attr("locale", "string"), attr("timezone", "string"),
  attr("active", "boolean", { desc = "whether the Close membership is active" }),
  attr("password", "string", { mutability = "writeOnly", returned = "never",
    desc = "accepted and ignored: Close users sign in through Close; never stored" }),
  multi("emails", "email addresses", { "work", "home", "other" }),
  multi("phoneNumbers", "phone numbers", { "work", "home", "mobile", "fax", "pager", "other" }),
  multi("ims", "instant messaging addresses", { "aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo" }),
  multi("photos", "URLs of photos", { "photo", "thumbnail" }, "reference", { refs = { "external" } }),
  attr("addresses", "complex", { multi = true, sub = {
    attr("formatted", "string"), attr("streetAddress", "string"), attr("locality", "string"),
    attr("region", "string"), attr("postalCode", "string"), attr("country", "string"),
    attr("type", "string", { canonical = { "work", "home", "other" } }), attr("primary", "boolean"),
  } }),
  attr("groups", "complex", { multi = true, mutability = "readOnly",
    desc = "the group (Close role) the user is in; change it through the Group", sub = {
      attr("value", "string", { mutability = "readOnly" }),
      attr("$ref", "reference", { mutability = "readOnly", refs = { "Group" } }),
      attr("display", "string", { mutability = "readOnly" }),
      attr("type", "string", { mutability = "readOnly", canonical = { "direct", "indirect" } }),
    } }),
  multi("entitlements", "entitlements"),
  multi("roles", "the Close role: value is a role id or name; one role per user"),
  multi("x509Certificates", "certificates", nil, "binary"),
}

local ENTERPRISE_ATTRIBUTES = {
  attr("employeeNumber", "string"), attr("costCenter", "string"), attr("organization", "string"),
  attr("division", "string"), attr("department", "string"),
  attr("manager", "complex", { sub = {
    attr("value", "string"), attr("$ref", "reference", { refs = { "User" } }),
    attr("displayName", "string", { mutability = "readOnly" }),
  } }),
}

local GROUP_ATTRIBUTES = {
  attr("displayName", "string", { required = true,
    desc = "the Close role's name; groups are Close roles" }),
  attr("members", "complex", { multi = true, desc = "the active members who have this role", sub = {
    attr("value", "string", { mutability = "immutable" }),
    attr("$ref", "reference", { mutability = "immutable", refs = { "User", "Group" } }),
    attr("display", "string", { mutability = "readOnly" }),
    attr("type", "string", { mutability = "immutable", canonical = { "User", "Group" } }),
  } }),
}

-- id, externalId and meta belong to every resource (RFC 7643 section 3.1)
local COMMON = {
  attr("id", "string", { mutability = "readOnly", returned = "always", uniqueness = "server", caseExact = true }),
  attr("externalId", "string", { caseExact = true }),
  attr("meta", "complex", { mutability = "readOnly", sub = {
    attr("resourceType", "string", { mutability = "readOnly", caseExact = true }),
    attr("created", "dateTime", { mutability = "readOnly" }),
    attr("lastModified", "dateTime", { mutability = "readOnly" }),
    attr("location", "reference", { mutability = "readOnly", refs = { "uri" } }),
    attr("version", "string", { mutability = "readOnly", caseExact = true }),
  } }),
}

M.DEFINITIONS = {
  { id = M.USER, name = "User", description = "A Close membership", attributes = USER_ATTRIBUTES },
  { id = M.ENTERPRISE, name = "EnterpriseUser", description = "Enterprise User (kept by the bridge)",
    attributes = ENTERPRISE_ATTRIBUTES },
  { id = M.GROUP, name = "Group", description = "A Close role", attributes = GROUP_ATTRIBUTES },
}

-- lowercased name -> definition, per schema URN (lowercased)
local by_schema = {}
local function index(urn, list)
  local t = by_schema[urn:lower()] or {}
  for _, a in ipairs(list) do
    local subs = {}
    for _, s in ipairs(a.subAttributes or {}) do subs[s.name:lower()] = s end
    t[a.name:lower()] = { def = a, subs = subs }
  end
  by_schema[urn:lower()] = t
end
index(M.USER, USER_ATTRIBUTES)
index(M.USER, COMMON)
index(M.ENTERPRISE, ENTERPRISE_ATTRIBUTES)
index(M.GROUP, GROUP_ATTRIBUTES)
index(M.GROUP, COMMON)

-- the schemas of each resource type: core first, then extensions
M.RESOURCE_SCHEMAS = { User = { M.USER, M.ENTERPRISE }, Group = { M.GROUP } }

--- Splits "urn:...:User:name.sub" into schema URN (or nil) and the rest.
function M.split_urn(path)
  local lower = path:lower()
  for _, urns in pairs(M.RESOURCE_SCHEMAS) do
    for _, urn in ipairs(urns) do
      local u = urn:lower()
      if lower == u then return urn, "" end
      if lower:sub(1, #u + 1) == u .. ":" then return urn, path:sub(#u + 2) end
    end
  end
  return nil, path
end

--- The definition of an attribute of a resource type: `rtype` "User" or
-- "Group"; `urn` (or nil: core, then extensions); `name`; `sub` (or nil).
-- Returns the definition and the schema URN it belongs to, or nil.
function M.lookup(rtype, urn, name, sub)
  local urns = M.RESOURCE_SCHEMAS[rtype]
  if not urns or type(name) ~= "string" then return nil end
  for _, u in ipairs(urn and { urn } or urns) do
    local t = by_schema[u:lower()]
    local entry = t and t[name:lower()]
    if entry then
      if sub == nil then return entry.def, u end
      local s = entry.subs[tostring(sub):lower()]
      if s then return s, u end
      return nil
    end
  end
end

--- The schema function filter.match takes: attrpath -> definition or nil.
function M.resolver(rtype)
  return function(p)
    if type(p) ~= "table" then return nil end
    return (M.lookup(rtype, p.schema, p.name, p.sub))
  end
end

-- Renames the keys of a complex value to their canonical case.
local function canonical_complex(rtype, urn, def, v)
  if type(v) ~= "table" or json.is_array(v) then return v end
  local out = {}
  for k, x in pairs(v) do
    local s = type(k) == "string" and M.lookup(rtype, urn, def.name, k)
    out[s and s.name or k] = x
  end
  return out
end

--- A resource from a provider with attribute names in their canonical case
-- (RFC 7643 section 2.1: names are case-insensitive), the enterprise
-- extension's key included. Unknown attributes keep their names.
function M.canonical(rtype, obj)
  local out = {}
  for k, v in pairs(obj) do
    local urn, rest = nil, k
    if type(k) == "string" then urn, rest = M.split_urn(k) end
    if urn and rest == "" then
      -- an extension object: its attributes canonical too
      local ext = {}
      if type(v) == "table" and not json.is_array(v) then
        for ek, ev in pairs(v) do
          local d = type(ek) == "string" and M.lookup(rtype, urn, ek)
          ext[d and d.name or ek] = d and d.type == "complex" and (d.multiValued and ev or
            canonical_complex(rtype, urn, d, ev)) or ev
        end
        v = ext
      end
      out[urn] = v
    else
      local d, du = M.lookup(rtype, nil, rest)
      if d and du == (urn or du) then
        if d.type == "complex" then
          if d.multiValued and type(v) == "table" then
            local list = json.array({})
            for i, item in ipairs(v) do list[i] = canonical_complex(rtype, du, d, item) end
            v = list
          else
            v = canonical_complex(rtype, du, d, v)
          end
        end
        out[d.name] = v
      else
        out[k] = v
      end
    end
  end
  return out
end

--- GET /Schemas and /Schemas/{id}: the schema resources.
function M.schema_resources(base)
  local out = {}
  for _, s in ipairs(M.DEFINITIONS) do
    out[#out + 1] = { schemas = json.array({ M.SCHEMA }), id = s.id, name = s.name,
      description = s.description, attributes = json.array(s.attributes),
      meta = { resourceType = "Schema", location = base .. "/Schemas/" .. s.id } }
  end
  return out
end

--- GET /ResourceTypes
function M.resource_types(base)
  return {
    { schemas = json.array({ M.RESOURCE_TYPE }), id = "User", name = "User", endpoint = "/Users",
      description = "A Close membership", schema = M.USER,
      schemaExtensions = json.array({ { schema = M.ENTERPRISE, required = false } }),
      meta = { resourceType = "ResourceType", location = base .. "/ResourceTypes/User" } },
    { schemas = json.array({ M.RESOURCE_TYPE }), id = "Group", name = "Group", endpoint = "/Groups",
      description = "A Close role", schema = M.GROUP, schemaExtensions = json.array({}),
      meta = { resourceType = "ResourceType", location = base .. "/ResourceTypes/Group" } },
  }
end

--- GET /ServiceProviderConfig: what the bridge supports (RFC 7643 section 5).
function M.service_provider_config(base, max_results)
  return {
    schemas = json.array({ M.SPC }),
    patch = { supported = true },
    bulk = { supported = false, maxOperations = 0, maxPayloadSize = 0 },
    filter = { supported = true, maxResults = max_results },
    changePassword = { supported = false },
    sort = { supported = false },
    etag = { supported = false },
    authenticationSchemes = json.array({ {
      type = "oauthbearertoken", name = "Bearer token", primary = true,
      description = "Authorization: Bearer <the bridge's CLOSE_SCIM_TOKEN>",
      specUri = "https://www.rfc-editor.org/info/rfc6750",
    } }),
    meta = { resourceType = "ServiceProviderConfig", location = base .. "/ServiceProviderConfig" },
  }
end

return M
