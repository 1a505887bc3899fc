rockspec_format = "3.0"
package = "close"
version = "0.1.0-1"
source = {
  url = "git+https://example.invalid/close-lua.git",
  tag = "v0.1.0",
}
description = {
  summary = "Close CRM API client for Lua and OpenResty, centred on membership provisioning",
  detailed = [[
    close.create_membership{email=..., role_id=...} and friends: validation
    before any I/O, one error shape, retries that honour Close's rate limits,
    and a libcurl transport (or any transport you pass).
  ]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.1",
  "lua-cjson >= 2.1",
}
-- libcurl by its library alone: its header is where the compiler looks by
-- itself (Debian keeps curl.h in the multiarch include directory, which
-- LuaRocks does not search); CURL_DIR=... points elsewhere.
external_dependencies = {
  CURL = { library = "curl" },
}
build = {
  type = "builtin",
  install = {
    bin = { ["close-provision"] = "bin/close-provision" },
  },
  modules = {
    ["close"] = "lua/close.lua",
    ["close.error"] = "lua/close/error.lua",
    ["close.cli"] = "lua/close/cli.lua",
    ["close.validate"] = "lua/close/validate.lua",
    ["close.driver"] = "lua/close/driver.lua",
    ["close.oauth"] = "lua/close/oauth.lua",
    ["close.pacer"] = "lua/close/pacer.lua",
    ["close.batch"] = "lua/close/batch.lua",
    ["close.sync"] = "lua/close/sync.lua",
    ["close.rows"] = "lua/close/rows.lua",
    ["close.transport.curl"] = "lua/close/transport/curl.lua",
    ["close.transport.ngx"] = "lua/close/transport/ngx.lua",
    ["close.core"] = {
      sources = {
        "src/core.c", "src/validate.c", "src/request.c", "src/response.c",
        "src/retry.c", "src/wire.c", "src/rand.c", "src/http_curl.c", "src/http_multi.c", "src/localio.c",
        "src/interpret.c", "src/buf.c", "src/lutil.c", "src/lpure.c", "src/lhttp.c", "src/lmulti.c", "src/llocalio.c",
      },
      defines = { "_POSIX_C_SOURCE=200809L" },
      libraries = { "curl" },
      incdirs = { "$(CURL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)" },
    },
  },
}
