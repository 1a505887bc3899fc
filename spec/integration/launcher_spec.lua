-- bin/close-provision's launcher from a checkout: CLOSE_LUA_VERSION picks
-- the runtime, luajit included (issue 14 item 17); a value it does not know
-- or a runtime not built is refused, naming the builds there are.
local server = require "spec.support.server"
local files = require "spec.support.files"
local cli = require "spec.support.cli"

local sh_quote = cli.quote

-- LUA_INIT runs in the interpreter the launcher starts: it says which one
local PROBE = 'io.stderr:write("runtime=", jit and jit.version or _VERSION, "\\n")'

-- Runs a launcher with CLOSE_LUA_VERSION=version; returns exit status, stdout, stderr.
local function launch(launcher, version, args)
  return cli.shell(("CLOSE_LUA_VERSION=%s LUA_INIT=%s CLOSE_API_KEY=%s CLOSE_BASE_URL=%s %s %s")
    :format(sh_quote(version), sh_quote(PROBE), sh_quote(server.api_key), sh_quote(server.http_url), launcher, args))
end

local ok = files.sh
local function exists(path) return ok("test -e " .. sh_quote(path)) end

-- The first of build/5.4, 5.3, 5.2 that is built (with its interpreter installed)
local function built_other_than_51()
  for _, v in ipairs { "5.4", "5.3", "5.2" } do
    if exists("build/" .. v .. "/close/core.so") and ok("command -v lua" .. v .. " >/dev/null") then
      return v
    end
  end
end

describe("bin/close-provision's launcher", function()
  before_each(function() server.reset() end)

  it("CLOSE_LUA_VERSION=luajit provisions on LuaJIT (build/5.1)", function()
    local f = files.tmpfile("jit1@acme.com,user\n")
    local code, out, err = launch("bin/close-provision", "luajit", "--journal /dev/null " .. f)
    os.remove(f)
    os.remove(f .. ".failed")
    assert.equal(0, code, err)
    assert.matches("^runtime=LuaJIT 2%.", err)
    assert.matches("line 1: jit1@acme.com: created memb_%w+", out)
    local found
    for _, m in ipairs(server.state().memberships) do found = found or m.email == "jit1@acme.com" end
    assert.is_true(found)
  end)

  it("CLOSE_LUA_VERSION=5.1 runs on Lua 5.1, not LuaJIT, from the same build", function()
    local code, _, err = launch("bin/close-provision", "5.1", "--version")
    assert.equal(0, code)
    assert.equal("runtime=Lua 5.1\n", err)
  end)

  it("an unknown value is refused, listing the runtimes and the builds there are", function()
    local code, out, err = launch("bin/close-provision", "5.9", "--version")
    assert.equal(2, code)
    assert.equal("", out)
    local built = err:match("^close%-provision: CLOSE_LUA_VERSION=5%.9 is none of: 5%.4 5%.3 5%.2 5%.1 luajit; "
      .. "built here: ([%w%. ]+)\n$")
    assert.is_string(built, err)
    -- the specs run with build/5.1 (LuaJIT's) built, and luajit installed
    assert.matches("luajit", built, 1, true)
    for v in built:gmatch("%S+") do
      assert.is_true(exists("build/" .. (v == "luajit" and "5.1" or v) .. "/close/core.so"), v)
    end
  end)

  it("a runtime with no build is refused, saying how to build it and what is built", function()
    -- a checkout with one build that is not LuaJIT's (make test builds them all first)
    local v = built_other_than_51()
    assert.is_string(v, "no build/5.2, 5.3 or 5.4 here: run make test, which builds every runtime first")
    local dir = files.tmpdir()
    assert(os.execute(("mkdir -p %s/bin %s/build && cp bin/close-provision %s/bin/ && ln -s %s/lua %s/lua && "
      .. "ln -s %s/build/%s %s/build/%s"):format(dir, dir, dir, os.getenv("PWD"), dir, os.getenv("PWD"), v, dir, v)))
    local code, _, err = launch(dir .. "/bin/close-provision", "luajit", "--version")
    local code2, _, err2 = launch(dir .. "/bin/close-provision", v, "--version")
    os.execute("rm -rf " .. sh_quote(dir))
    assert.equal(2, code)
    assert.equal("close-provision: no build for CLOSE_LUA_VERSION=luajit (make LUA_VERSION=5.1 builds it, and "
      .. "luajit must be installed); built here: " .. v .. "\n", err)
    assert.equal(0, code2)
    assert.equal("runtime=Lua " .. v .. "\n", err2)
  end)
end)
