-- The scripted server of test/replay (build/replay_server): answers each
-- request with the next of a list of raw responses, broken ones included.
local M = {}

local BIN = os.getenv("CLOSE_TEST_REPLAY_SERVER") or "build/replay_server"

--- Starts a server for `records`, a list of `{after, bytes}` where after is
--- "keep", "close", "reset" or "hang". Returns `{url =, stop = function}`:
--- stop() waits until the server ends (every record used and every
--- connection closed, so close the client first; at most `max_seconds`) and
--- returns how many records it sent.
function M.start(records, max_seconds)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  for _, r in ipairs(records) do f:write(r[1], " ", #r[2], "\n", r[2], "\n") end
  f:close()
  local p = assert(io.popen(("%s --max-seconds %d %s"):format(BIN, max_seconds or 10, path)))
  local line = p:read("*l")
  local port = line and line:match("^port (%d+)$")
  if not port then
    p:close()
    os.remove(path)
    error("replay_server did not start (" .. tostring(line) .. "): build it with make build/replay_server")
  end
  return {
    url = "http://127.0.0.1:" .. port,
    stop = function()
      local rest = p:read("*a")
      p:close()
      os.remove(path)
      return tonumber(rest:match("sent (%d+)"))
    end,
  }
end

return M
