-- close.core.multi keeps a client's header block parsed once and shared by
-- the transfers that send it: a new block (an OAuth token rotated) while
-- transfers of the old one still run changes only the transfers started
-- after it, and every list lives as long as a transfer reads it.
local core = require "close.core"
local server = require "spec.support.server"

local function lines(auth)
  return "Accept: application/json\r\nAuthorization: " .. auth .. "\r\nUser-Agent: close-spec"
end

describe("close.core.multi's header blocks", function()
  local multi
  before_each(function()
    server.reset()
    multi = core.multi(8)
  end)
  after_each(function() multi:close() end)

  local function start(block)
    return assert(multi:start({ method = "GET", url = server.http_url .. "/me/", header_lines = block, timeout = 10 }))
  end

  local function finish(ids)
    local statuses, left, deadline = {}, #ids, core.now() + 20
    while left > 0 and core.now() < deadline do
      for _, r in ipairs(multi:wait(1)) do
        statuses[r.id] = r.response and r.response.status or r.err.kind
        left = left - 1
      end
    end
    local out = {}
    for i, id in ipairs(ids) do out[i] = statuses[id] end
    return out
  end

  it("sends each transfer's own block, old and new running at once", function()
    local good, bad = lines(core.auth_header("basic", server.api_key)), lines(core.auth_header("basic", "ck_wrong"))
    local ids = {}
    for i = 1, 4 do ids[i] = start(good) end
    for i = 5, 8 do ids[i] = start(bad) end
    for i = 9, 12 do ids[i] = start(good) end
    assert.are.same({ 200, 200, 200, 200, 401, 401, 401, 401, 200, 200, 200, 200 }, finish(ids))
  end)

  it("refuses a block with a line that is no header, and starts nothing", function()
    assert.has_error(function() start("Accept: a\r\nno colon") end,
      "bad argument #1 to 'start' (header lines must be 'Name: value' with a token name)")
    assert.are.equal(0, multi:running())
  end)
end)
