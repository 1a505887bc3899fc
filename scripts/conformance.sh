#!/usr/bin/env bash
# Spec conformance: Prism serves each OpenAPI document on loopback (free
# ports) and test/conformance.lua sends it every request variant the client
# can send, the OAuth token requests (close-oauth.yaml) included. Prism
# answers a request that breaks the spec with an sl-violations header, which
# the script turns into a failure.
set -eu
lua=$1 build=$2
root=$(cd "$(dirname "$0")/.." && pwd)
contract=$root/test/contract   # the OpenAPI documents we test against (test/contract/README.md)
prism=$root/test/tools/node_modules/.bin/prism
[ -x "$prism" ] || { echo "conformance: $prism is missing: run scripts/deps.sh (make deps)"; exit 1; }
# shellcheck source=../test/lib/ports.sh
. "$root/test/lib/ports.sh"
logdir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$logdir"; }
trap cleanup EXIT

start() { # spec port
  "$prism" mock --host 127.0.0.1 --port "$2" --errors "$1" >"$logdir/$2.log" 2>&1 &
  pids+=($!)
}
# wait_up PORT: 0 when it answers, 2 when its port was taken, 1 otherwise (bounded: ~30 s)
wait_up() {
  for _ in $(seq 1 150); do
    curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
    grep -qs EADDRINUSE "$logdir/$1.log" && return 2
    sleep 0.2
  done
  echo "prism on port $1 did not start:"; cat "$logdir/$1.log"; return 1
}

docs=("$contract/close-memberships.yaml" "$contract/create-membership.seed.yaml"
      "$contract/close-oauth.yaml") # the OAuth token endpoint, for the token requests
for tries in 1 2 3 4 5; do
  mapfile -t ports < <(free_ports "${#docs[@]}")
  for i in "${!docs[@]}"; do start "${docs[$i]}" "${ports[$i]}"; done
  up=0
  for p in "${ports[@]}"; do rc=0; wait_up "$p" || rc=$?; [ "$rc" -eq 1 ] && exit 1; [ "$rc" -eq 2 ] && up=2; done
  [ "$up" -eq 0 ] && break
  cleanup; pids=(); mkdir -p "$logdir"
  [ "$tries" -eq 5 ] && { echo "conformance: no free ports after 5 tries"; exit 1; }
done

cd "$root"
LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="$build/?.so;;" \
  "$lua" test/conformance.lua "http://127.0.0.1:${ports[0]}" "http://127.0.0.1:${ports[1]}" \
  "http://127.0.0.1:${ports[2]}"
