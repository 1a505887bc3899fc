-- wrk script of bench/scim.lua: Okta's lookup before a create,
-- `GET /Users?filter=userName eq "..."`, for members picked at random, each
-- connection pausing between requests so that the whole run keeps the rate
-- asked for (SCIM_RATE requests/s over SCIM_CONNECTIONS connections).
-- SCIM_BASELINE=1: GET /healthz instead (nginx alone, no Lua): the floor
-- that this machine's load puts under every figure.
-- luacheck: globals wrk request delay init
local token = os.getenv("SCIM_TOKEN")
local members = tonumber(os.getenv("SCIM_MEMBERS"))
local baseline = os.getenv("SCIM_BASELINE") == "1"
local pause = 1000 * tonumber(os.getenv("SCIM_CONNECTIONS")) / tonumber(os.getenv("SCIM_RATE"))

function init()
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
  if baseline then return wrk.format("GET", "/healthz") end
  local email = ("bench%05d%%40acme.com"):format(math.random(1, members))
  return wrk.format("GET", "/scim/v2/Users?filter=userName%20eq%20%22" .. email .. "%22",
    { Authorization = "Bearer " .. token })
end

function delay()
  return pause
end
