-- How often one attempt of a call crosses between Lua and C, with the
-- client's defaults (its own clock, wall clock, jitter and sleep) and a
-- transport counted as the one crossing the libcurl one is. Every function
-- of close.core, the generator's next, and cjson's encode and decode are
-- wrapped to log their names; the sequences are pinned, so that a new
-- crossing shows here. (Before issue 13: 8 for a success, 15 for a failed
-- retryable attempt.)
local core = require "close.core"
local cjson = require "cjson.safe"

local log = {}
local saved, saved_new, saved_next = {}, cjson.new, nil

local function logged(name, f)
  return function(...)
    log[#log + 1] = name
    return f(...)
  end
end

local function fresh_close()
  for name in pairs(package.loaded) do
    if name == "close" or (name:match("^close%.") and name ~= "close.core") then package.loaded[name] = nil end
  end
  return require "close"
end

-- a stub for the libcurl transport: scripted responses, one crossing each
local function transport(responses)
  local i = 0
  return function()
    log[#log + 1] = "transport"
    i = i + 1
    return responses[math.min(i, #responses)]
  end
end

local OK = { status = 200, headers = { ratelimit = "limit=100, remaining=99, reset=1" }, body = '{"id":"x"}' }
local BUSY = { status = 503, headers = { ["retry-after"] = "0" }, body = '{"error":"busy"}' }
local LIMITED = { status = 429, headers = { ratelimit = "limit=100, remaining=0, reset=0" }, body = "{}" }

local ATTEMPT_OK = { "now", "transport", "now", "decode", "interpret" }
local ATTEMPT_RETRY = { "now", "transport", "now", "decode", "interpret", "retry_decide", "sleep" }

local function concat(...)
  local out = {}
  for _, t in ipairs({ ... }) do
    for _, v in ipairs(t) do out[#out + 1] = v end
  end
  return out
end

describe("crossings between Lua and C per attempt", function()
  local close

  setup(function()
    for k, v in pairs(core) do
      if type(v) == "function" then
        saved[k] = v
        core[k] = logged(k, v)
      end
    end
    local rng_methods = getmetatable(saved.rng()).__index
    saved_next = rng_methods.next
    rng_methods.next = logged("rng:next", saved_next)
    cjson.new = function()
      local j = saved_new()
      j.decode, j.encode = logged("decode", j.decode), logged("encode", j.encode)
      return j
    end
    close = fresh_close()
  end)

  teardown(function()
    for k, v in pairs(saved) do core[k] = v end
    getmetatable(core.rng()).__index.next = saved_next
    cjson.new = saved_new
    fresh_close()
  end)

  local function run(responses)
    local client = close.new { api_key = "ck_crossings", transport = transport(responses) }
    log = {}
    local doc, err = client:request("GET", "/me/")
    assert.is_nil(err)
    assert.are.same({ id = "x" }, doc)
    return log
  end

  it("is 5 for a successful attempt", function()
    -- the call's own: the clock at its start
    assert.are.same(concat({ "now" }, ATTEMPT_OK), run({ OK }))
    assert.are.equal(5, #ATTEMPT_OK)
  end)

  it("is 7 for a failed retryable attempt (the jitter drawn in C)", function()
    assert.are.same(concat({ "now" }, ATTEMPT_RETRY, ATTEMPT_OK), run({ BUSY, OK }))
    assert.are.same(concat({ "now" }, ATTEMPT_RETRY, ATTEMPT_RETRY, ATTEMPT_OK), run({ LIMITED, BUSY, OK }))
    assert.are.equal(7, #ATTEMPT_RETRY)
  end)

  it("counts the same for a transport failure", function()
    local down = { kind = "network", message = "connection refused" }
    local client = close.new { api_key = "ck_crossings", backoff_base = 0, transport = (function()
      local n = 0
      return function()
        log[#log + 1] = "transport"
        n = n + 1
        if n == 1 then return nil, down end
        return OK
      end
    end)() }
    log = {}
    assert(client:request("GET", "/me/"))
    -- no response: nothing to decode or interpret
    assert.are.same(concat({ "now" }, { "now", "transport", "now", "retry_decide", "sleep" }, ATTEMPT_OK), log)
  end)
end)
