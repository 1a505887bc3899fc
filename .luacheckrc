std = "max"
max_line_length = 120
files["spec"] = { std = "+busted" }
-- code that runs inside nginx
files["test/server"] = { std = "max+ngx_lua" }
files["test/openresty"] = { std = "max+ngx_lua" }
files["lua/close/transport/ngx.lua"] = { std = "max+ngx_lua" }
exclude_files = { ".tools", "build" }
