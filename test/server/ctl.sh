#!/usr/bin/env bash
# Start, stop, or describe the local Close-compatible test server
# (nginx + ngx_lua on 127.0.0.1 only).
#
#   ctl.sh start   generate certs if absent, (re)start nginx, wait until ready
#   ctl.sh stop    stop nginx (idempotent)
#   ctl.sh env     print CLOSE_TEST_* shell assignments
#
# Environment: CLOSE_TEST_DIR (its private state dir, required: an instance
# is known by its dir, so runs side by side never touch each other's),
# CLOSE_TEST_HTTP_PORT and CLOSE_TEST_HTTPS_PORT (default: free ports picked
# at start and kept in the state dir), CLOSE_TEST_NGINX (nginx binary, default nginx),
# CLOSE_TEST_NGINX_MODULES (dir with the ndk and lua modules, default
# /usr/lib/nginx/modules; "none" when the binary has them built in, as OpenResty).
set -eu
# The server and its readiness probes are not under test: make asan's
# sanitizer preload (meant for close.core in the specs' Lua) stays out of
# nginx and curl, which hang under it.
unset LD_PRELOAD

SERVER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
STATE_DIR=${CLOSE_TEST_DIR:-}
HTTP_PORT=${CLOSE_TEST_HTTP_PORT:-}
HTTPS_PORT=${CLOSE_TEST_HTTPS_PORT:-}
NGINX=${CLOSE_TEST_NGINX:-nginx}
MODULES_DIR=${CLOSE_TEST_NGINX_MODULES:-/usr/lib/nginx/modules}
CTL_NAME=ctl.sh
CTL_WHAT="the test server"
# shellcheck source-path=SCRIPTDIR source=../lib/nginx.sh
. "$SERVER_DIR/../lib/nginx.sh"

# Must match close_server.lua.
API_KEY=ck_test_4f7a2b9c1d
OAUTH_TOKEN=ct_test_8e6d5c4b3a
OAUTH_CLIENT_ID=oa2client_test_5d1e
OAUTH_CLIENT_SECRET=oa2secret_test_9c7b

case "$HTTP_PORT$HTTPS_PORT" in *[!0-9]*) echo "ctl.sh: ports must be numbers" >&2; exit 2 ;; esac

# the ports this instance took when it started
load_ports() {
    # shellcheck disable=SC1091
    [ -f "$STATE_DIR/ports" ] && . "$STATE_DIR/ports"
    [ -n "$HTTP_PORT" ] || die "the server in $STATE_DIR was not started"
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

write_conf() {
    render_conf "$SERVER_DIR/nginx.conf.in" \
        -e "s|@SERVER_DIR@|$(sed_escape "$SERVER_DIR")|g" \
        -e "s|@HTTP_PORT@|$HTTP_PORT|g" \
        -e "s|@HTTPS_PORT@|$HTTPS_PORT|g"
}

do_start() {
    local tries rc fixed=${HTTP_PORT:+yes}
    require_tools
    reset_state_dir
    gen_certs
    for tries in 1 2 3 4 5; do
        if [ -z "$fixed" ]; then
            { read -r HTTP_PORT; read -r HTTPS_PORT; } < <(free_ports 2)
        fi
        write_conf
        rc=0
        start_nginx "http://127.0.0.1:$HTTP_PORT" /_test/ping || rc=$?
        [ "$rc" -eq 2 ] && [ -z "$fixed" ] && continue
        [ "$rc" -eq 0 ] || fail_start "a port is taken (http $HTTP_PORT, https $HTTPS_PORT)"
        break
    done
    [ "$rc" -eq 0 ] || fail_start "no free ports after $tries tries"
    printf 'HTTP_PORT=%s\nHTTPS_PORT=%s\n' "$HTTP_PORT" "$HTTPS_PORT" >"$STATE_DIR/ports"
    curl -s -o /dev/null -m 5 --cacert "$STATE_DIR/ca.pem" "https://127.0.0.1:$HTTPS_PORT/_test/ping" \
        || fail_start "HTTPS on 127.0.0.1:$HTTPS_PORT does not verify against $STATE_DIR/ca.pem"
    echo "close test server running (pid $(running_pid)), state in $STATE_DIR"
}

do_env() {
    absolute_state_dir
    load_ports
    printf 'CLOSE_TEST_HTTP_URL=%q\n' "http://127.0.0.1:$HTTP_PORT/api/v1"
    printf 'CLOSE_TEST_HTTPS_URL=%q\n' "https://127.0.0.1:$HTTPS_PORT/api/v1"
    printf 'CLOSE_TEST_HTTPS_LOCALHOST_URL=%q\n' "https://localhost:$HTTPS_PORT/api/v1"
    printf 'CLOSE_TEST_CA=%q\n' "$STATE_DIR/ca.pem"
    printf 'CLOSE_TEST_OTHER_CA=%q\n' "$STATE_DIR/other-ca.pem"
    printf 'CLOSE_TEST_API_KEY=%q\n' "$API_KEY"
    printf 'CLOSE_TEST_OAUTH_TOKEN=%q\n' "$OAUTH_TOKEN"
    printf 'CLOSE_TEST_CONTROL_URL=%q\n' "http://127.0.0.1:$HTTP_PORT/_test"
    printf 'CLOSE_TEST_OAUTH_CLIENT_ID=%q\n' "$OAUTH_CLIENT_ID"
    printf 'CLOSE_TEST_OAUTH_CLIENT_SECRET=%q\n' "$OAUTH_CLIENT_SECRET"
    printf 'CLOSE_TEST_AUTHORIZE_URL=%q\n' "https://127.0.0.1:$HTTPS_PORT/oauth2/authorize/"
}

ctl_main "$@"
