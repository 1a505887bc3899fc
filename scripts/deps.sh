#!/usr/bin/env bash
# Installs what building, testing and the demo need, only when missing:
# Debian packages (apt-get, as root) and Prism from npm into .tools/.
# Idempotent; make calls it before anything that needs it.
set -eu
cd "$(dirname "$0")/.."

debs=(
  build-essential pkg-config libcurl4-openssl-dev openssl curl ca-certificates
  lua5.1 lua5.2 lua5.3 lua5.4 liblua5.1-0-dev liblua5.2-dev liblua5.3-dev liblua5.4-dev
  luajit2 libluajit2-5.1-dev
  lua-cjson lua-busted lua-check lua-ldoc luarocks
  nginx libnginx-mod-http-lua lua-resty-core
  valgrind nodejs npm
)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from elsewhere than Debian (the machine image has them)
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=(); for p in "${missing[@]}"; do [ "$p" = nodejs ] || [ "$p" = npm ] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's nginx package starts a server on port 80 where it can; ours run
# on their own ports, so that one is neither needed nor touched.

if [ ! -x .tools/node_modules/.bin/prism ]; then
  echo "deps: installing @stoplight/prism-cli into .tools/"
  mkdir -p .tools
  (cd .tools && [ -f package.json ] || echo '{"private":true}' > package.json)
  (cd .tools && npm install --no-audit --no-fund --silent @stoplight/prism-cli@5.16.0 >/dev/null)
fi
