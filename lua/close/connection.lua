--- A client's connections and the transport that uses them: the default
-- libcurl handle (keep-alive), the libcurl multi handle of `batch` (opened
-- at the first batch), or a transport given by the caller or picked inside
-- nginx, whose connections are its own. `close` releases them; a closed
-- connection sends nothing again (the driver returns kind `closed`).
-- @module close.connection

local core = require "close.core"

local M = {}

local Connection = {}
Connection.__index = Connection

--- The connection of a client: `transport` when given, else libcurl.
function M.new(transport)
  local conn = setmetatable({ closed = false }, Connection)
  if transport then
    conn.transport = transport
  else
    conn.transport, conn.http = require("close.transport.curl").new()
  end
  return conn
end

--- The multi handle for concurrent transfers (nil when the transport is
-- not the default libcurl one). `max_host` (connections per host) is fixed
-- by the first call.
function Connection:multi(max_host)
  if not self.http or self.closed then return nil end
  self.multi_handle = self.multi_handle or core.multi(max_host)
  return self.multi_handle
end

--- Releases the handles; idempotent.
function Connection:close()
  self.closed = true
  if self.http then self.http:close() end
  if self.multi_handle then self.multi_handle:close() end
end

return M
