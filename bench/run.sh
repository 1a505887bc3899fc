#!/usr/bin/env bash
# make bench: starts the benchmark's upstream (bench/nginx.conf.in) and the
# nginx of the cosocket benchmark (bench/cosocket.conf.in), each on a free
# loopback port with a private directory, next to the local Close-compatible
# server and the app nginx (scripts/with-openresty.sh), and runs the command
# (bench/run.lua) with CLOSE_BENCH_URL and CLOSE_BENCH_COSOCKET_URL set.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/test/lib/ports.sh"
dir=$(mktemp -d "${TMPDIR:-/tmp}/close-bench.XXXXXX")
stop() {
  local d
  for d in "$dir/upstream" "$dir/cosocket"; do
    [ -f "$d/nginx.pid" ] && kill "$(cat "$d/nginx.pid")" 2>/dev/null
  done
  rm -rf "$dir"
}
trap stop EXIT
modules=${CLOSE_TEST_NGINX_MODULES:-/usr/lib/nginx/modules}
load="load_module $modules/ndk_http_module.so; load_module $modules/ngx_http_lua_module.so;"
[ "$modules" = none ] && load=""

# start NAME TEMPLATE: an nginx from the template in $dir/NAME; sets $port
start() {
  local d=$dir/$1
  mkdir -p "$d"
  for _ in 1 2 3 4 5; do
    port=$(free_ports 1)
    sed -e "s|@PREFIX@|$d|g" -e "s|@PORT@|$port|g" -e "s|@USER@|$(id -un)|g" -e "s|@ROOT@|$root|g" \
      -e "s|@LOAD_MODULES@|$load|" "$root/bench/$2" >"$d/nginx.conf"
    if nginx -q -p "$d" -c "$d/nginx.conf" -e "$d/error.log" 2>"$d/start.log"; then return 0; fi
    grep -q "Address already in use" "$d/start.log" "$d/error.log" 2>/dev/null || { cat "$d/start.log"; exit 1; }
  done
  exit 1
}
start upstream nginx.conf.in
export CLOSE_BENCH_URL="http://127.0.0.1:$port/api/v1"
start cosocket cosocket.conf.in
export CLOSE_BENCH_COSOCKET_URL="http://127.0.0.1:$port/run"
# not exec: the trap above must stop these nginx
"$root/scripts/with-openresty.sh" "$@"
