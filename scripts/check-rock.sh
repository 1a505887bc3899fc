#!/usr/bin/env bash
# The rockspec builds and installs into a fresh tree, and the installed module
# loads from that tree alone. No LuaRocks server is reachable here, so the
# Debian-packaged dependencies are declared as provided to luarocks.
set -eu
ver=${1:-5.4}
root=$(cd "$(dirname "$0")/.." && pwd)
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
cat > "$tree/config.lua" <<CFG
rocks_provided = { ["lua-cjson"] = "2.1.0-1" }
external_deps_dirs = { "/usr", "/usr/local" }
external_deps_subdirs = { bin = "bin", lib = { "lib/x86_64-linux-gnu", "lib" }, include = { "include/x86_64-linux-gnu", "include" } }
CFG
# every Lua module of the tree is in the rockspec
for f in $(cd "$root" && find lua -name '*.lua' | sort); do
  grep -q "\"$f\"" "$root"/close-*.rockspec || { echo "rockspec does not list $f"; exit 1; }
done
# build in a copy: luarocks make writes objects next to the sources
cp -r "$root/src" "$root/lua" "$root/bin" "$root"/close-*.rockspec "$tree/"
(cd "$tree" && LUAROCKS_CONFIG="$tree/config.lua" luarocks --lua-version="$ver" --tree="$tree/rocks" \
  make close-*.rockspec >"$tree/build.log" 2>&1) || { cat "$tree/build.log"; exit 1; }
# the command-line tool is installed and runs from the tree
(cd / && env -u LUA_PATH -u LUA_CPATH "$tree/rocks/bin/close-provision" --help | grep -q "^usage: close-provision") \
  || { echo "close-provision is not installed or does not run"; exit 1; }
# the rock built for 5.1 must also load in LuaJIT (OpenResty's Lua)
runtimes=("lua$ver"); [ "$ver" = 5.1 ] && runtimes+=(luajit)
for lua in "${runtimes[@]}"; do
  out=$(cd / && env -u LUA_PATH -u LUA_CPATH "$(command -v "$lua")" -e "
    package.path = '$tree/rocks/share/lua/$ver/?.lua;' .. package.path
    package.cpath = '$tree/rocks/lib/lua/$ver/?.so;' .. package.cpath
    assert(io.open('$tree/rocks/lib/lua/$ver/close/core.so'), 'close/core.so is not in the tree')
    local close = require 'close'
    local c = close.new{ api_key = 'k' }
    print(close.VERSION, tostring(c), (require 'close.core').curl_version())")
  echo "rock ($ver): installed, loaded in $lua: $out"
done
