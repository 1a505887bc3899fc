--- The default transport: blocking libcurl (close.core.http).
-- One easy handle per transport, so a client reuses its keep-alive
-- connection across calls. Do not use it inside nginx request handlers: it
-- blocks the worker (close picks the cosocket transport there).
-- @module close.transport.curl

local core = require "close.core"

local M = {}

--- Returns `transport, handle`: the transport function and the handle whose
-- `:close()` releases the connection (the garbage collector does it too).
function M.new()
  local http = core.http()
  return function(request)
    return http:request(request)
  end, http
end

return M
