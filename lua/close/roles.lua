--- The organization's roles: `client:roles()` (cached, see close.cache) and
-- the resolution of a role given by name to its id.
-- @module close.roles

local Error = require "close.error"
local client = require "close.client"
local driver = require "close.driver"
local validate = require "close.validate"

local M = {}

local MAX_PAGES = 100 -- bounded: 100 pages of roles is far past any real organization

-- the usable roles of a page (a role is usable only with an id)
local function usable(page, into)
  local data = type(page.data) == "table" and page.data or {}
  for _, r in ipairs(data) do
    if type(r) == "table" and type(r.id) == "string" then into[#into + 1] = r end
  end
  return #data
end

--- Lists the organization's roles (GET /role/), cached for the client's
-- `cache_max_age`.
-- @return list of role tables (`id`, `name`, ...), nil, meta (`cached = true` when cached) ; or nil, err
function client.Client:roles()
  local parts = client.parts(self, "roles")
  local cached = parts.cache:get("roles")
  if cached then return cached, nil, { cached = true } end
  local roles, skip, meta = {}, 0, nil
  for _ = 1, MAX_PAGES do
    local page, err
    page, err, meta = driver.call(parts, { method = "GET", path = "/role/", idempotent = true,
      query = skip > 0 and { _skip = skip } or nil })
    if not page then return nil, err end
    local n = usable(page, roles)
    if page.has_more ~= true or n == 0 then
      parts.cache:set("roles", roles)
      return roles, nil, meta
    end
    skip = skip + n
  end
  -- a partial list, cached, would later call a real role unknown
  return nil, Error.new("protocol", "GET /role/ still has more after " .. MAX_PAGES .. " pages",
    { method = "GET", url = parts.base_url .. "/role/", status = meta.status, attempts = meta.attempts })
end

--- Resolves `args.role` (a name) to `args.role_id`, in place; returns nil or
-- an error. GET /role/ only for a name that is not a predefined role.
-- @local
function M.resolve(self, args, method, url)
  if args.role == nil then return end
  local resolved = validate.role_named(args.role)
  if not resolved then
    local roles, err = self:roles()
    if not roles then return err end
    local why
    resolved, why = validate.role_named(args.role, roles)
    if not resolved then return Error.validation({ role = why }, method, url) end
  end
  args.role, args.role_id = nil, resolved
end

return M
