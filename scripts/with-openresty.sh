#!/usr/bin/env bash
# Runs a command with two nginx instances up on loopback, and stops both
# afterwards:
#   - the local Close-compatible server (test/server), with its own state
#     dir and ports so that this can run next to scripts/with-server.sh;
#   - the OpenResty-style application host (test/openresty), which calls it
#     through close's cosocket transport.
# Exports the server's CLOSE_TEST_* and the app's CLOSE_TEST_APP_URL,
# CLOSE_TEST_RAW_URL (and CLOSE_TEST_RAW_URL6 when ::1 exists).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
server="$root/test/server/ctl.sh"
app="$root/test/openresty/ctl.sh"

export CLOSE_TEST_DIR=${CLOSE_TEST_OPENRESTY_SERVER_DIR:-/tmp/close-test-openresty/server}
export CLOSE_TEST_HTTP_PORT=${CLOSE_TEST_OPENRESTY_HTTP_PORT:-18482}
export CLOSE_TEST_HTTPS_PORT=${CLOSE_TEST_OPENRESTY_HTTPS_PORT:-18445}

stop_all() {
    "$app" stop >/dev/null 2>&1 || true
    "$server" stop >/dev/null 2>&1 || true
}
trap stop_all EXIT

"$server" start >/dev/null
env_lines=$("$server" env)
set -a; eval "$env_lines"; set +a
"$app" start >/dev/null
env_lines=$("$app" env)
set -a; eval "$env_lines"; set +a
"$@"
