-- scripts/check-portable.sh (run first by `make test`): a clone has nothing
-- beside it, so a tracked file that reads or names a path outside the
-- repository fails the run, naming the file. Each case builds a small git
-- repository holding the script and one file, and runs the script there.
local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1; echo \"rc=$?\""))
  local out = p:read("*a")
  p:close()
  return out
end

local function check(files)
  local dir = sh("mktemp -d"):match("^(%S+)")
  assert(sh("mkdir -p " .. dir .. "/scripts && cp scripts/check-portable.sh " .. dir .. "/scripts/"):match("rc=0"))
  for name, text in pairs(files) do
    sh("mkdir -p " .. dir .. "/$(dirname " .. name .. ")")
    local f = assert(io.open(dir .. "/" .. name, "w"))
    f:write(text)
    f:close()
  end
  local out = sh("cd " .. dir .. " && git init -q . && git add -A && scripts/check-portable.sh")
  sh("rm -rf " .. dir)
  return out
end

describe("check-portable", function()
  it("passes a repository that stays inside itself", function()
    local out = check{ ["test/a.sh"] = '. "$(dirname "$0")/../lib/x.sh"\nurl=/lead/../me/\n',
                       ["lib/x.sh"] = "true\n" }
    assert.matches("rc=0", out)
    assert.matches("no tracked link leaves the repository", out, 1, true)
  end)

  -- the names are built from pieces so that this file names no such path itself
  local SHARED, SHARED_VAR = "../" .. "shared", "CLOSE_" .. "SHARED_DIR"

  it("fails on the shared directory beside the clone and names the file and line", function()
    local out = check{ ["scripts/conf.sh"] = "docs=$root/" .. SHARED .. "/openapi/a.yaml\n" }
    assert.matches("rc=1", out)
    assert.matches("scripts/conf.sh:1: " .. SHARED .. " is outside the repository", out, 1, true)
  end)

  it("fails on a relative path that climbs out of its file's directory", function()
    local out = check{ ["test/run.sh"] = 'cat ../../other/spec.yaml\n' }
    assert.matches("rc=1", out)
    assert.matches("test/run.sh:1: ../../other is outside the repository", out, 1, true)
  end)

  it("fails on the variable that pointed there", function()
    local out = check{ ["Makefile"] = "x := $(" .. SHARED_VAR .. ")\n" }
    assert.matches("rc=1", out)
    assert.matches("Makefile: names the directory beside the clone", out, 1, true)
  end)

  it("fails on a machine's absolute path", function()
    local path = "/" .. "root/data.csv"
    local out = check{ ["bench/x.lua"] = 'local f = "' .. path .. '"\n' }
    assert.matches("rc=1", out)
    assert.matches("bench/x.lua:1: " .. path .. " is a path on one machine", out, 1, true)
  end)
end)
