/* rng.c - xoshiro256** (Blackman & Vigna) seeded through splitmix64, and a
   normal sampler by Marsaglia's polar method. Pure integer arithmetic up to the
   final log/sqrt, so the same seed gives the same numbers on every machine. */
#include "internal.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void mlpf_rng_seed(mlpf_rng *r, uint64_t seed) {
    uint64_t st = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&st);
}

uint64_t mlpf_rng_next(mlpf_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double mlpf_rng_uniform(mlpf_rng *r) { return (double)(mlpf_rng_next(r) >> 11) * 0x1.0p-53; }

double mlpf_rng_normal(mlpf_rng *r) {
    /* One of the polar pair is discarded: keeping no cached value keeps the
       generator's whole state in its four words. */
    for (;;) {
        double u = 2.0 * mlpf_rng_uniform(r) - 1.0, v = 2.0 * mlpf_rng_uniform(r) - 1.0;
        double s = u * u + v * v;
        if (s > 0.0 && s < 1.0) return u * sqrt(-2.0 * log(s) / s);
    }
}
