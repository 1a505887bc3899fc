/* The libcurl transport (src/http_curl.c) against scripted responses over
 * loopback: each input is a list of records [flags][len hi][len lo][bytes],
 * answered in turn by a replay server in a thread, one request per record
 * on one easy handle (as a client reuses it). Properties: every call ends
 * with a known kind or a sane response, and whatever came before, the handle
 * still reads a well-formed response correctly afterwards. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_curl.h"
#include "wire.h"
#include "../test/replay/replay.h"

#define MAX_RECORDS 8
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "property failed: %s\n", #c); abort(); } } while (0)

static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "GET", "POST", "DELETE"};

static int known_kind(const char *k) {
    return strcmp(k, "timeout") == 0 || strcmp(k, "network") == 0 || strcmp(k, "tls") == 0 ||
           strcmp(k, "protocol") == 0;
}

static const char *perform(close_http *h, int port, const char *method, close_http_response *res,
                           const char **msg) {
    static const char *const headers[] = {"Content-Type: application/json", "Accept: application/json",
                                          "Authorization: Basic Y2tfZnV6ejo="};
    char url[80];
    close_http_request r;
    memset(&r, 0, sizeof r);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/membership/", port);
    r.method = method;
    r.url = url;
    r.headers = headers;
    r.nheaders = 3;
    if (strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0) {
        r.body = "{\"email\":\"a@acme.com\",\"role_id\":\"user\"}";
        r.body_len = strlen(r.body);
    }
    r.timeout_ms = 60; /* a response that never ends costs this much */
    r.connect_timeout_ms = 60;
    r.max_body = 4096;
    *msg = NULL;
    return close_http_perform(h, &r, res, msg);
}

static close_http handle;
static close_wire_field fields[CLOSE_MAX_HEADERS];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return close_http_init(&handle) ? 0 : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const unsigned char good[] =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"id\":\"ok\"}";
    replay_record recs[MAX_RECORDS];
    int methods_of[MAX_RECORDS];
    replay_record ok = {good, sizeof good - 1, REPLAY_CLOSE};
    size_t n = 0, pos = 0, i;
    replay_server *s;
    close_http_response res;
    close_wire_head head;
    const char *kind, *msg;
    while (n < MAX_RECORDS && pos + 3 <= size) {
        size_t len = ((size_t)data[pos + 1] << 8) | data[pos + 2];
        if (len > size - pos - 3) len = size - pos - 3;
        recs[n].after = data[pos] & 3;
        methods_of[n] = (data[pos] >> 2) & 7;
        recs[n].data = data + pos + 3;
        recs[n].len = len;
        n++;
        pos += 3 + len;
    }
    s = replay_start(recs, n, 0);
    if (!s) return 0;
    for (i = 0; i < n; i++) {
        kind = perform(&handle, replay_port(s), methods[methods_of[i]], &res, &msg);
        if (kind) {
            CHECK(known_kind(kind));
            CHECK(msg != NULL);
        } else {
            CHECK(res.body_len <= 4096);
            CHECK(res.head_len <= CLOSE_MAX_HEAD);
            CHECK(res.body != NULL && res.head != NULL);
            /* what curl accepted, read by the shared parser as the binding does */
            if (close_wire_parse_head(res.head, res.head_len, &head, fields, CLOSE_MAX_HEADERS) == NULL)
                CHECK(head.status >= 100 && head.status <= 999 && head.head_len <= res.head_len);
        }
    }
    replay_stop(s);
    /* the same handle, a new server that answers well: nothing lingers */
    s = replay_start(&ok, 1, 0);
    if (!s) return 0;
    kind = perform(&handle, replay_port(s), "POST", &res, &msg);
    CHECK(kind == NULL);
    CHECK(close_wire_parse_head(res.head, res.head_len, &head, fields, CLOSE_MAX_HEADERS) == NULL);
    CHECK(head.status == 200 && head.nfields == 2);
    CHECK(res.body_len == 11 && memcmp(res.body, "{\"id\":\"ok\"}", 11) == 0);
    replay_stop(s);
    return 0;
}
