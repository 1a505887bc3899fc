#include "http_curl.h"

#include <stdlib.h>
#include <string.h>

#include "wire.h"

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    return close_buf_append(&((close_xfer_io *)ud)->body, p, size * n) == size * n ? size * n : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    close_xfer_io *io = ud;
    /* a new status line (after 100 Continue, say): keep the final block only */
    if (size * n >= 5 && memcmp(p, "HTTP/", 5) == 0) close_buf_clear(&io->head);
    return close_buf_append(&io->head, p, size * n) == size * n ? size * n : 0;
}

void close_xfer_reset(close_xfer_io *io, size_t max_body) {
    close_buf_reset(&io->body, max_body);
    close_buf_reset(&io->head, CLOSE_MAX_HEAD);
    io->errbuf[0] = '\0';
}

void close_xfer_free(close_xfer_io *io) {
    close_buf_free(&io->body);
    close_buf_free(&io->head);
    memset(io, 0, sizeof *io);
}

void close_http_global_init(void) {
    static int done;
    if (!done) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        done = 1;
    }
}

int close_http_init(close_http *h) {
    memset(h, 0, sizeof *h);
    close_http_global_init();
    h->multi = curl_multi_init();
    h->share = curl_share_init();
    if (!h->multi || !h->share ||
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
        close_http_destroy(h);
        return 0;
    }
    return 1;
}

static void drop_block(close_http *h) {
    curl_slist_free_all(h->block_list);
    free(h->block);
    h->block_list = NULL;
    h->block = NULL;
    h->block_len = 0;
}

struct curl_slist *close_http_block_list(const char *block, size_t len, const char **why) {
    struct curl_slist *list = NULL, *tmp = NULL;
    char *copy, *line, *end;
    if ((*why = close_wire_check_header_block(block, len)) != NULL) return NULL;
    copy = malloc(len + 3); /* the lines cut apart at their CRLF */
    if (!copy) {
        *why = "out of memory";
        return NULL;
    }
    memcpy(copy, block, len);
    memcpy(copy + len, "\r\n", 3);
    for (line = copy; len > 0 && line < copy + len && !*why; line = end + 2) {
        end = strstr(line, "\r\n"); /* found: the block ends in one; no NUL before it */
        *end = '\0';
        if ((tmp = curl_slist_append(list, line)) == NULL) *why = "out of memory";
        else list = tmp;
    }
    /* curl would otherwise add "Expect: 100-continue" to larger bodies */
    if (!*why && (tmp = curl_slist_append(list, "Expect:")) == NULL) *why = "out of memory";
    free(copy);
    if (*why) {
        curl_slist_free_all(list);
        return NULL;
    }
    return tmp;
}

const char *close_http_set_headers(close_http *h, const char *block, size_t len) {
    struct curl_slist *list;
    char *copy;
    const char *why;
    if (h->block && h->block_len == len && memcmp(h->block, block, len) == 0) return NULL;
    if ((list = close_http_block_list(block, len, &why)) == NULL) return why;
    if ((copy = malloc(len + 1)) == NULL) {
        curl_slist_free_all(list);
        return "out of memory";
    }
    memcpy(copy, block, len);
    copy[len] = '\0';
    drop_block(h);
    h->block = copy;
    h->block_len = len;
    h->block_list = list;
    return NULL;
}

struct curl_slist *close_http_line_list(const close_http_request *r) {
    struct curl_slist *hl = NULL, *tmp;
    size_t i;
    for (i = 0; i < r->nheaders; i++) {
        if ((tmp = curl_slist_append(hl, r->headers[i])) == NULL) {
            curl_slist_free_all(hl);
            return NULL;
        }
        hl = tmp;
    }
    if ((tmp = curl_slist_append(hl, "Expect:")) == NULL) curl_slist_free_all(hl);
    return tmp;
}

void close_http_destroy(close_http *h) {
    drop_block(h);
    if (h->multi) curl_multi_cleanup(h->multi); /* closes the kept connections */
    if (h->share) curl_share_cleanup(h->share);
    h->multi = NULL;
    h->share = NULL;
    close_xfer_free(&h->io);
}

int close_http_is_open(const close_http *h) { return h->multi != NULL; }

static const char *kind_of(CURLcode rc, const char *message) {
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return "timeout";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED: return "tls";
    case CURLE_PARTIAL_FILE:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return "protocol";
    case CURLE_RECV_ERROR:
        /* curl reports a broken chunked body as a receive error; it is the
         * server's framing, as the cosocket transport says too */
        return strstr(message, "chunk") ? "protocol" : "network";
    default: return "network";
    }
}

