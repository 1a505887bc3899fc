-- wrk script of bench/scim_nodes.lua: SCIM_MODE=read is Okta's lookup
-- `GET /Users?filter=userName eq "..."`, SCIM_MODE=write a PATCH of a
-- stored attribute (displayName) of a member picked at random from
-- SCIM_IDS (a file: one "id email" line per member); each connection pauses
-- so that the run keeps SCIM_RATE requests/s over SCIM_CONNECTIONS.
-- luacheck: globals wrk request delay init
local token = os.getenv("SCIM_TOKEN")
local write = os.getenv("SCIM_MODE") == "write"
local prefix = os.getenv("SCIM_PREFIX") or ""
local pause = 1000 * tonumber(os.getenv("SCIM_CONNECTIONS")) / tonumber(os.getenv("SCIM_RATE"))
local members = {}
for line in io.lines(os.getenv("SCIM_IDS")) do
  local id, email = line:match("^(%S+) (%S+)$")
  if id then members[#members + 1] = { id = id, email = email } end
end

function init()
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
  local m = members[math.random(1, #members)]
  local headers = { Authorization = "Bearer " .. token, ["Content-Type"] = "application/scim+json" }
  if write then
    local body = ('{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":'
      .. '[{"op":"replace","path":"displayName","value":"Bench %d"}]}'):format(math.random(1, 1e9))
    return wrk.format("PATCH", prefix .. "/scim/v2/Users/" .. m.id, headers, body)
  end
  return wrk.format("GET", prefix .. "/scim/v2/Users?filter=userName%20eq%20%22"
    .. m.email:gsub("@", "%%40") .. "%22", headers)
end

function delay()
  return pause
end
