#!/usr/bin/env bash
# Start, stop, or describe the local Close-compatible test server
# (nginx + ngx_lua on 127.0.0.1 only).
#
#   ctl.sh start   generate certs if absent, (re)start nginx, wait until ready
#   ctl.sh stop    stop nginx (idempotent)
#   ctl.sh env     print CLOSE_TEST_* shell assignments
#
# Environment: CLOSE_TEST_DIR (state dir, default /tmp/close-test-server),
# CLOSE_TEST_HTTP_PORT (18480), CLOSE_TEST_HTTPS_PORT (18443),
# CLOSE_TEST_NGINX (nginx binary, default nginx),
# CLOSE_TEST_NGINX_MODULES (dir with the ndk and lua modules, default
# /usr/lib/nginx/modules; "none" when the binary has them built in, as OpenResty).
set -eu

SERVER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
STATE_DIR=${CLOSE_TEST_DIR:-/tmp/close-test-server}
HTTP_PORT=${CLOSE_TEST_HTTP_PORT:-18480}
HTTPS_PORT=${CLOSE_TEST_HTTPS_PORT:-18443}
NGINX=${CLOSE_TEST_NGINX:-nginx}
MODULES_DIR=${CLOSE_TEST_NGINX_MODULES:-/usr/lib/nginx/modules}

# Must match close_server.lua.
API_KEY=ck_test_4f7a2b9c1d
OAUTH_TOKEN=ct_test_8e6d5c4b3a

case "$HTTP_PORT$HTTPS_PORT" in *[!0-9]*) echo "ctl.sh: ports must be numbers" >&2; exit 2 ;; esac

PID_FILE=$STATE_DIR/nginx.pid
READY_TIMEOUT_TENTHS=100     # ~10 s
STOP_TIMEOUT_TENTHS=50       # ~5 s before kill -9

die() {
    echo "ctl.sh: $*" >&2
    exit 1
}

# nginx needs absolute paths; create the dir first so it can be resolved.
absolute_state_dir() {
    mkdir -p "$STATE_DIR"
    STATE_DIR=$(cd "$STATE_DIR" && pwd -P)
    PID_FILE=$STATE_DIR/nginx.pid
}

# Prints the master pid if the pid file names a live nginx process.
running_pid() {
    local pid
    [ -f "$PID_FILE" ] || return 1
    pid=$(tr -dc '0-9' <"$PID_FILE")
    [ -n "$pid" ] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # Guard against a recycled pid belonging to something else.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q nginx || return 1
    echo "$pid"
}

