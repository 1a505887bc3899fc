--- close.scim: a SCIM 2.0 service provider (RFC 7643, RFC 7644) in front
-- of Close's memberships, for Okta and Microsoft Entra ID.
--
--     local scim = require "close.scim"
--     local h = scim.handler{ client = client, store = store, token = token }
--     local res = h:handle{ method = "GET", path = "/scim/v2/Users", query = "count=2",
--                           headers = { authorization = "Bearer " .. token } }
-- @module close.scim

local M = {}

--- The pure handler (see close.scim.handler).
function M.handler(opts) return require("close.scim.handler").new(opts) end

--- The nginx content handler (see close.scim.serve).
function M.serve(opts) return require("close.scim.serve").serve(opts) end

--- The organization index (see close.scim.index).
function M.index(opts) return require("close.scim.index").new(opts) end

return M
