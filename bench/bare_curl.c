/* The baseline of the cost-per-call benchmark: a bare C program doing what
 * close's create_membership does on the wire, the way a C programmer would
 * write it: one easy handle (one keep-alive connection), the same URL,
 * request headers and JSON body, the response kept in memory.
 *
 *   bare_curl [--fresh] URL N HEADER_LINE... -> prints "wall_us <float> cpu_us <float>"
 * (per call: wall clock, and this process's CPU time)
 *
 * --fresh: a new easy handle per request on one multi handle that keeps the
 * connection, as close's transport must do on libcurl before 8.1.0 (a reused
 * handle reads freed memory on a folded first header line, curl #11101).
 * Nothing else of close: the floor that libcurl version puts under close's
 * figure. */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { char *data; size_t len, cap; } buf;

static size_t keep(char *p, size_t size, size_t n, void *ud) {
    buf *b = ud;
    size_t k = size * n;
    if (b->len + k > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        char *d;
        while (cap < b->len + k) cap *= 2;
        if (!(d = realloc(b->data, cap))) return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, k);
    b->len += k;
    return k;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static const char body[] = "{\"email\":\"jane.doe@acme.com\",\"role_id\":\"user\"}";

/* a new easy handle set up for the POST; NULL when libcurl has no memory */
static CURL *post_handle(const char *url, struct curl_slist *headers, buf *head, buf *resp) {
    CURL *e = curl_easy_init();
    if (!e) return NULL;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, keep);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, head);
    return e;
}

/* one POST on a new easy handle run by the multi handle m; 1 when it got a 200 */
static int fresh_post(CURLM *m, const char *url, struct curl_slist *headers, buf *head, buf *resp) {
    CURL *e = post_handle(url, headers, head, resp);
    CURLMsg *msg;
    int running = 1, left, ok = 0;
    long status = 0;
    if (!e) return 0;
    curl_multi_add_handle(m, e);
    while (curl_multi_perform(m, &running) == CURLM_OK && running > 0)
        if (curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK) break;
    while ((msg = curl_multi_info_read(m, &left)) != NULL)
        if (msg->msg == CURLMSG_DONE && msg->data.result == CURLE_OK) ok = 1;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(m, e);
    curl_easy_cleanup(e);
    return ok && status == 200;
}

int main(int argc, char **argv) {
    struct curl_slist *headers = NULL;
    buf head = {0}, resp = {0};
    CURL *e = NULL;
    CURLM *m = NULL;
    long status = 0;
    int i, n, fresh = argc > 1 && strcmp(argv[1], "--fresh") == 0;
    double t0;
    clock_t c0;
    if (fresh) {
        argv++;
        argc--;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: bare_curl [--fresh] URL N [HEADER_LINE...]\n");
        return 2;
    }
    n = atoi(argv[2]);
    for (i = 3; i < argc; i++) headers = curl_slist_append(headers, argv[i]);
    headers = curl_slist_append(headers, "Expect:");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (fresh) m = curl_multi_init();
    else e = post_handle(argv[1], headers, &head, &resp);
    if (fresh ? m == NULL : e == NULL) return 1;
    t0 = now();
    c0 = clock();
    for (i = 0; i < n; i++) {
        head.len = resp.len = 0;
        if (fresh) {
            if (!fresh_post(m, argv[1], headers, &head, &resp)) return 1;
            continue;
        }
        if (curl_easy_perform(e) != CURLE_OK) return 1;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200) return 1;
    }
    printf("wall_us %.3f cpu_us %.3f\n", (now() - t0) / n * 1e6, (double)(clock() - c0) / CLOCKS_PER_SEC / n * 1e6);
    if (e) curl_easy_cleanup(e);
    if (m) curl_multi_cleanup(m);
    curl_slist_free_all(headers);
    free(head.data);
    free(resp.data);
    return 0;
}