gen_certs() {
    command -v openssl >/dev/null || die "openssl not found"
    local d=$STATE_DIR
    local cnf=$d/openssl.cnf
    cat >"$cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    local q=(-quiet)
    openssl genpkey -help 2>&1 | grep -q -- '-quiet' || q=()

    if [ ! -s "$d/ca.pem" ] || [ ! -s "$d/ca.key" ]; then
        openssl genpkey "${q[@]}" -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/ca.key"
        openssl req -new -x509 -config "$cnf" -extensions v3_ca -key "$d/ca.key" \
            -subj "/CN=Close Test CA" -days 3650 -sha256 -out "$d/ca.pem"
        rm -f "$d/server.pem"      # a new CA invalidates the old server cert
    fi
    if [ ! -s "$d/server.pem" ] || [ ! -s "$d/server.key" ]; then
        openssl genpkey "${q[@]}" -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/server.key"
        openssl req -new -config "$cnf" -key "$d/server.key" -subj "/CN=localhost" -out "$d/server.csr"
        openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
            -set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 \
            -extfile "$cnf" -extensions v3_server -out "$d/server.pem" 2>/dev/null
        rm -f "$d/server.csr"
    fi
    if [ ! -s "$d/other-ca.pem" ]; then
        openssl genpkey "${q[@]}" -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/other-ca.key"
        openssl req -new -x509 -config "$cnf" -extensions v3_ca -key "$d/other-ca.key" \
            -subj "/CN=Unrelated Test CA" -days 3650 -sha256 -out "$d/other-ca.pem"
    fi
    chmod 600 "$d"/*.key
}

# Escapes a string for use as a sed replacement with | as delimiter.
sed_escape() {
    printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'
}

write_conf() {
    local load=""
    if [ "$MODULES_DIR" != none ]; then
        local m
        for m in ndk_http_module.so ngx_http_lua_module.so; do
            [ -f "$MODULES_DIR/$m" ] || die "missing $MODULES_DIR/$m (apt-get install libnginx-mod-http-lua)"
        done
        load="load_module $MODULES_DIR/ndk_http_module.so;\\
load_module $MODULES_DIR/ngx_http_lua_module.so;"
    fi
    sed -e "s|@STATE_DIR@|$(sed_escape "$STATE_DIR")|g" \
        -e "s|@SERVER_DIR@|$(sed_escape "$SERVER_DIR")|g" \
        -e "s|@HTTP_PORT@|$HTTP_PORT|g" \
        -e "s|@HTTPS_PORT@|$HTTPS_PORT|g" \
        -e "s|@LOAD_MODULES@|$load|" \
        "$SERVER_DIR/nginx.conf.in" >"$STATE_DIR/nginx.conf"
}

fail_start() {
    echo "ctl.sh: the test server did not come up: $*" >&2
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
    # TERM is nginx's fast shutdown: it does not wait for hanging requests.
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT_TENTHS; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "ctl.sh: nginx $pid did not stop, killing it" >&2
        kill -9 "$pid" $children 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
}

do_start() {
    local i code
    command -v "$NGINX" >/dev/null || die "$NGINX not found (apt-get install nginx)"
    command -v curl >/dev/null || die "curl not found"
    absolute_state_dir
    do_stop
    mkdir -p "$STATE_DIR/tmp"
    gen_certs
    write_conf
    : >"$STATE_DIR/error.log"
    : >"$STATE_DIR/access.log"

    # -e keeps even the early startup log out of /var/log/nginx.
    if ! "$NGINX" -p "$STATE_DIR" -e "$STATE_DIR/error.log" -c "$STATE_DIR/nginx.conf" \
            >"$STATE_DIR/start.log" 2>&1; then
        fail_start "nginx exited with an error"
    fi

    for ((i = 0; i < READY_TIMEOUT_TENTHS; i++)); do
        code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/_test/ping" || true)
        [ "$code" = 200 ] && break
        running_pid >/dev/null || fail_start "nginx is not running"
        sleep 0.1
    done
    [ "$code" = 200 ] || fail_start "no answer on http://127.0.0.1:$HTTP_PORT within 10 s"
    curl -s -o /dev/null -m 5 --cacert "$STATE_DIR/ca.pem" "https://127.0.0.1:$HTTPS_PORT/_test/ping" \
        || fail_start "HTTPS on 127.0.0.1:$HTTPS_PORT does not verify against $STATE_DIR/ca.pem"
    echo "close test server running (pid $(running_pid)), state in $STATE_DIR"
}

do_env() {
    absolute_state_dir
    printf 'CLOSE_TEST_HTTP_URL=%q\n' "http://127.0.0.1:$HTTP_PORT/api/v1"
    printf 'CLOSE_TEST_HTTPS_URL=%q\n' "https://127.0.0.1:$HTTPS_PORT/api/v1"
    printf 'CLOSE_TEST_HTTPS_LOCALHOST_URL=%q\n' "https://localhost:$HTTPS_PORT/api/v1"
    printf 'CLOSE_TEST_CA=%q\n' "$STATE_DIR/ca.pem"
    printf 'CLOSE_TEST_OTHER_CA=%q\n' "$STATE_DIR/other-ca.pem"
    printf 'CLOSE_TEST_API_KEY=%q\n' "$API_KEY"
    printf 'CLOSE_TEST_OAUTH_TOKEN=%q\n' "$OAUTH_TOKEN"
    printf 'CLOSE_TEST_CONTROL_URL=%q\n' "http://127.0.0.1:$HTTP_PORT/_test"
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
