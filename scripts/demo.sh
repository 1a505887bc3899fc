#!/usr/bin/env bash
# make demo: the main job. Without Close credentials in the environment it
# provisions examples/members.csv into the local Close-compatible server
# (examples/demo.lua; never talks to Close). With CLOSE_API_KEY or
# CLOSE_ACCESS_TOKEN set it provisions MEMBERS=file.csv into your Close
# organization with bin/close-provision (a real organization gets no
# invented users, so the file is yours to name).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
lua=${LUA:-lua5.4}
if [ -n "${CLOSE_API_KEY:-}${CLOSE_ACCESS_TOKEN:-}" ]; then
  if [ -z "${MEMBERS:-}" ]; then
    echo "demo: Close credentials are set, so this would provision into your organization:"
    echo "demo: name the file, e.g. make demo MEMBERS=team.csv (one email,role a line;"
    echo "demo: bin/close-provision --dry-run team.csv checks it first), or unset them for the local server"
    exit 2
  fi
  exec "$root/bin/close-provision" "$MEMBERS"
fi
cd "$root"
exec scripts/with-server.sh env LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/${lua#lua}/?.so;;" \
  "$lua" examples/demo.lua
