#!/usr/bin/env bash
# check-rock.sh VERSION: runs README's rock command, exactly as written (its
# Lua version swapped for VERSION), in a copy of the checkout with a private
# HOME, so the rock lands in a user tree of its own (~/.luarocks); then the
# installed close-provision and module must run from that tree with no
# LUA_PATH set, and the 5.1 rock must load in LuaJIT as well.
set -eu
ver=${1:-5.4}
root=$(cd "$(dirname "$0")/.." && pwd)
cmd=$(grep -m 1 -E '^luarocks --lua-version=5\.4 make' "$root/README.md") \
  || { echo "check-rock: README.md has no line starting 'luarocks --lua-version=5.4 make'"; exit 1; }
cmd=${cmd%%#*}
cmd=${cmd//--lua-version=5.4/--lua-version=$ver}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
checks=0
# every Lua module of the tree is in the rockspec
for f in $(cd "$root" && find lua -name '*.lua' | sort); do
  grep -q "\"$f\"" "$root"/close-*.rockspec || { echo "check-rock: the rockspec does not list $f"; exit 1; }
done
checks=$((checks + 1))
mkdir -p "$work/home" "$work/src"
(cd "$root" && git ls-files -z | xargs -0 tar -cf - ) | tar -xf - -C "$work/src"
echo "check-rock ($ver): $cmd"
(cd "$work/src" && env -u LUA_PATH -u LUA_CPATH HOME="$work/home" bash -c "$cmd" >"$work/build.log" 2>&1) \
  || { cat "$work/build.log"; echo "check-rock ($ver): README's command failed"; exit 1; }
tree=$work/home/.luarocks
[ -f "$tree/lib/lua/$ver/close/core.so" ] || { echo "check-rock ($ver): no close/core.so in $tree"; exit 1; }
checks=$((checks + 1))
# the command-line tool runs from the tree, with nothing set by hand
out=$(cd / && env -u LUA_PATH -u LUA_CPATH HOME="$work/home" "$tree/bin/close-provision" --help) \
  || { echo "check-rock ($ver): the installed close-provision does not run"; exit 1; }
echo "$out" | grep -q "^usage: close-provision" || { echo "check-rock ($ver): close-provision --help: $out"; exit 1; }
checks=$((checks + 1))
runtimes=("lua$ver"); [ "$ver" = 5.1 ] && runtimes+=(luajit)
for lua in "${runtimes[@]}"; do
  out=$(cd / && env -u LUA_PATH -u LUA_CPATH "$(command -v "$lua")" -e "
    package.path = '$tree/share/lua/$ver/?.lua;' .. package.path
    package.cpath = '$tree/lib/lua/$ver/?.so;' .. package.cpath
    local close = require 'close'
    assert(package.searchpath == nil or package.searchpath('close.core', package.cpath):find('$tree', 1, true))
    local c = close.new{ api_key = 'k' }
    print(close.VERSION, tostring(c), (require 'close.core').curl_version())") \
    || { echo "check-rock ($ver): the module does not load in $lua"; exit 1; }
  echo "check-rock ($ver): installed, loaded in $lua: $out"
  checks=$((checks + 1))
done
echo "check-rock ($ver): $checks passed, 0 failed"
