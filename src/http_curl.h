/* The blocking libcurl transport, with a plain C interface (the Lua binding
 * in core.c only converts tables). One easy handle per client keeps the
 * connection alive across calls. Callbacks never touch Lua: a failure is
 * recorded and reported after curl_easy_perform returns. */
#ifndef CLOSE_HTTP_CURL_H
#define CLOSE_HTTP_CURL_H

#include <stddef.h>
#include <curl/curl.h>

typedef struct {
    char *data;
    size_t len, cap, max;
    int overflow;
} close_buf;

typedef struct {
    CURL *easy;
    close_buf body, head;
    char errbuf[CURL_ERROR_SIZE];
} close_http;

typedef struct {
    const char *method, *url;
    const char *const *headers; /* "Name: value" lines */
    size_t nheaders;
    const char *body; /* NULL for none */
    size_t body_len;
    long timeout_ms, connect_timeout_ms;
    const char *ca_file; /* NULL: the system store */
    size_t max_body;
} close_http_request;

typedef struct {
    long status;
    const char *body, *head; /* owned by the close_http, valid until its next call */
    size_t body_len, head_len;
} close_http_response;

#define CLOSE_MAX_HEAD 65536

int close_http_init(close_http *h);
void close_http_destroy(close_http *h); /* idempotent */

/* NULL on success, else the error kind ("timeout", "network", "tls",
 * "protocol") with a message in *message. */
const char *close_http_perform(close_http *h, const close_http_request *r, close_http_response *out,
                               const char **message);

#endif
