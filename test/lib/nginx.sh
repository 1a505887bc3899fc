# shellcheck shell=bash
# Lifecycle of a loopback nginx test instance, sourced by test/server/ctl.sh
# and test/openresty/ctl.sh. The caller sets:
#   CTL_NAME     prefix of messages ("ctl.sh", "openresty/ctl.sh")
#   CTL_WHAT     what fail_start says did not come up ("the test server")
#   STATE_DIR    its private state dir (made absolute by absolute_state_dir);
#                an instance is known by its dir alone, so another run's
#                instance (another dir) is never stopped or reset
#   NGINX        nginx binary
#   MODULES_DIR  dir with the ndk and lua modules, or "none" when built in
# and defines do_start and do_env; it ends with ctl_main "$@".

# shellcheck source=ports.sh
. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"

READY_TIMEOUT_TENTHS=100     # ~10 s
STOP_TIMEOUT_TENTHS=50       # ~5 s before kill -9

die() {
    echo "$CTL_NAME: $*" >&2
    exit 1
}

# nginx needs absolute paths; create the dir first so it can be resolved.
absolute_state_dir() {
    [ -n "$STATE_DIR" ] || die "no state dir: set the variable naming a private directory (scripts/with-server.sh makes one with mktemp)"
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
    # Guard against a recycled pid belonging to something else.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q nginx || return 1
    echo "$pid"
}

# Escapes a string for use as a sed replacement with | as delimiter.
sed_escape() {
    printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'
}

# render_conf TEMPLATE [SED_ARG...]: writes $STATE_DIR/nginx.conf from
# TEMPLATE, filling @STATE_DIR@, @LOAD_MODULES@ and @USER@ (the workers run
# as the user who starts nginx, so they read a checkout anywhere, even in a
# home directory of mode 700; nginx ignores it when not started as root)
# plus the caller's own substitutions.
render_conf() {
    local template=$1 load=""
    shift
    if [ "$MODULES_DIR" != none ]; then
        local m
        for m in ndk_http_module.so ngx_http_lua_module.so; do
            [ -f "$MODULES_DIR/$m" ] || die "missing $MODULES_DIR/$m (apt-get install libnginx-mod-http-lua)"
        done
        load="load_module $MODULES_DIR/ndk_http_module.so;\\
load_module $MODULES_DIR/ngx_http_lua_module.so;"
    fi
    sed -e "s|@STATE_DIR@|$(sed_escape "$STATE_DIR")|g" \
        -e "s|@USER@|$(sed_escape "$(id -un)")|g" \
        "$@" \
        -e "s|@LOAD_MODULES@|$load|" \
        "$template" >"$STATE_DIR/nginx.conf"
}

fail_start() {
    echo "$CTL_NAME: $CTL_WHAT did not come up: $*" >&2
    [ -s "$STATE_DIR/start.log" ] && cat "$STATE_DIR/start.log" >&2
    if [ -f "$STATE_DIR/error.log" ]; then
        echo "--- tail of $STATE_DIR/error.log" >&2
        tail -n 30 "$STATE_DIR/error.log" >&2
    fi
    do_stop >/dev/null 2>&1 || true
    exit 1
}

do_stop() {
    local pid i
    local -a children
    absolute_state_dir
    if ! pid=$(running_pid); then
        rm -f "$PID_FILE"
        return 0
    fi
    mapfile -t children < <(pgrep -P "$pid" 2>/dev/null || true)
    # TERM is nginx's fast shutdown: it does not wait for hanging requests.
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT_TENTHS; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        echo "$CTL_NAME: nginx $pid did not stop, killing it" >&2
        kill -9 "$pid" "${children[@]}" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
}

require_tools() {
    command -v "$NGINX" >/dev/null || die "$NGINX not found (apt-get install nginx)"
    command -v curl >/dev/null || die "curl not found"
}

# Stops a previous instance; tmp/ holds the config's *_temp_path dirs.
reset_state_dir() {
    do_stop
    mkdir -p "$STATE_DIR/tmp"
}

# start_nginx BASE_URL PING_PATH: starts nginx on the written config and
# waits (bounded) until BASE_URL PING_PATH (joined) answers 200; messages
# name only BASE_URL. Returns 2 when a port was taken meanwhile (pick others
# and call again); any other failure ends the script.
start_nginx() {
    local base=$1 path=$2 i code
    : >"$STATE_DIR/error.log"
    : >"$STATE_DIR/access.log"

    # -e keeps even the early startup log out of /var/log/nginx.
    if ! "$NGINX" -p "$STATE_DIR" -e "$STATE_DIR/error.log" -c "$STATE_DIR/nginx.conf" \
            >"$STATE_DIR/start.log" 2>&1; then
        grep -qs "Address already in use" "$STATE_DIR/start.log" "$STATE_DIR/error.log" && return 2
        fail_start "nginx exited with an error"
    fi

    for ((i = 0; i < READY_TIMEOUT_TENTHS; i++)); do
        code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "$base$path" || true)
        [ "$code" = 200 ] && break
        running_pid >/dev/null || fail_start "nginx is not running"
        sleep 0.1
    done
    [ "$code" = 200 ] || fail_start "no answer on $base within 10 s"
}

# The command line both ctl.sh share: start|stop|env.
ctl_main() {
    case "${1:-}" in
        start) do_start ;;
        stop) do_stop ;;
        env) do_env ;;
        *)
            echo "usage: $0 start|stop|env" >&2
            exit 2
            ;;
    esac
}
