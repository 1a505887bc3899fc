-- A scripted Redis for the specs: `lua spec/support/resp_replay.lua FILE`
-- listens on a free loopback port, prints "port N", and for each record of
-- FILE ("<after> <length>\n<bytes>\n", after = close or hang) accepts one
-- connection, reads the first line of its request, writes the bytes, then
-- closes it (close) or keeps it silent for 1 s (hang). Ends after the last
-- record or after 10 s without a connection.
local socket = require "socket"

local f = assert(io.open(arg[1], "rb"))
local data = f:read("*a")
f:close()
local records, pos = {}, 1
while pos <= #data do
  local after, len, stop = data:match("^(%a+) (%d+)\n()", pos)
  if not after then break end
  records[#records + 1] = { after = after, bytes = data:sub(stop, stop + tonumber(len) - 1) }
  pos = stop + tonumber(len) + 1
end

local server = assert(socket.bind("127.0.0.1", 0))
local _, port = server:getsockname()
io.write("port ", port, "\n")
io.flush()
server:settimeout(10)
for _, r in ipairs(records) do
  local c = server:accept()
  if not c then break end
  c:settimeout(2)
  c:receive("*l")
  c:send(r.bytes)
  if r.after == "hang" then socket.sleep(1) end
  c:close()
end
server:close()
