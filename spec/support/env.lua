-- A required environment variable of the test harness, or a clear failure
-- naming the script that sets it.
return function(name, script)
  local v = os.getenv(name)
  assert(v and v ~= "", name .. " is not set: run through " .. script)
  return v
end
