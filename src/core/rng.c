/* xoshiro256** seeded by splitmix64: fast, small state, reproducible everywhere. */
#include <math.h>

#include "cnn.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void cnn_rng_seed(cnn_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t cnn_rng_u64(cnn_rng *r)
{
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

uint32_t cnn_rng_below(cnn_rng *r, uint32_t n)
{
    if (n == 0) return 0;
    /* Lemire's multiply-shift; the tiny bias at 2^32 scale is irrelevant here. */
    return (uint32_t)(((cnn_rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}

float cnn_rng_uniform(cnn_rng *r) { return (float)(cnn_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

float cnn_rng_normal(cnn_rng *r)
{
    /* Box-Muller; one of the pair is dropped to keep the state simple. */
    double u1 = ((double)(cnn_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (double)(cnn_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
