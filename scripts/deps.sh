#!/usr/bin/env bash
# Installs what building, testing and the demo need, only when missing:
# Debian packages (apt-get, as root or through sudo) and the pinned test
# tools of test/tools/ (Prism, from npm with its lockfile). Idempotent; make
# calls it before anything that needs it. A fresh Debian needs nothing else.
set -eu
cd "$(dirname "$0")/.."

debs=(
  build-essential pkg-config libcurl4-openssl-dev libsqlite3-dev openssl curl ca-certificates git
  lua5.1 lua5.2 lua5.3 lua5.4 liblua5.1-0-dev liblua5.2-dev liblua5.3-dev liblua5.4-dev
  luajit2 libluajit2-5.1-dev
  lua-cjson lua-busted lua-check lua-ldoc lua-markdown luarocks
  nginx libnginx-mod-http-lua lua-resty-core
  redis-server lua-socket wrk procps
  valgrind clang libclang-rt-dev nodejs npm
)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from elsewhere than Debian (a machine image may have them)
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=(); for p in "${missing[@]+"${missing[@]}"}"; do [ "$p" = nodejs ] || [ "$p" = npm ] || tmp+=("$p"); done
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
# on free ports of their own, so that one is neither needed nor touched.

# Prism and what it pulls, exactly as the lockfile says (versions that run on
# Debian 12's Node.js 18); installed again when the lockfile changes.
tools=test/tools
if [ ! -x $tools/node_modules/.bin/prism ] || [ $tools/package-lock.json -nt $tools/node_modules/.installed ]; then
  echo "deps: installing the test tools of $tools (npm ci)"
  (cd $tools && npm ci --no-audit --no-fund --silent >/dev/null)
  touch $tools/node_modules/.installed
fi
