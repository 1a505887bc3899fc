#!/usr/bin/env bash
# make bench: starts the benchmark's upstream (bench/nginx.conf.in, a free
# loopback port, a private directory) next to the local Close-compatible
# server and the app nginx (scripts/with-openresty.sh), and runs the command
# (bench/run.lua) with CLOSE_BENCH_URL set.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/test/lib/ports.sh"
dir=$(mktemp -d "${TMPDIR:-/tmp}/close-bench.XXXXXX")
trap '[ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null; rm -rf "$dir"' EXIT
for try in 1 2 3 4 5; do
  port=$(free_ports 1)
  sed -e "s|@PREFIX@|$dir|g" -e "s|@PORT@|$port|g" -e "s|@USER@|$(id -un)|g" \
    "$root/bench/nginx.conf.in" >"$dir/nginx.conf"
  if nginx -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" 2>"$dir/start.log"; then break; fi
  grep -q "Address already in use" "$dir/start.log" "$dir/error.log" 2>/dev/null || { cat "$dir/start.log"; exit 1; }
done
export CLOSE_BENCH_URL="http://127.0.0.1:$port/api/v1"
# not exec: the trap above must run to stop this nginx
"$root/scripts/with-openresty.sh" "$@"
