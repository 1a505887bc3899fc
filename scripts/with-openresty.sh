#!/usr/bin/env bash
# Runs a command with two nginx instances up on loopback, and stops both
# afterwards, each with a private state dir and free ports:
#   - the local Close-compatible server (test/server);
#   - the OpenResty-style application host (test/openresty), which calls it
#     through close's cosocket transport.
# Exports the server's CLOSE_TEST_* and the app's CLOSE_TEST_APP_URL,
# CLOSE_TEST_RAW_URL (and CLOSE_TEST_RAW_URL6 when ::1 exists).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
server="$root/test/server/ctl.sh"
app="$root/test/openresty/ctl.sh"

dir=$(mktemp -d "${TMPDIR:-/tmp}/close-test-openresty.XXXXXX")
export CLOSE_TEST_DIR=$dir/server CLOSE_TEST_APP_DIR=$dir/app

stop_all() {
    "$app" stop >/dev/null 2>&1 || true
    "$server" stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop_all EXIT

"$server" start >/dev/null
env_lines=$("$server" env)
set -a; eval "$env_lines"; set +a
"$app" start >/dev/null
env_lines=$("$app" env)
set -a; eval "$env_lines"; set +a
"$@"
