#!/usr/bin/env bash
# Spec conformance: Prism serves each OpenAPI document on loopback and
# test/conformance.lua sends it every request variant the client can send.
# Prism answers a request that breaks the spec with an sl-violations header,
# which the script turns into a failure.
set -eu
lua=$1 build=$2
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${CLOSE_SHARED_DIR:-$root/../shared}
prism=$root/.tools/node_modules/.bin/prism
logdir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$logdir"; }
trap cleanup EXIT

start() { # spec port
  "$prism" mock --host 127.0.0.1 --port "$2" --errors "$1" >"$logdir/$2.log" 2>&1 &
  pids+=($!)
}
wait_up() { # port
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
    sleep 0.2
  done
  echo "prism on port $1 did not start:"; cat "$logdir/$1.log"; return 1
}

port_full=${CLOSE_PRISM_PORT:-18610}
port_seed=$((port_full + 1))
start "$shared/openapi/close-memberships.yaml" "$port_full"
start "$shared/openapi/create-membership.seed.yaml" "$port_seed"
wait_up "$port_full"
wait_up "$port_seed"

cd "$root"
LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="$build/?.so;;" \
  "$lua" test/conformance.lua "http://127.0.0.1:$port_full" "http://127.0.0.1:$port_seed"
