#!/usr/bin/env bash
# The local Close-compatible server (test/server: nginx + ngx_lua on
# 127.0.0.1 only), for trying close-provision by hand:
#
#   eval "$(scripts/local-server.sh start)"   start it; the output sets CLOSE_BASE_URL
#                                              and its test credentials (when it runs
#                                              already: the same, its state kept)
#   scripts/local-server.sh stop              stop it and remove its state
#
# Its state (certificates, seed organization, logs) lives in a private
# directory, CLOSE_LOCAL_DIR (default: build/local-server in the checkout);
# its ports are free ones picked at start. It never talks to Close.
set -eu
# not under test: make asan's sanitizer preload stays out of nginx and curl
unset LD_PRELOAD
root=$(cd "$(dirname "$0")/.." && pwd)
ctl="$root/test/server/ctl.sh"
CLOSE_TEST_DIR=${CLOSE_LOCAL_DIR:-$root/build/local-server}
export CLOSE_TEST_DIR

case "${1:-}" in
start)
    mkdir -p "$CLOSE_TEST_DIR"
    chmod 700 "$CLOSE_TEST_DIR"
    # one already running here (a second shell): its settings again, its state kept
    up="up at"
    if lines=$("$ctl" env 2>/dev/null) && eval "$lines" \
        && curl -s -o /dev/null -f -m 2 "${CLOSE_TEST_HTTP_URL%/api/v1}/_test/ping"; then
        up="already running at"
    else
        "$ctl" start >&2
        eval "$("$ctl" env)"
    fi
    # what the CLI reads, for a shell to eval; the credentials are the local server's test ones.
    # Plain http (allowed for loopback only), so that a browser opens its authorize page
    # without a certificate warning; its https address takes CLOSE_CA_FILE=$CLOSE_TEST_DIR/ca.pem.
    printf 'export CLOSE_BASE_URL=%q\n' "$CLOSE_TEST_HTTP_URL"
    printf 'export CLOSE_API_KEY=%q\n' "$CLOSE_TEST_API_KEY"
    printf 'export CLOSE_TEST_OAUTH_CLIENT_ID=%q CLOSE_CLIENT_SECRET=%q\n' \
        "$CLOSE_TEST_OAUTH_CLIENT_ID" "$CLOSE_TEST_OAUTH_CLIENT_SECRET"
    echo "local-server: $up ${CLOSE_TEST_HTTP_URL%/api/v1} and ${CLOSE_TEST_HTTPS_URL%/api/v1}" \
        "(state in $CLOSE_TEST_DIR)" >&2
    ;;
stop)
    if [ -d "$CLOSE_TEST_DIR" ]; then
        "$ctl" stop >&2
        rm -rf "$CLOSE_TEST_DIR"
    fi
    echo "local-server: stopped" >&2
    ;;
*)
    echo "usage: eval \"\$(scripts/local-server.sh start)\" | scripts/local-server.sh stop" >&2
    exit 2
    ;;
esac
