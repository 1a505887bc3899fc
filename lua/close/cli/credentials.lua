--- The client a close-provision run uses: the one given (specs), the token
-- file given, else the environment's.
-- @module close.cli.credentials

local close = require "close"

local M = {}

--- The client; or nil, why, and whether no credential was given at all
-- (only then may a dry run check the file alone: credentials given but
-- broken are an error as in a real run).
function M.make(env, opts)
  if env.client then return env.client end
  if env.client == false then -- specs: as if the environment had no credentials
    return nil, close.NO_CREDENTIALS, true
  end
  local client, err
  if opts["token-file"] then
    client, err = close.from_env(function(k)
      if k == "CLOSE_TOKEN_FILE" then return opts["token-file"] end
      if k == "CLOSE_API_KEY" or k == "CLOSE_ACCESS_TOKEN" then return nil end
      return os.getenv(k)
    end)
  else
    client, err = close.default()
  end
  if client then return client end
  local fields = type(err) == "table" and err.field_errors or {}
  return nil, tostring(err), fields.api_key == close.NO_CREDENTIALS
end

return M
