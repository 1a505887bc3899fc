--- A client's cache of reads that rarely change (the organization's roles,
-- its id): each entry is used for `max_age` seconds of the client's clock,
-- then read again, so that a role renamed in Close is seen. `clear` drops
-- every entry (`client:refresh()`).
-- @module close.cache

local M = {}

local Cache = {}
Cache.__index = Cache

--- A cache whose entries last `max_age` seconds (0: nothing is kept) by `clock`.
function M.new(max_age, clock)
  return setmetatable({ max_age = max_age, clock = clock, entries = {} }, Cache)
end

--- The value under key, or nil when there is none or it is too old.
function Cache:get(key)
  local e = self.entries[key]
  if not e then return nil end
  if self.clock() - e.at >= self.max_age then
    self.entries[key] = nil
    return nil
  end
  return e.value
end

--- Keeps value under key from now.
function Cache:set(key, value)
  if self.max_age > 0 then self.entries[key] = { value = value, at = self.clock() } end
end

--- Drops every entry.
function Cache:clear()
  self.entries = {}
end

return M
