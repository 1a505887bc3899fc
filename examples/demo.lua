-- `make demo`: provisions examples/members.csv through the public API against
-- the local Close-compatible server (started by scripts/with-server.sh),
-- over TLS with the test CA, with a rate limit low enough that Close-style
-- 429s happen and are waited out. Never talks to Close itself.
local close = require "close"
local server = require "spec.support.server"

server.reset()
server.config{ rate_limit = 3, rate_window = 2 }

print(("Local Close-compatible server: %s (TLS, test CA); rate limit 3 calls per 2 s\n"):format(server.https_url))

close.set_default(close.new{
  api_key = server.api_key,
  base_url = server.https_url,
  ca_file = server.ca,
  on_attempt = function(info)
    if info.wait then
      print(("        attempt %d: %s; waiting %.2fs (from %s) before retrying"):format(
        info.attempt, info.status and ("HTTP " .. info.status) or info.kind, info.wait, info.wait_source))
    end
  end,
})

local provisioned, failed = assert(loadfile("examples/create_membership.lua"))("examples/members.csv")
-- the file holds two lines meant to fail: one refused before sending, one by the server
if provisioned ~= 5 or #failed ~= 2 then
  print("demo: unexpected outcome")
  os.exit(1)
end
print("\ndemo: done (the two failures above are the file's deliberate bad lines)")
