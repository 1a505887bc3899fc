-- Temporary files for the specs of file-reading code, and free loopback
-- ports for the servers specs start.
local M = {}

--- Writes content to a new temporary file; returns its path.
function M.tmpfile(content)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(content)
  f:close()
  return path
end

--- A new private temporary directory; returns its path.
function M.tmpdir()
  local p = assert(io.popen("mktemp -d"))
  local path = p:read("*l")
  p:close()
  return assert(path)
end

--- The content of a file, or nil when it does not exist.
function M.read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

--- A free loopback port (test/lib/ports.sh).
function M.free_port()
  local p = assert(io.popen("bash -c '. test/lib/ports.sh; free_ports 1'"))
  local port = p:read("*l")
  p:close()
  return assert(tonumber(port))
end

return M
