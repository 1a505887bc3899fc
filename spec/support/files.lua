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

--- Runs a shell command; true when it exited 0 (os.execute says so with
-- true on 5.2+, with 0 on 5.1).
function M.sh(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end

--- Whether process pid has ended: no longer there, or a zombie whose
-- threads have all ended. A thread group's leader shows as a zombie while
-- its other threads run on (redis-server's fsync thread), and the process's
-- sockets stay open until the last thread ends.
function M.process_gone(pid)
  local status = M.read("/proc/" .. pid .. "/status")
  if not status then return true end
  return status:match("\nState:%s*Z") ~= nil and status:match("\nThreads:%s*(%d+)") == "1"
end

return M
