-- The default jitter source: in [0, 1), and not the same sequence in two
-- processes (math.random before Lua 5.4 would be).
local core = require "close.core"

describe("close.core.random", function()
  it("stays in [0, 1) and spreads over it", function()
    local low, high = 0, 0
    for _ = 1, 10000 do
      local r = core.random()
      assert.is_true(r >= 0 and r < 1)
      if r < 0.5 then low = low + 1 else high = high + 1 end
    end
    assert.is_true(low > 4000 and high > 4000, low .. " below 0.5, " .. high .. " above")
  end)

  it("differs between processes", function()
    local lua = arg and arg[-1] or "lua"
    local cmd = lua .. [[ -e 'local c = require "close.core"; print(("%.17g %.17g"):format(c.random(), c.random()))']]
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
