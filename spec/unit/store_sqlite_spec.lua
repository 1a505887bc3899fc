-- close.store.sqlite: the SCIM bridge's embedded store (SQLite, WAL), and
-- core.open_append, the audit file. A writer killed with -9 loses nothing
-- that it was told was stored.

local sqlite = require "close.store.sqlite"
local core = require "close.core"

local function tmpdir()
  local p = assert(io.popen("mktemp -d"))
  local d = p:read("*l")
  p:close()
  return d
end

local sh = require("spec.support.files").sh

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function mode_of(path)
  local p = assert(io.popen("stat -c %a " .. path))
  local m = p:read("*l")
  p:close()
  return m
end

-- The interpreter running these specs, for a child process of the same Lua.
local function this_lua()
  if rawget(_G, "jit") then return "luajit" end
  return "lua" .. _VERSION:match("%d+%.%d+")
end

describe("close.store.sqlite", function()
  local dir, store
  before_each(function()
    dir = tmpdir()
    store = sqlite{ path = dir .. "/scim.db" }
  end)
  after_each(function()
    store:close()
    sh("rm -rf " .. dir)
  end)

  it("answers nil for an absent key, and what was set for a present one", function()
    assert.is_nil(store:get("user:memb_1"))
    assert.is_true(store:set("user:memb_1", '{"name":"Jane"}'))
    assert.equal('{"name":"Jane"}', store:get("user:memb_1"))
    assert.is_true(store:set("user:memb_1", '{"name":"June"}'))
    assert.equal('{"name":"June"}', store:get("user:memb_1"))
  end)

  it("keeps keys and values byte for byte (NUL, UTF-8, empty, 0xff)", function()
    local k, v = "ext:\0\255é", "\0a\255\0"
    assert.is_true(store:set(k, v))
    assert.is_true(store:set("empty", ""))
    assert.equal(v, store:get(k))
    assert.equal("", store:get("empty"))
    assert.is_nil(store:get("ext:"))
  end)

  it("deletes, and deleting an absent key is fine", function()
    store:set("deleted:memb_1", "1")
    assert.is_true(store:delete("deleted:memb_1"))
    assert.is_nil(store:get("deleted:memb_1"))
    assert.is_true(store:delete("deleted:memb_1"))
  end)

  it("scans exactly the keys that start with a prefix", function()
    for _, k in ipairs({ "group:a", "group:b", "group;", "groupx", "user:a", "group\255", "group:\255\255" }) do
      store:set(k, "v" .. k)
    end
    assert.same({ ["group:a"] = "vgroup:a", ["group:b"] = "vgroup:b", ["group:\255\255"] = "vgroup:\255\255" },
      store:scan("group:"))
    assert.same({}, store:scan("nothing:"))
    -- a prefix that ends in 0xff bytes has its upper bound further left
    store:set("\255\255x", "1")
    assert.same({ ["\255\255x"] = "1" }, store:scan("\255\255"))
    local n = 0
    for _ in pairs(store:scan("")) do n = n + 1 end
    assert.equal(8, n)
  end)

  it("is one store for every connection to the file (as nginx workers share it)", function()
    local other = sqlite{ path = dir .. "/scim.db" }
    store:set("user:a", "1")
    assert.equal("1", other:get("user:a"))
    other:set("user:a", "2")
    assert.equal("2", store:get("user:a"))
    other:close()
  end)

  it("keeps what was set after the store is closed and opened again", function()
    store:set("user:a", "kept")
    store:close()
    store = sqlite{ path = dir .. "/scim.db" }
    assert.equal("kept", store:get("user:a"))
  end)

  it("is a WAL database that only its owner may read", function()
    store:set("k", "v")
    local header = read(dir .. "/scim.db"):sub(1, 20)
    assert.equal("SQLite format 3\0", header:sub(1, 16))
    assert.equal("\2\2", header:sub(19, 20))   -- file format versions 2: WAL
    assert.equal("600", mode_of(dir .. "/scim.db"))
    assert.equal("600", mode_of(dir .. "/scim.db-wal"))
  end)

  it("answers a store error naming the file when it cannot be opened, and raises nothing", function()
    local s = sqlite{ path = dir .. "/missing/scim.db" }
    local v, err = s:get("k")
    assert.is_nil(v)
    assert.equal("store", err.kind)
    assert.equal("store get: cannot open " .. dir .. "/missing/scim.db: No such file or directory", err.message)
    local ok, err2 = s:set("k", "v")
    assert.is_nil(ok)
    assert.equal("store", err2.kind)
  end)

  it("answers a store error when the file is not a database", function()
    local f = assert(io.open(dir .. "/junk.db", "wb"))
    f:write(("not a database "):rep(100))
    f:close()
    local s = sqlite{ path = dir .. "/junk.db" }
    local ok, err = s:set("k", "v")
    assert.is_nil(ok)
    assert.equal("store", err.kind)
    assert.matches("^store set: cannot open .*junk%.db: file is not a database$", err.message)
  end)

  it("answers a store error after close", function()
    store:close()
    local v, err = store:get("k")
    assert.is_nil(v)
    assert.equal("store get: the store is closed", err.message)
  end)

  it("refuses what is not a string, and bad options, naming them", function()
    assert.has_error(function() store:get(1) end, "close.store.sqlite: key must be a string, got number")
    assert.has_error(function() store:set("k", nil) end, "close.store.sqlite: value must be a string, got nil")
    assert.has_error(function() store:scan() end, "close.store.sqlite: prefix must be a string, got nil")
    assert.has_error(function() sqlite{} end, "close.store.sqlite: expected {path = FILE}")
    assert.has_error(function() sqlite{ path = "x", busy_timeout = -1 } end,
      "close.store.sqlite: busy_timeout must be a number of seconds in [0, 600]")
  end)

  it("loses nothing that a writer killed with -9 was told was stored", function()
    local path = dir .. "/crash.db"
    -- the child prints each key after set() returned true, then writes on
    local script = ([[
      local s = require("close.store.sqlite"){ path = %q }
      for i = 1, 100000 do
        assert(s:set("k" .. i, ("v"):rep(100) .. i))
        io.stdout:write(i, "\n"); io.stdout:flush()
      end]]):format(path)
    local f = assert(io.open(dir .. "/writer.lua", "w"))
    f:write(script)
    f:close()
    local p = assert(io.popen(("sh -c 'echo $$; exec %s %s/writer.lua' 2>&1"):format(this_lua(), dir)))
    local pid = assert(tonumber(p:read("*l")))
    local last = 0
    for _ = 1, 300 do
      local line = p:read("*l")
      if not tonumber(line) then error("writer: " .. tostring(line)) end
      last = tonumber(line)
    end
    assert(sh("kill -9 " .. pid))
    p:close()
    assert.equal(300, last)
    local s = sqlite{ path = path }
    local missing = {}
    for i = 1, last do
      if s:get("k" .. i) ~= ("v"):rep(100) .. i then missing[#missing + 1] = i end
    end
    s:close()
    assert.same({}, missing)
  end)
end)

describe("core.open_append", function()
  local dir
  before_each(function() dir = tmpdir() end)
  after_each(function() sh("rm -rf " .. dir) end)

  it("appends each record whole, to a file only its owner may read", function()
    local a = assert(core.open_append(dir .. "/audit.log"))
    local b = assert(core.open_append(dir .. "/audit.log"))
    assert.is_true(a:write("one\n"))
    assert.is_true(b:write("two\n"))
    assert.is_true(a:write("three\n"))
    a:close()
    b:close()
    assert.equal("one\ntwo\nthree\n", read(dir .. "/audit.log"))
    assert.equal("600", mode_of(dir .. "/audit.log"))
  end)

  it("answers nil and the reason when the file cannot be opened or is closed", function()
    local a, err = core.open_append(dir .. "/missing/audit.log")
    assert.is_nil(a)
    assert.equal("cannot open " .. dir .. "/missing/audit.log: No such file or directory", err)
    local c = assert(core.open_append(dir .. "/audit.log"))
    c:close()
    local ok, why = c:write("x\n")
    assert.is_nil(ok)
    assert.equal("write: the file is closed", why)
  end)
end)
