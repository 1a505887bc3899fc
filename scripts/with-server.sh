#!/usr/bin/env bash
# Runs a command with the local Close-compatible server (test/server) up and
# its addresses, CA files and test credentials exported; stops it afterwards.
# The server gets a private state dir and free ports: runs side by side (and
# a server someone else started) are never touched.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
ctl="$root/test/server/ctl.sh"
CLOSE_TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/close-test-server.XXXXXX")
export CLOSE_TEST_DIR
trap '"$ctl" stop >/dev/null 2>&1 || true; rm -rf "$CLOSE_TEST_DIR"' EXIT
"$ctl" start >/dev/null
env_lines=$("$ctl" env)
set -a; eval "$env_lines"; set +a
"$@"