#define SETOPT(opt, val) \
    do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)

/* Runs the one transfer of e on the multi handle; returns its result. */
static CURLcode run(close_http *h, CURL *e) {
    CURLcode rc = CURLE_OK;
    CURLMcode mc;
    CURLMsg *msg;
    int running = 1, left;
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) return CURLE_OUT_OF_MEMORY;
    for (;;) {
        mc = curl_multi_perform(h->multi, &running);
        if (mc != CURLM_OK || running == 0) break;
        /* bounded: curl's own timers end the transfer at its timeout */
#if LIBCURL_VERSION_NUM >= 0x074200
        mc = curl_multi_poll(h->multi, NULL, 0, 1000, NULL);
#else
        mc = curl_multi_wait(h->multi, NULL, 0, 1000, NULL);
#endif
        if (mc != CURLM_OK) break;
    }
    if (mc != CURLM_OK) {
        rc = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_RECV_ERROR;
    } else {
        rc = CURLE_RECV_ERROR; /* no result reported: cannot happen, but never report success */
        while ((msg = curl_multi_info_read(h->multi, &left)) != NULL)
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == e) rc = msg->data.result;
    }
    curl_multi_remove_handle(h->multi, e);
    return rc;
}

CURLcode close_xfer_setup(CURL *e, const close_http_request *r, struct curl_slist *headers, close_xfer_io *io,
                          CURLSH *share, int copy_body) {
    CURLcode rc = CURLE_OK;
    SETOPT(CURLOPT_SHARE, share);
    SETOPT(CURLOPT_URL, r->url);
    SETOPT(CURLOPT_HTTPHEADER, headers);
    SETOPT(CURLOPT_ERRORBUFFER, io->errbuf);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    if (r->ca_file) SETOPT(CURLOPT_CAINFO, r->ca_file);
    SETOPT(CURLOPT_TIMEOUT_MS, r->timeout_ms);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, r->connect_timeout_ms);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, io);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, io);
    if (r->body || close_wire_method_has_body(r->method)) {
        SETOPT(CURLOPT_POSTFIELDSIZE, (long)(r->body ? r->body_len : 0));
        /* the blocking call keeps the body alive itself; a concurrent one may outlive it */
        SETOPT(copy_body ? CURLOPT_COPYPOSTFIELDS : CURLOPT_POSTFIELDS, r->body ? r->body : "");
    }
    SETOPT(CURLOPT_CUSTOMREQUEST, r->method);
    return rc;
}

const char *close_xfer_outcome(CURLcode rc, close_xfer_io *io, close_http_response *out, const char **message) {
    memset(out, 0, sizeof *out);
    if (io->body.overflow == 1) {
        *message = CLOSE_MSG_BODY_TOO_LARGE;
        return "protocol";
    }
    if (io->head.overflow == 1) {
        *message = CLOSE_MSG_HEAD_TOO_LARGE;
        return "protocol";
    }
    if (io->body.overflow || io->head.overflow || rc == CURLE_OUT_OF_MEMORY) {
        *message = "out of memory";
        return "network";
    }
    if (rc == CURLE_BAD_FUNCTION_ARGUMENT) {
        /* what curl says of a header it cannot store: a fold with nothing before it */
        *message = "malformed header line";
        return "protocol";
    }
    if (rc != CURLE_OK) {
        *message = io->errbuf[0] ? io->errbuf : curl_easy_strerror(rc);
        return kind_of(rc, *message);
    }
    out->body = io->body.data ? io->body.data : "";
    out->body_len = io->body.len;
    out->head = io->head.data ? io->head.data : "";
    out->head_len = io->head.len;
    return NULL;
}

const char *close_http_perform(close_http *h, const close_http_request *r, close_http_response *out,
                               const char **message) {
    CURL *e;
    CURLcode rc = CURLE_OK;
    struct curl_slist *hl = NULL;

    memset(out, 0, sizeof *out);
    close_xfer_reset(&h->io, r->max_body);
    e = curl_easy_init();
    if (!e) {
        *message = "out of memory";
        return "network";
    }
    if (!r->use_block && (hl = close_http_line_list(r)) == NULL) rc = CURLE_OUT_OF_MEMORY;
    if (rc == CURLE_OK) rc = close_xfer_setup(e, r, r->use_block ? h->block_list : hl, &h->io, h->share, 0);
    if (rc == CURLE_OK) rc = run(h, e);
    curl_easy_cleanup(e);
    curl_slist_free_all(hl);
    return close_xfer_outcome(rc, &h->io, out, message);
}
