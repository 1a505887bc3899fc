/* The concurrent libcurl transport: many transfers on one multi handle,
 * driven from C. Lua starts transfers and asks which have finished
 * (close_multi_wait, then close_multi_done); C never calls Lua, so the Lua
 * scheduler (lua/close/batch.lua) resumes the coroutine whose transfer is
 * done. Connections, DNS and TLS sessions are kept between transfers; HTTP/2
 * multiplexes when the server speaks it; at most max_host connections go to
 * one host. Every transfer has its own easy handle (see http_curl.h). */
#ifndef CLOSE_HTTP_MULTI_H
#define CLOSE_HTTP_MULTI_H

#include "http_curl.h"

/* A client's constant header lines as curl's list, parsed once and shared
 * by the transfers that send them (curl reads a transfer's list until it
 * ends); freed when the last of them and the multi let go of it. */
typedef struct {
    char *block;
    size_t len;
    struct curl_slist *list;
    int refs;
} close_header_set;

typedef struct close_multi_xfer {
    struct close_multi_xfer *next;
    long id;
    CURL *easy;
    struct curl_slist *headers; /* its own list, or NULL with set */
    close_header_set *set;
    close_xfer_io io;
    int done;
    CURLcode rc;
} close_multi_xfer;

typedef struct {
    CURLM *multi;
    CURLSH *share;
    close_multi_xfer *xfers; /* running and finished, until taken */
    close_header_set *set;   /* the header block of the last start that gave one */
    long next_id;
    int running;
} close_multi;

int close_multi_init(close_multi *m, long max_host);
void close_multi_destroy(close_multi *m); /* idempotent; ends every transfer */
int close_multi_is_open(const close_multi *m);

/* Starts a transfer. With r->use_block it sends the lines of the last
 * close_multi_set_headers; else headers, a list it takes over (freed in
 * every case). Returns its id (> 0), or 0 with *message. */
long close_multi_start(close_multi *m, const close_http_request *r, struct curl_slist *headers,
                       const char **message);

/* The header lines ("Name: value" joined by CRLF) that transfers started
 * with use_block send: parsed only when they differ from the last ones.
 * Returns NULL, or a reason when a line is no header. */
const char *close_multi_set_headers(close_multi *m, const char *block, size_t len);

/* Runs the transfers for up to timeout seconds, returning early when one
 * finishes; returns how many finished transfers wait to be taken. */
int close_multi_wait(close_multi *m, double timeout);

/* A finished transfer, taken out of m (NULL when none); free it with
 * close_multi_free after reading it with close_xfer_outcome. */
close_multi_xfer *close_multi_done(close_multi *m);

/* Ends a transfer nobody waits for any more; 0 when the id is unknown. */
int close_multi_cancel(close_multi *m, long id);

void close_multi_free(close_multi_xfer *x);

/* How many transfers are running (not finished). */
int close_multi_running(const close_multi *m);

#endif
