/* Shared by the CTest programs: pass/fail counters, CHECK / CHECK_ST, a seeded xorshift
 * generator (define TEST_SEED before including to pick another stream). */
#ifndef NASHMP_TEST_CHECK_H
#define NASHMP_TEST_CHECK_H

#include <stdint.h>
#include <stdio.h>

#include "nashmp/nashmp.h"

static int n_pass = 0, n_fail = 0;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (cond) {                                                                            \
            n_pass++;                                                                          \
        } else {                                                                               \
            n_fail++;                                                                          \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                        \
            printf(__VA_ARGS__);                                                               \
            printf("\n");                                                                      \
        }                                                                                      \
    } while (0)

#define CHECK_ST(call, want)                                                                   \
    do {                                                                                       \
        int st_ = (call);                                                                      \
        CHECK(st_ == (want), "%s -> %s, want %s", #call, nashmp_status_string(st_),            \
              nashmp_status_string(want));                                                     \
    } while (0)

#ifndef TEST_SEED
#define TEST_SEED 0x9E3779B97F4A7C15ull
#endif

static uint64_t rng_state = TEST_SEED;

/* uniform in [0, 1) */
static inline double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * 0x1p-53;
}

#endif /* NASHMP_TEST_CHECK_H */
