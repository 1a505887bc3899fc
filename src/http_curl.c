#include "http_curl.h"

#include <stdlib.h>
#include <string.h>

static size_t buf_append(close_buf *b, const char *p, size_t n) {
    if (b->len + n > b->max) {
        b->overflow = 1;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        char *d;
        while (cap < b->len + n + 1) cap *= 2;
        d = realloc(b->data, cap);
        if (!d) {
            b->overflow = 2;
            return 0;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static void buf_reset(close_buf *b, size_t max) {
    /* large buffers are not kept between calls: memory stays bounded */
    if (b->cap > 65536) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
    b->len = 0;
    b->max = max;
    b->overflow = 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
    return buf_append(&((close_http *)ud)->body, p, size * n) == size * n ? size * n : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
    close_http *h = ud;
    /* a new status line (after 100 Continue, say): keep the final block only */
    if (size * n >= 5 && memcmp(p, "HTTP/", 5) == 0) h->head.len = 0;
    return buf_append(&h->head, p, size * n) == size * n ? size * n : 0;
}

int close_http_init(close_http *h) {
    memset(h, 0, sizeof *h);
    h->easy = curl_easy_init();
    return h->easy != NULL;
}

void close_http_destroy(close_http *h) {
    if (h->easy) curl_easy_cleanup(h->easy);
    h->easy = NULL;
    free(h->body.data);
    free(h->head.data);
    memset(&h->body, 0, sizeof h->body);
    memset(&h->head, 0, sizeof h->head);
}

static const char *kind_of(CURLcode rc) {
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
    case CURLE_URL_MALFORMAT: return "protocol";
    default: return "network";
    }
}

#define SETOPT(opt, val) \
    do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)

const char *close_http_perform(close_http *h, const close_http_request *r, close_http_response *out,
                               const char **message) {
    CURL *e = h->easy;
    CURLcode rc = CURLE_OK;
    struct curl_slist *hl = NULL, *tmp;
    size_t i;
    const char *kind = NULL;

    memset(out, 0, sizeof *out);
    buf_reset(&h->body, r->max_body);
    buf_reset(&h->head, CLOSE_MAX_HEAD);
    h->errbuf[0] = '\0';
    for (i = 0; i < r->nheaders; i++) {
        tmp = curl_slist_append(hl, r->headers[i]);
        if (!tmp) { rc = CURLE_OUT_OF_MEMORY; break; }
        hl = tmp;
    }
    /* curl would otherwise add "Expect: 100-continue" to larger bodies */
    if (rc == CURLE_OK && (tmp = curl_slist_append(hl, "Expect:")) != NULL) hl = tmp;

    SETOPT(CURLOPT_URL, r->url);
    SETOPT(CURLOPT_HTTPHEADER, hl);
    SETOPT(CURLOPT_ERRORBUFFER, h->errbuf);
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
    SETOPT(CURLOPT_WRITEDATA, h);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, h);
    if (r->body) {
        SETOPT(CURLOPT_POSTFIELDSIZE, (long)r->body_len);
        SETOPT(CURLOPT_COPYPOSTFIELDS, r->body);
    } else {
        SETOPT(CURLOPT_HTTPGET, 1L);
    }
    SETOPT(CURLOPT_CUSTOMREQUEST, r->method);
    if (rc == CURLE_OK) rc = curl_easy_perform(e);

    /* the handle keeps no pointer into this call's memory */
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);

    if (h->body.overflow == 1) {
        *message = "response body is larger than max_body";
        return "protocol";
    }
    if (h->head.overflow == 1) {
        *message = "response headers are too large";
        return "protocol";
    }
    if (h->body.overflow || h->head.overflow || rc == CURLE_OUT_OF_MEMORY) {
        *message = "out of memory";
        return "network";
    }
    if (rc != CURLE_OK) {
        kind = kind_of(rc);
        *message = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);
        return kind;
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out->status);
    out->body = h->body.data ? h->body.data : "";
    out->body_len = h->body.len;
    out->head = h->head.data ? h->head.data : "";
    out->head_len = h->head.len;
    return NULL;
}
