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
# build in a copy: luarocks make writes objects next to the sources
cp -r "$root/src" "$root/lua" "$root"/close-*.rockspec "$tree/"
(cd "$tree" && LUAROCKS_CONFIG="$tree/config.lua" luarocks --lua-version="$ver" --tree="$tree/rocks" \
  make close-*.rockspec >"$tree/build.log" 2>&1) || { cat "$tree/build.log"; exit 1; }
lua=lua$ver
[ "$ver" = luajit ] && lua=luajit
out=$(cd / && env -u LUA_PATH -u LUA_CPATH "$(command -v "$lua")" -e "
  package.path = '$tree/rocks/share/lua/$ver/?.lua;' .. package.path
  package.cpath = '$tree/rocks/lib/lua/$ver/?.so;' .. package.cpath
  local close = require 'close'
  assert(package.searchpath('close.core', package.cpath):find('$tree', 1, true), 'core not from the tree')
  local c = close.new{ api_key = 'k' }
  print(close.VERSION, tostring(c))")
echo "rock ($ver): installed and loaded: $out"
