#!/usr/bin/env bash
# Runs a command with the local Close-compatible server (test/server) up and
# its addresses, CA files and test credentials exported; stops it afterwards.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
ctl="$root/test/server/ctl.sh"
"$ctl" start >/dev/null
trap '"$ctl" stop >/dev/null 2>&1 || true' EXIT
env_lines=$("$ctl" env)
set -a; eval "$env_lines"; set +a
"$@"
