-- Debian's redis-server as the specs run it: a free loopback port, a
-- private directory (AOF on, no RDB snapshots), optionally a password;
-- started, waited for (bounded) and stopped by its pid. And a scripted
-- server that answers broken replies (spec/support/resp_replay.lua).
local core = require "close.core"
local redis = require "close.redis"
local files = require "spec.support.files"

local M = {}

local read = files.read
M.free_port, M.tmpdir = files.free_port, files.tmpdir

local LUA = os.getenv("CLOSE_TEST_LUA") or "lua5.4"

--- Starts spec/support/resp_replay.lua for records {after, bytes}; returns
-- its port and a function that waits for it to end and cleans up.
function M.replay(records)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  for _, r in ipairs(records) do f:write(r[1], " ", #r[2], "\n", r[2], "\n") end
  f:close()
  local p = assert(io.popen(LUA .. " spec/support/resp_replay.lua " .. path))
  local port = tonumber((p:read("*l") or ""):match("^port (%d+)$"))
  assert(port, "resp_replay did not start")
  return port, function()
    p:read("*a")
    p:close()
    os.remove(path)
  end
end

-- true once PING answers PONG (with the password, if any)
local function answers(port, password)
  local red = redis.new()
  red:set_timeout(200)
  if not red:connect("127.0.0.1", port) then return false end
  if password and not red:auth(password) then red:close() return false end
  local pong = red:ping()
  red:close()
  return pong == "PONG"
end

local Server = {}
Server.__index = Server

--- Starts redis-server: opts.password, opts.dir (else a new one), opts.port
-- (else a free one). Returns the server {port, dir, password, pid} or
-- raises with the end of its log.
function M.start(opts)
  opts = opts or {}
  local dir = opts.dir or M.tmpdir()
  for _ = 1, 5 do
    local port = opts.port or M.free_port()
    local args = { "env", "-u", "LD_PRELOAD", "redis-server", "--port", port, "--bind", "127.0.0.1", "--dir", dir,
      "--appendonly", "yes", "--appendfsync", "always", "--save", "''", "--daemonize", "yes",
      "--pidfile", dir .. "/redis.pid", "--logfile", dir .. "/redis.log" }
    if opts.password then args[#args + 1] = "--requirepass " .. opts.password end
    os.remove(dir .. "/redis.pid")
    os.execute(table.concat(args, " ") .. " >/dev/null 2>&1")
    for _ = 1, 100 do
      if answers(port, opts.password) then
        local pid = tonumber(read(dir .. "/redis.pid") or "")
        return setmetatable({ port = port, dir = dir, password = opts.password, pid = pid,
          cmd = table.concat(args, " ") }, Server) -- cmd starts it again as it was
      end
      core.sleep(0.05)
    end
    if opts.port then break end -- a given port: no other to try
  end
  error("redis-server did not start: " .. tostring(read(dir .. "/redis.log")):sub(-600))
end

--- A connected close.redis client (authenticated).
function Server:client(timeout_ms)
  local red = redis.new()
  red:set_timeout(timeout_ms or 2000)
  assert(red:connect("127.0.0.1", self.port))
  if self.password then assert(red:auth(self.password)) end
  return red
end

local gone = files.process_gone

--- Stops the server with signal sig (TERM by default) and waits until it is
-- gone: at most 30 s (a loaded machine with an fsync per write can take
-- seconds to shut down), then KILL, so a spec never goes on beside a server
-- still closing its clients (which reads as "closed", not "refused").
function Server:stop(sig)
  if not self.pid then return end
  os.execute(("kill -%s %d 2>/dev/null"):format(sig or "TERM", self.pid))
  for _ = 1, 600 do
    if gone(self.pid) then break end
    core.sleep(0.05)
  end
  if not gone(self.pid) then
    os.execute(("kill -KILL %d 2>/dev/null"):format(self.pid))
    for _ = 1, 100 do
      if gone(self.pid) then break end
      core.sleep(0.05)
    end
  end
  local pid = self.pid
  self.pid = nil
  assert(gone(pid), "redis-server " .. pid .. " did not stop")
end

--- Stops the server and removes its directory.
function Server:destroy()
  self:stop()
  os.execute("rm -rf '" .. self.dir .. "'")
end

return M
