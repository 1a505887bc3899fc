--- The client a close-provision run uses: the one given (specs), the token
-- file given, else the environment's.
-- @module close.cli.credentials

local close = require "close"

local M = {}

--- The client, or nil and why.
function M.make(env, opts)
  if env.client then return env.client end
  if env.client == false then -- specs: as if the environment had no credentials
    return nil, close.NO_CREDENTIALS
  end
  if opts["token-file"] then
    return close.from_env(function(k)
      if k == "CLOSE_TOKEN_FILE" then return opts["token-file"] end
      if k == "CLOSE_API_KEY" or k == "CLOSE_ACCESS_TOKEN" then return nil end
      return os.getenv(k)
    end)
  end
  return close.default()
end

return M
