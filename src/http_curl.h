/* The blocking libcurl transport, with a plain C interface (the Lua binding
 * in core.c only converts tables). Callbacks never touch Lua: a failure is
 * recorded and reported after the transfer.
 *
 * Each request gets a new easy handle; connections (keep-alive), DNS and TLS
 * sessions live in a multi handle and a share of the close_http, so they
 * outlast the easy handles. A reused easy handle is not safe with the
 * libcurl of Debian 12 (7.88.1): it keeps a pointer to the previous
 * transfer's last header after freeing it, and a response whose first header
 * line is folded makes curl read that freed memory (curl PR #11103, fixed in
 * 8.1.0). A new easy handle costs about a microsecond. */
#ifndef CLOSE_HTTP_CURL_H
#define CLOSE_HTTP_CURL_H

#include <stddef.h>
#include <curl/curl.h>

#include "buf.h"


/* What one transfer collects: the final response head, the body (each
 * capped) and curl's message. */
typedef struct {
    close_buf body, head;
    char errbuf[CURL_ERROR_SIZE];
} close_xfer_io;

typedef struct {
    CURLM *multi;
    CURLSH *share;
    close_xfer_io io;
    /* the request headers a client sends on every call, kept as curl's list
     * between calls (close_http_set_headers) */
    char *block;
    size_t block_len;
    struct curl_slist *block_list;
} close_http;

typedef struct {
    const char *method, *url;
    const char *const *headers; /* "Name: value" lines */
    size_t nheaders;
    int use_block;              /* send the lines of close_http_set_headers instead */
    const char *body; /* NULL for none; must stay valid during the call */
    size_t body_len;
    long timeout_ms, connect_timeout_ms;
    const char *ca_file; /* NULL: the system store */
    size_t max_body;
} close_http_request;

typedef struct {
    const char *body, *head; /* owned by the close_http, valid until its next call */
    size_t body_len, head_len;
} close_http_response;

/* curl_global_init, once per process (not thread-safe: call before threads). */
void close_http_global_init(void);

int close_http_init(close_http *h);
void close_http_destroy(close_http *h); /* idempotent */
int close_http_is_open(const close_http *h);

/* Sets the header lines ("Name: value" joined by CRLF) that requests with
 * use_block send; kept until a different block is set. Returns NULL, or a
 * reason when a line is no header (then nothing is kept). */
const char *close_http_set_headers(close_http *h, const char *block, size_t len);

/* NULL on success (the raw head, from the final status line on, and the
 * body in *out), else the error kind ("timeout", "network", "tls",
 * "protocol") with a message in *message. */
const char *close_http_perform(close_http *h, const close_http_request *r, close_http_response *out,
                               const char **message);

/* The pieces both the blocking transport and the concurrent one
 * (http_multi.c) are made of. */

/* The curl list of a header block ("Name: value" lines joined by CRLF) plus
 * "Expect:"; NULL and *why on a line that is no header. */
struct curl_slist *close_http_block_list(const char *block, size_t len, const char **why);

/* The curl list of r's header lines plus "Expect:"; NULL when out of memory. */
struct curl_slist *close_http_line_list(const close_http_request *r);

/* Sets every option of one transfer on e; the body is copied when copy_body. */
CURLcode close_xfer_setup(CURL *e, const close_http_request *r, struct curl_slist *headers, close_xfer_io *io,
                          CURLSH *share, int copy_body);

/* Resets io for a new transfer with these caps. */
void close_xfer_reset(close_xfer_io *io, size_t max_body);

void close_xfer_free(close_xfer_io *io);

/* The outcome of a finished transfer, as close_http_perform reports it. */
const char *close_xfer_outcome(CURLcode rc, close_xfer_io *io, close_http_response *out, const char **message);

#endif
