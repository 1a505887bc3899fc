std = "max"
max_line_length = 120
files["spec"] = { std = "+busted" }
files["test/server"] = { globals = { "ngx" } }
exclude_files = { ".tools", "build" }
