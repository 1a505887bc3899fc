#!/usr/bin/env bash
# Start, stop, or describe the OpenResty-style application host of
# spec/openresty: Debian's nginx + ngx_lua running close with the cosocket
# transport, on 127.0.0.1 only. It calls the fake Close server
# (test/server), whose addresses it takes from the environment that
# `test/server/ctl.sh env` prints (scripts/with-openresty.sh does both).
#
#   ctl.sh start   (re)start nginx, wait until ready (bounded)
#   ctl.sh stop    stop nginx (idempotent)
#   ctl.sh env     print CLOSE_TEST_APP_* shell assignments
#
# Needs: CLOSE_TEST_HTTP_URL, CLOSE_TEST_HTTPS_URL, CLOSE_TEST_HTTPS_LOCALHOST_URL,
# CLOSE_TEST_CA, CLOSE_TEST_OTHER_CA, CLOSE_TEST_API_KEY (for start), and
# build/5.1/close/core.so (close.core built against the LuaJIT headers).
# Environment: CLOSE_TEST_APP_DIR (state dir, default /tmp/close-test-openresty/app),
# CLOSE_TEST_APP_PORT (18580), CLOSE_TEST_RAW_PORT (18581),
# CLOSE_TEST_CLOSED_PORT (18589, where nothing may listen),
# CLOSE_TEST_NGINX (nginx binary, default nginx), CLOSE_TEST_NGINX_MODULES
# (dir with the ndk and lua modules, default /usr/lib/nginx/modules; "none"
# when the binary has them built in, as OpenResty's).
set -eu

APP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$APP_DIR/../.." && pwd -P)
STATE_DIR=${CLOSE_TEST_APP_DIR:-/tmp/close-test-openresty/app}
APP_PORT=${CLOSE_TEST_APP_PORT:-18580}
RAW_PORT=${CLOSE_TEST_RAW_PORT:-18581}
CLOSED_PORT=${CLOSE_TEST_CLOSED_PORT:-18589}
NGINX=${CLOSE_TEST_NGINX:-nginx}
MODULES_DIR=${CLOSE_TEST_NGINX_MODULES:-/usr/lib/nginx/modules}

case "$APP_PORT$RAW_PORT$CLOSED_PORT" in *[!0-9]*) echo "ctl.sh: ports must be numbers" >&2; exit 2 ;; esac

PID_FILE=$STATE_DIR/nginx.pid
READY_TIMEOUT_TENTHS=100     # ~10 s
STOP_TIMEOUT_TENTHS=50       # ~5 s before kill -9

die() {
    echo "openresty/ctl.sh: $*" >&2
    exit 1
}

absolute_state_dir() {
    mkdir -p "$STATE_DIR"
    STATE_DIR=$(cd "$STATE_DIR" && pwd -P)
    PID_FILE=$STATE_DIR/nginx.pid
}

# Whether a pid is a live process. A zombie counts as gone: the master is a
# daemon reparented to init, and some inits reap late (kill -0 succeeds on a
# zombie).
alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$state" ] && [ "$state" != Z ]
}

# Prints the master pid if the pid file names a live nginx process.
running_pid() {
    local pid
    [ -f "$PID_FILE" ] || return 1
    pid=$(tr -dc '0-9' <"$PID_FILE")
    [ -n "$pid" ] || return 1
    alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q nginx || return 1
    echo "$pid"
}

sed_escape() {
    printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'
}

# IPv6 loopback, when the machine has it: the raw upstream listens there too.
have_ipv6_loopback() {
    [ -r /proc/net/if_inet6 ] && grep -q '^0\{31\}1 ' /proc/net/if_inet6
}

