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
# Environment: CLOSE_TEST_APP_DIR (its private state dir, required),
# CLOSE_TEST_APP_PORT, CLOSE_TEST_RAW_PORT and CLOSE_TEST_CLOSED_PORT (where
# nothing may listen) (default: free ports picked at start, kept in the dir),
# CLOSE_TEST_APP_WORKERS (worker processes, default 1; with more than one
# the app port listens with reuseport, so that connections spread over them),
# CLOSE_TEST_NGINX (nginx binary, default nginx), CLOSE_TEST_NGINX_MODULES
# (dir with the ndk and lua modules, default /usr/lib/nginx/modules; "none"
# when the binary has them built in, as OpenResty's).
set -eu

APP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$APP_DIR/../.." && pwd -P)
STATE_DIR=${CLOSE_TEST_APP_DIR:-}
APP_PORT=${CLOSE_TEST_APP_PORT:-}
RAW_PORT=${CLOSE_TEST_RAW_PORT:-}
CLOSED_PORT=${CLOSE_TEST_CLOSED_PORT:-}
WORKERS=${CLOSE_TEST_APP_WORKERS:-1}
NGINX=${CLOSE_TEST_NGINX:-nginx}
MODULES_DIR=${CLOSE_TEST_NGINX_MODULES:-/usr/lib/nginx/modules}
CTL_NAME=openresty/ctl.sh
CTL_WHAT="the app nginx"
# shellcheck source-path=SCRIPTDIR source=../lib/nginx.sh
. "$APP_DIR/../lib/nginx.sh"

case "$APP_PORT$RAW_PORT$CLOSED_PORT" in *[!0-9]*) echo "ctl.sh: ports must be numbers" >&2; exit 2 ;; esac
case "$WORKERS" in
    [1-9] | [1-5][0-9] | 6[0-4]) ;;
    *) echo "ctl.sh: CLOSE_TEST_APP_WORKERS must be a number from 1 to 64" >&2; exit 2 ;;
esac

# IPv6 loopback, when the machine has it: the raw upstream listens there too.
have_ipv6_loopback() {
    [ -r /proc/net/if_inet6 ] && grep -q '^0\{31\}1 ' /proc/net/if_inet6
}

write_conf() {
    local v6="" opts=""
    have_ipv6_loopback && v6="listen [::1]:$RAW_PORT;"
    [ "$WORKERS" -gt 1 ] && opts=reuseport
    render_conf "$APP_DIR/nginx.conf.in" \
        -e "s|@APP_DIR@|$(sed_escape "$APP_DIR")|g" \
        -e "s|@ROOT@|$(sed_escape "$ROOT")|g" \
        -e "s|@CA@|$(sed_escape "$CLOSE_TEST_CA")|g" \
        -e "s|@OTHER_CA@|$(sed_escape "$CLOSE_TEST_OTHER_CA")|g" \
        -e "s|@APP_PORT@|$APP_PORT|g" \
        -e "s|@RAW_PORT@|$RAW_PORT|g" \
        -e "s|@WORKERS@|$WORKERS|g" \
        -e "s|@APP_LISTEN_OPTS@|$opts|g" \
        -e "s|@LISTEN_V6@|$v6|"
}

do_start() {
    local v
    require_tools
    for v in CLOSE_TEST_HTTP_URL CLOSE_TEST_HTTPS_URL CLOSE_TEST_HTTPS_LOCALHOST_URL \
             CLOSE_TEST_CA CLOSE_TEST_OTHER_CA CLOSE_TEST_API_KEY; do
        [ -n "${!v:-}" ] || die "$v is not set: start test/server first and export its 'ctl.sh env'"
    done
    [ -f "$ROOT/build/5.1/close/core.so" ] || die "missing $ROOT/build/5.1/close/core.so (close.core for LuaJIT)"
    reset_state_dir
    local tries rc fixed=${APP_PORT:+yes}
    for tries in 1 2 3 4 5; do
        if [ -z "$fixed" ]; then
            { read -r APP_PORT; read -r RAW_PORT; read -r CLOSED_PORT; } < <(free_ports 3)
        fi
        write_conf
        rc=0
        # The workers keep only the variables the config names with `env`; the
        # assignment reaches nginx through the function's environment.
        CLOSE_TEST_CLOSED_PORT=$CLOSED_PORT start_nginx "http://127.0.0.1:$APP_PORT" /ping || rc=$?
        [ "$rc" -eq 2 ] && [ -z "$fixed" ] && continue
        [ "$rc" -eq 0 ] || fail_start "a port is taken (app $APP_PORT, raw $RAW_PORT)"
        break
    done
    [ "$rc" -eq 0 ] || fail_start "no free ports after $tries tries"
    printf 'APP_PORT=%s\nRAW_PORT=%s\nCLOSED_PORT=%s\n' "$APP_PORT" "$RAW_PORT" "$CLOSED_PORT" >"$STATE_DIR/ports"
    echo "close app nginx running (pid $(running_pid), $WORKERS worker(s)), state in $STATE_DIR"
}

do_env() {
    absolute_state_dir
    # shellcheck disable=SC1091
    [ -f "$STATE_DIR/ports" ] && . "$STATE_DIR/ports"
    [ -n "$APP_PORT" ] || die "the app nginx in $STATE_DIR was not started"
    printf 'CLOSE_TEST_APP_URL=%q\n' "http://127.0.0.1:$APP_PORT"
    printf 'CLOSE_TEST_RAW_URL=%q\n' "http://127.0.0.1:$RAW_PORT"
    if have_ipv6_loopback; then
        printf 'CLOSE_TEST_RAW_URL6=%q\n' "http://[::1]:$RAW_PORT"
    fi
    printf 'CLOSE_TEST_APP_ERROR_LOG=%q\n' "$STATE_DIR/error.log"
    printf 'CLOSE_TEST_CLOSED_PORT=%q\n' "$CLOSED_PORT"
}

ctl_main "$@"
