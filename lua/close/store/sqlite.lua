--- The SCIM bridge's embedded state store: one SQLite file (WAL,
-- synchronous=FULL) that every nginx worker of a node shares. A call either
-- happened, durably, or returns `nil, err` with `err.kind == "store"`.
--
--     local store = require("close.store.sqlite"){ path = dir .. "/scim.db" }
--     store:set("user:memb_1", json)      --> true | nil, err
--     store:get("user:memb_1")            --> value | nil (absent) | nil, err
--     store:delete("user:memb_1")         --> true | nil, err
--     store:scan("user:")                 --> {key = value, ...} | nil, err
--     store:close()
--
-- The file is opened at the first call, in the process that makes it (an
-- nginx worker, never the master that forks it), and again after a fork.
-- @module close.store.sqlite

local core = require "close.core"
local Error = require "close.error"

local Store = {}
Store.__index = Store

local function pid()
  local ngx = rawget(_G, "ngx")
  return ngx and ngx.worker and ngx.worker.pid() or 0
end

local function fail(what, why)
  return nil, Error.store(what, why)
end

-- The connection of this process, opened on first use.
function Store:db()
  local p = pid()
  if self.handle and self.pid == p then return self.handle end
  local db, err = core.sqlite_open(self.path, self.busy_ms)
  if not db then return nil, err end
  self.handle, self.pid = db, p
  return db
end

local function call(self, what, method, ...)
  if self.closed then return fail(what, "the store is closed") end
  local db, err = self:db()
  if not db then return fail(what, err) end
  local v, why = db[method](db, ...)
  if v == nil and why then return fail(what, why) end
  return v
end

local function check_string(v, name)
  if type(v) ~= "string" then
    error(("close.store.sqlite: %s must be a string, got %s"):format(name, type(v)), 3)
  end
end

--- The value at key, or nil when there is none.
function Store:get(key)
  check_string(key, "key")
  return call(self, "get", "get", key)
end

--- Stores value at key; durable when it returns true.
function Store:set(key, value)
  check_string(key, "key")
  check_string(value, "value")
  return call(self, "set", "set", key, value)
end

--- Removes key (true also when it was absent).
function Store:delete(key)
  check_string(key, "key")
  return call(self, "delete", "delete", key)
end

--- Every key that starts with prefix, with its value.
function Store:scan(prefix)
  check_string(prefix, "prefix")
  return call(self, "scan", "scan", prefix)
end

--- Closes this process's connection; later calls fail.
function Store:close()
  if self.handle then self.handle:close() end
  self.handle, self.closed = nil, true
end

function Store:__tostring()
  return "close.store.sqlite(" .. self.path .. ")"
end

--- A store in the SQLite file `o.path` (created, mode 0600); writers wait
-- for each other up to `o.busy_timeout` seconds (default 5).
-- @tparam table o `{path = string, busy_timeout = seconds}`
return function(o)
  if type(o) ~= "table" or type(o.path) ~= "string" or o.path == "" then
    error("close.store.sqlite: expected {path = FILE}", 2)
  end
  local busy = o.busy_timeout or 5
  if type(busy) ~= "number" or busy < 0 or busy > 600 then
    error("close.store.sqlite: busy_timeout must be a number of seconds in [0, 600]", 2)
  end
  return setmetatable({ path = o.path, busy_ms = math.floor(busy * 1000) }, Store)
end
