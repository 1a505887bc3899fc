#!/usr/bin/env bash
# Runs a command with three nginx instances up on loopback, and stops them
# afterwards, each with a private state dir and free ports:
#   - the local Close-compatible server (test/server);
#   - the OpenResty-style application host (test/openresty), which calls it
#     through close's cosocket transport, with one worker;
#   - the same application with four workers (the OAuth spec's shared token).
# Exports the server's CLOSE_TEST_*, the app's CLOSE_TEST_APP_URL,
# CLOSE_TEST_RAW_URL (and CLOSE_TEST_RAW_URL6 when ::1 exists), and the
# four-worker app's CLOSE_TEST_MULTI_APP_URL and CLOSE_TEST_MULTI_APP_ERROR_LOG.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
server="$root/test/server/ctl.sh"
app="$root/test/openresty/ctl.sh"

dir=$(mktemp -d "${TMPDIR:-/tmp}/close-test-openresty.XXXXXX")
export CLOSE_TEST_DIR=$dir/server CLOSE_TEST_APP_DIR=$dir/app

stop_all() {
    CLOSE_TEST_APP_DIR=$dir/multi "$app" stop >/dev/null 2>&1 || true
    "$app" stop >/dev/null 2>&1 || true
    "$server" stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop_all EXIT

"$server" start >/dev/null
env_lines=$("$server" env)
set -a; eval "$env_lines"; set +a
# the four-worker app on free ports always (fixed CLOSE_TEST_*_PORT are the other app's)
env -u CLOSE_TEST_APP_PORT -u CLOSE_TEST_RAW_PORT -u CLOSE_TEST_CLOSED_PORT \
    CLOSE_TEST_APP_DIR="$dir/multi" CLOSE_TEST_APP_WORKERS=4 "$app" start >/dev/null
multi_env=$(CLOSE_TEST_APP_DIR=$dir/multi "$app" env)
CLOSE_TEST_MULTI_APP_URL=$(eval "$multi_env"; printf '%s' "$CLOSE_TEST_APP_URL")
CLOSE_TEST_MULTI_APP_ERROR_LOG=$dir/multi/error.log
export CLOSE_TEST_MULTI_APP_URL CLOSE_TEST_MULTI_APP_ERROR_LOG
"$app" start >/dev/null
env_lines=$("$app" env)
set -a; eval "$env_lines"; set +a
"$@"
