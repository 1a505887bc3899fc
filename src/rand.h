/* The jitter source of one client: xorshift64*. Pure: the same seed gives
 * the same sequence; the caller brings the entropy (the binding mixes the
 * clock, the pid, a counter and an address into the seed, so that clients,
 * processes and nginx workers forked from one master never share a
 * sequence). Not for secrets. */
#ifndef CLOSE_RAND_H
#define CLOSE_RAND_H

typedef struct {
    unsigned long long state;
} close_rand;

void close_rand_seed(close_rand *r, unsigned long long seed);
/* splitmix64: spreads x's bits (near inputs give unrelated outputs) */
unsigned long long close_rand_mix(unsigned long long x);
/* uniform in [0, 1) */
double close_rand_next(close_rand *r);

#endif
