std = "max"
max_line_length = 120
files["spec"] = { std = "+busted" }
-- code that runs inside nginx
files["test/server"] = { globals = { "ngx" } }
files["test/openresty"] = { globals = { "ngx" } }
files["lua/close/transport/ngx.lua"] = { globals = { "ngx" } }
exclude_files = { "test/tools", "build" }
