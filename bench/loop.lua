-- bench/run.lua's callgrind figure: N creates through one client against
-- the benchmark's upstream (lua bench/loop.lua URL N).
local close = require "close"
local url, n = arg[1], tonumber(arg[2])
local client = close.new { api_key = "ck_bench", base_url = url }
for _ = 1, n do assert(client:create_membership { email = "jane.doe@acme.com", role_id = "user" }) end
client:close()
