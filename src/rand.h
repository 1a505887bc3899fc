/* The jitter source of one client: xorshift64*, seeded from the clock, the
 * pid, a per-process counter and the caller's mix (an address), so that
 * clients, processes and nginx workers forked from one master never share a
 * sequence. Not for secrets. */
#ifndef CLOSE_RAND_H
#define CLOSE_RAND_H

typedef struct {
    unsigned long long state;
} close_rand;

void close_rand_seed(close_rand *r, unsigned long long mix);
/* uniform in [0, 1) */
double close_rand_next(close_rand *r);

#endif
