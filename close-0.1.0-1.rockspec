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
  SQLITE = { library = "sqlite3" },
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
    ["close.cli.args"] = "lua/close/cli/args.lua",
    ["close.cli.provision"] = "lua/close/cli/provision.lua",
    ["close.cli.apply"] = "lua/close/cli/apply.lua",
    ["close.cli.output"] = "lua/close/cli/output.lua",
    ["close.cli.journal"] = "lua/close/cli/journal.lua",
    ["close.cli.export"] = "lua/close/cli/export.lua",
    ["close.cli.login"] = "lua/close/cli/login.lua",
    ["close.cli.whoami"] = "lua/close/cli/whoami.lua",
    ["close.cli.credentials"] = "lua/close/cli/credentials.lua",
    ["close.validate"] = "lua/close/validate.lua",
    ["close.driver"] = "lua/close/driver.lua",
    ["close.oauth"] = "lua/close/oauth.lua",
    ["close.pacer"] = "lua/close/pacer.lua",
    ["close.batch"] = "lua/close/batch.lua",
    ["close.scheduler.plain"] = "lua/close/scheduler/plain.lua",
    ["close.scheduler.ngx"] = "lua/close/scheduler/ngx.lua",
    ["close.sync"] = "lua/close/sync.lua",
    ["close.guard"] = "lua/close/guard.lua",
    ["close.rows"] = "lua/close/rows.lua",
    ["close.scim.filter"] = "lua/close/scim/filter.lua",
    ["close.redis"] = "lua/close/redis.lua",
    ["close.oauth.redis_store"] = "lua/close/oauth/redis_store.lua",
    ["close.store.redis"] = "lua/close/store/redis.lua",
    ["close.client"] = "lua/close/client.lua",
    ["close.config"] = "lua/close/config.lua",
    ["close.auth"] = "lua/close/auth.lua",
    ["close.cache"] = "lua/close/cache.lua",
    ["close.connection"] = "lua/close/connection.lua",
    ["close.memberships"] = "lua/close/memberships.lua",
    ["close.roles"] = "lua/close/roles.lua",
    ["close.host"] = "lua/close/host.lua",
    ["close.url"] = "lua/close/url.lua",
    ["close.scim"] = "lua/close/scim/init.lua",
    ["close.scim.handler"] = "lua/close/scim/handler.lua",
    ["close.scim.index"] = "lua/close/scim/index.lua",
    ["close.scim.users"] = "lua/close/scim/users.lua",
    ["close.scim.groups"] = "lua/close/scim/groups.lua",
    ["close.scim.roles"] = "lua/close/scim/roles.lua",
    ["close.scim.schemas"] = "lua/close/scim/schemas.lua",
    ["close.scim.patch"] = "lua/close/scim/patch.lua",
    ["close.scim.query"] = "lua/close/scim/query.lua",
    ["close.scim.errors"] = "lua/close/scim/errors.lua",
    ["close.scim.json"] = "lua/close/scim/json.lua",
    ["close.transport.curl"] = "lua/close/transport/curl.lua",
    ["close.transport.ngx"] = "lua/close/transport/ngx.lua",
    ["close.store.sqlite"] = "lua/close/store/sqlite.lua",
    ["close.store.redis_index"] = "lua/close/store/redis_index.lua",
    ["close.scim.serve"] = "lua/close/scim/serve.lua",
    ["close.core"] = {
      sources = {
        "src/core.c", "src/validate.c", "src/request.c", "src/response.c",
        "src/retry.c", "src/wire.c", "src/rand.c", "src/http_curl.c", "src/http_multi.c", "src/localio.c",
        "src/interpret.c", "src/buf.c", "src/lutil.c", "src/lpure.c", "src/lhttp.c", "src/lmulti.c", "src/llocalio.c",
        "src/scim_filter.c", "src/lscim.c", "src/resp.c", "src/lresp.c",
        "src/sqlite_store.c",
        "src/sha256.c",
      },
      defines = { "_POSIX_C_SOURCE=200809L" },
      libraries = { "curl", "sqlite3" },
      incdirs = { "$(CURL_INCDIR)", "$(SQLITE_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)", "$(SQLITE_LIBDIR)" },
    },
  },
}
