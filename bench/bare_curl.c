/* The baseline of the cost-per-call benchmark: a bare C program doing what
 * close's create_membership does on the wire, the way a C programmer would
 * write it: one easy handle (one keep-alive connection), the same URL,
 * request headers and JSON body, the response kept in memory.
 *
 *   bare_curl URL N HEADER_LINE... -> prints "wall_us <float> cpu_us <float>"
 * (per call: wall clock, and this process's CPU time) */
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

int main(int argc, char **argv) {
    static const char body[] = "{\"email\":\"jane.doe@acme.com\",\"role_id\":\"user\"}";
    struct curl_slist *headers = NULL;
    buf head = {0}, resp = {0};
    CURL *e;
    long status = 0;
    int i, n;
    double t0;
    clock_t c0;
    if (argc < 3) {
        fprintf(stderr, "usage: bare_curl URL N [HEADER_LINE...]\n");
        return 2;
    }
    n = atoi(argv[2]);
    for (i = 3; i < argc; i++) headers = curl_slist_append(headers, argv[i]);
    headers = curl_slist_append(headers, "Expect:");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, argv[1]);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, keep);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &head);
    t0 = now();
    c0 = clock();
    for (i = 0; i < n; i++) {
        head.len = resp.len = 0;
        if (curl_easy_perform(e) != CURLE_OK) return 1;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200) return 1;
    }
    printf("wall_us %.3f cpu_us %.3f\n", (now() - t0) / n * 1e6, (double)(clock() - c0) / CLOCKS_PER_SEC / n * 1e6);
    curl_easy_cleanup(e);
    curl_slist_free_all(headers);
    free(head.data);
    free(resp.data);
    return 0;
}