write_conf() {
    local load="" v6=""
    if [ "$MODULES_DIR" != none ]; then
        local m
        for m in ndk_http_module.so ngx_http_lua_module.so; do
            [ -f "$MODULES_DIR/$m" ] || die "missing $MODULES_DIR/$m (apt-get install libnginx-mod-http-lua)"
        done
        load="load_module $MODULES_DIR/ndk_http_module.so;\\
load_module $MODULES_DIR/ngx_http_lua_module.so;"
    fi
    have_ipv6_loopback && v6="listen [::1]:$RAW_PORT;"
    sed -e "s|@STATE_DIR@|$(sed_escape "$STATE_DIR")|g" \
        -e "s|@APP_DIR@|$(sed_escape "$APP_DIR")|g" \
        -e "s|@ROOT@|$(sed_escape "$ROOT")|g" \
        -e "s|@CA@|$(sed_escape "$CLOSE_TEST_CA")|g" \
        -e "s|@OTHER_CA@|$(sed_escape "$CLOSE_TEST_OTHER_CA")|g" \
        -e "s|@APP_PORT@|$APP_PORT|g" \
        -e "s|@RAW_PORT@|$RAW_PORT|g" \
        -e "s|@LISTEN_V6@|$v6|" \
        -e "s|@LOAD_MODULES@|$load|" \
        "$APP_DIR/nginx.conf.in" >"$STATE_DIR/nginx.conf"
}

fail_start() {
    echo "openresty/ctl.sh: the app nginx did not come up: $*" >&2
    [ -s "$STATE_DIR/start.log" ] && cat "$STATE_DIR/start.log" >&2
    if [ -f "$STATE_DIR/error.log" ]; then
        echo "--- tail of $STATE_DIR/error.log" >&2
        tail -n 30 "$STATE_DIR/error.log" >&2
    fi
    do_stop >/dev/null 2>&1 || true
    exit 1
}

do_stop() {
    local pid children i
    absolute_state_dir
    if ! pid=$(running_pid); then
        rm -f "$PID_FILE"
        return 0
    fi
    children=$(pgrep -P "$pid" 2>/dev/null || true)
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT_TENTHS; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        echo "openresty/ctl.sh: nginx $pid did not stop, killing it" >&2
        kill -9 "$pid" $children 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
}

do_start() {
    local i code v
    command -v "$NGINX" >/dev/null || die "$NGINX not found (apt-get install nginx)"
    command -v curl >/dev/null || die "curl not found"
    for v in CLOSE_TEST_HTTP_URL CLOSE_TEST_HTTPS_URL CLOSE_TEST_HTTPS_LOCALHOST_URL \
             CLOSE_TEST_CA CLOSE_TEST_OTHER_CA CLOSE_TEST_API_KEY; do
        [ -n "${!v:-}" ] || die "$v is not set: start test/server first and export its 'ctl.sh env'"
    done
    [ -f "$ROOT/build/5.1/close/core.so" ] || die "missing $ROOT/build/5.1/close/core.so (close.core for LuaJIT)"
    absolute_state_dir
    do_stop
    mkdir -p "$STATE_DIR/tmp"
    write_conf
    : >"$STATE_DIR/error.log"
    : >"$STATE_DIR/access.log"

    # The workers keep only the variables the config names with `env`.
    if ! CLOSE_TEST_CLOSED_PORT=$CLOSED_PORT \
            "$NGINX" -p "$STATE_DIR" -e "$STATE_DIR/error.log" -c "$STATE_DIR/nginx.conf" \
            >"$STATE_DIR/start.log" 2>&1; then
        fail_start "nginx exited with an error"
    fi

    for ((i = 0; i < READY_TIMEOUT_TENTHS; i++)); do
        code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$APP_PORT/ping" || true)
        [ "$code" = 200 ] && break
        running_pid >/dev/null || fail_start "nginx is not running"
        sleep 0.1
    done
    [ "$code" = 200 ] || fail_start "no answer on http://127.0.0.1:$APP_PORT within 10 s"
    echo "close app nginx running (pid $(running_pid)), state in $STATE_DIR"
}

do_env() {
    absolute_state_dir
    printf 'CLOSE_TEST_APP_URL=%q\n' "http://127.0.0.1:$APP_PORT"
    printf 'CLOSE_TEST_RAW_URL=%q\n' "http://127.0.0.1:$RAW_PORT"
    if have_ipv6_loopback; then
        printf 'CLOSE_TEST_RAW_URL6=%q\n' "http://[::1]:$RAW_PORT"
    fi
    printf 'CLOSE_TEST_APP_ERROR_LOG=%q\n' "$STATE_DIR/error.log"
    printf 'CLOSE_TEST_CLOSED_PORT=%q\n' "$CLOSED_PORT"
}

case "${1:-}" in
    start) do_start ;;
    stop) do_stop ;;
    env) do_env ;;
    *)
        echo "usage: $0 start|stop|env" >&2
        exit 2
        ;;
esac
