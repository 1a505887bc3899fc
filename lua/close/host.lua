--- What hosts the module: plain Lua, or nginx with ngx_lua (OpenResty),
-- where libcurl and nanosleep would block the worker.
-- @module close.host

local M = {}

--- The `ngx` table when running inside nginx with cosockets, else nil.
function M.nginx()
  local ngx = rawget(_G, "ngx")
  if type(ngx) == "table" and type(ngx.socket) == "table" and type(ngx.socket.tcp) == "function"
    and type(ngx.get_phase) == "function" then
    return ngx
  end
end

--- "LuaJIT 2.1..." or "Lua 5.4", for a User-Agent.
function M.runtime_name()
  if type(jit) == "table" and jit.version then return jit.version end
  return _VERSION
end

return M
