/* See http_multi.h. */
#include "http_multi.h"

#include <stdlib.h>
#include <string.h>

int close_multi_init(close_multi *m, long max_host) {
    memset(m, 0, sizeof *m);
    close_http_global_init();
    m->multi = curl_multi_init();
    m->share = curl_share_init();
    if (!m->multi || !m->share ||
        curl_share_setopt(m->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK ||
        curl_share_setopt(m->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK) {
        close_multi_destroy(m);
        return 0;
    }
    if (max_host > 0) curl_multi_setopt(m->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host);
    curl_multi_setopt(m->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    m->next_id = 1;
    return 1;
}

int close_multi_is_open(const close_multi *m) { return m->multi != NULL; }

static void release(close_header_set *set) {
    if (set && --set->refs == 0) {
        curl_slist_free_all(set->list);
        free(set->block);
        free(set);
    }
}

const char *close_multi_set_headers(close_multi *m, const char *block, size_t len) {
    close_header_set *set;
    const char *why;
    if (m->set && m->set->len == len && memcmp(m->set->block, block, len) == 0) return NULL;
    if ((set = calloc(1, sizeof *set)) == NULL || (set->block = malloc(len + 1)) == NULL) {
        free(set);
        return "out of memory";
    }
    if ((set->list = close_http_block_list(block, len, &why)) == NULL) {
        free(set->block);
        free(set);
        return why;
    }
    memcpy(set->block, block, len);
    set->block[len] = '\0';
    set->len = len;
    set->refs = 1;
    release(m->set); /* transfers still running keep theirs */
    m->set = set;
    return NULL;
}

void close_multi_free(close_multi_xfer *x) {
    if (!x) return;
    if (x->easy) curl_easy_cleanup(x->easy); /* before its header list goes */
    curl_slist_free_all(x->headers);
    release(x->set);
    close_xfer_free(&x->io);
    free(x);
}

/* unlinks x from m, removing its handle from the multi if it still runs */
static void detach(close_multi *m, close_multi_xfer *x) {
    close_multi_xfer **p = &m->xfers;
    while (*p && *p != x) p = &(*p)->next;
    if (*p) *p = x->next;
    x->next = NULL;
    if (x->easy && !x->done) {
        m->running--;
        curl_multi_remove_handle(m->multi, x->easy); /* a finished one has left already */
    }
}

void close_multi_destroy(close_multi *m) {
    while (m->xfers) {
        close_multi_xfer *x = m->xfers;
        detach(m, x);
        close_multi_free(x);
    }
    if (m->multi) curl_multi_cleanup(m->multi);
    if (m->share) curl_share_cleanup(m->share);
    release(m->set);
    m->set = NULL;
    m->multi = NULL;
    m->share = NULL;
    m->running = 0;
}

long close_multi_start(close_multi *m, const close_http_request *r, struct curl_slist *headers,
                       const char **message) {
    close_multi_xfer *x = calloc(1, sizeof *x);
    CURLcode rc;
    if (!x || (x->easy = curl_easy_init()) == NULL || (r->use_block && !m->set)) {
        *message = x && x->easy ? "no header lines were set" : "out of memory";
        if (x && x->easy) curl_easy_cleanup(x->easy);
        free(x);
        curl_slist_free_all(headers);
        return 0;
    }
    if (r->use_block) {
        curl_slist_free_all(headers);
        x->set = m->set;
        x->set->refs++;
    } else {
        x->headers = headers;
    }
    close_xfer_reset(&x->io, r->max_body);
    rc = close_xfer_setup(x->easy, r, x->set ? x->set->list : headers, &x->io, m->share, 1);
    /* wait for a multiplexed HTTP/2 connection rather than open another */
    if (rc == CURLE_OK) rc = curl_easy_setopt(x->easy, CURLOPT_PIPEWAIT, 1L);
    if (rc == CURLE_OK) rc = curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (void *)x);
    if (rc != CURLE_OK || curl_multi_add_handle(m->multi, x->easy) != CURLM_OK) {
        close_multi_free(x);
        *message = rc == CURLE_OK ? "cannot start the transfer" : curl_easy_strerror(rc);
        return 0;
    }
    x->id = m->next_id++;
    x->next = m->xfers;
    m->xfers = x;
    m->running++;
    return x->id;
}

/* moves what curl reports as done to done */
static int collect(close_multi *m) {
    CURLMsg *msg;
    int left, finished = 0;
    close_multi_xfer *x;
    while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
        void *p = NULL;
        if (msg->msg != CURLMSG_DONE) continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&p);
        x = p;
        if (!x || x->done) continue;
        x->done = 1;
        x->rc = msg->data.result;
        m->running--;
        /* the handle leaves the multi now; its connection stays in the pool */
        curl_multi_remove_handle(m->multi, x->easy);
    }
    for (x = m->xfers; x; x = x->next) finished += x->done;
    return finished;
}

int close_multi_wait(close_multi *m, double timeout) {
    int still, finished;
    CURLMcode mc = curl_multi_perform(m->multi, &still);
    finished = collect(m);
    if (finished > 0 || mc != CURLM_OK || m->running == 0) return finished;
    if (!(timeout > 0)) return finished;
    if (timeout > 3600) timeout = 3600;
#if LIBCURL_VERSION_NUM >= 0x074200
    mc = curl_multi_poll(m->multi, NULL, 0, (int)(timeout * 1000), NULL);
#else
    mc = curl_multi_wait(m->multi, NULL, 0, (int)(timeout * 1000), NULL);
#endif
    if (mc == CURLM_OK) curl_multi_perform(m->multi, &still);
    return collect(m);
}

close_multi_xfer *close_multi_done(close_multi *m) {
    close_multi_xfer *x;
    for (x = m->xfers; x; x = x->next)
        if (x->done) {
            detach(m, x);
            return x;
        }
    return NULL;
}

int close_multi_cancel(close_multi *m, long id) {
    close_multi_xfer *x;
    for (x = m->xfers; x; x = x->next)
        if (x->id == id) {
            detach(m, x);
            close_multi_free(x);
            return 1;
        }
    return 0;
}

int close_multi_running(const close_multi *m) { return m->running; }
