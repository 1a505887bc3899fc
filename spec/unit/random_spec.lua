-- The default jitter source: a generator per client, in [0, 1), and never
-- the same sequence in two clients or two processes (math.random before
-- Lua 5.4 would be).
local core = require "close.core"
local close = require "close"

local function first_waits()
  local waits = {}
  local c = close.new{
    api_key = "ck_x", max_retries = 2, backoff_base = 1, max_wait = 10,
    sleep = function(s) waits[#waits + 1] = ("%.17g"):format(s) end,
    transport = function() return { status = 503, headers = {}, body = "" } end,
  }
  c:create_membership{ email = "a@acme.com", role_id = "user" }
  return table.concat(waits, " ")
end

describe("close.core.rng", function()
  it("stays in [0, 1) and spreads over it", function()
    local rng, low, high = core.rng(), 0, 0
    for _ = 1, 10000 do
      local r = rng:next()
      assert.is_true(r >= 0 and r < 1)
      if r < 0.5 then low = low + 1 else high = high + 1 end
    end
    assert.is_true(low > 4000 and high > 4000, low .. " below 0.5, " .. high .. " above")
  end)

  it("gives two generators of one process different sequences", function()
    local a, b = core.rng(), core.rng()
    assert.are_not.equal(("%.17g %.17g"):format(a:next(), a:next()), ("%.17g %.17g"):format(b:next(), b:next()))
  end)

  it("gives two clients of one process different jitter", function()
    local one, two = first_waits(), first_waits()
    assert.equal(2, select(2, one:gsub(" ", "")) + 1)
    assert.are_not.equal(one, two)
  end)

  it("differs between processes", function()
    local lua = arg and arg[-1] or "lua"
    local cmd = lua .. [[ -e 'local r = require("close.core").rng()
      print(("%.17g %.17g"):format(r:next(), r:next()))']]
    local seen = {}
    for _ = 1, 2 do
      local p = assert(io.popen(cmd))
      seen[#seen + 1] = p:read("*l")
      p:close()
    end
    assert.is_string(seen[1])
    assert.are_not.equal(seen[1], seen[2])
  end)
end)
