/*
 * Internal helpers shared by every libnashmp kernel: argument checks, thread policy,
 * function-multiversioning and inlining macros. Not installed.
 */
#ifndef NASHMP_COMMON_H
#define NASHMP_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "nashmp/nashmp.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- compiler helpers ---------------------------------------------------------------------- */

#if defined(__GNUC__) || defined(__clang__)
#define NASHMP_INLINE static inline __attribute__((always_inline))
#define NASHMP_NOINLINE __attribute__((noinline))
#define NASHMP_RESTRICT __restrict__
#define NASHMP_LIKELY(x) __builtin_expect(!!(x), 1)
#define NASHMP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define NASHMP_INLINE static inline
#define NASHMP_NOINLINE
#define NASHMP_RESTRICT
#define NASHMP_LIKELY(x) (x)
#define NASHMP_UNLIKELY(x) (x)
#endif

/*
 * NASHMP_HOT marks the per-row-block worker functions. On GCC/x86-64 (ELF, ifunc available) they
 * are compiled three times, for x86-64-v4 (AVX-512: the same 256-bit vectors, with EVEX
 * encodings, 32 vector registers and mask registers; 3-12% faster exp kernels on Zen 4), for
 * x86-64-v3 (AVX2 + FMA) and for the baseline, and the loader picks one at run time.
 * Elsewhere (Clang, MSVC, ARM, or -DNASHMP_NO_CLONES) they are plain functions.
 * Everything these workers call is NASHMP_INLINE, so it is compiled for the clone's target.
 * NASHMP_HOT_V3 leaves out the x86-64-v4 clone: for the solver's matrix-vector products, whose
 * v4 code measured slower (packed K = 1000: 190 against 156 us per iteration).
 */
#if !defined(NASHMP_NO_CLONES) && defined(__GNUC__) && !defined(__clang__) &&                 \
    !defined(__INTEL_COMPILER) && defined(__x86_64__) && defined(__ELF__) && (__GNUC__ >= 11)
#define NASHMP_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define NASHMP_HOT_V3 __attribute__((target_clones("arch=x86-64-v3", "default")))
#define NASHMP_SIMD_INFO "simd=x86-64-v4+x86-64-v3+default"
#else
#define NASHMP_HOT
#define NASHMP_HOT_V3
#define NASHMP_SIMD_INFO "simd=compiler-default"
#endif

/* ---- argument checks ----------------------------------------------------------------------- */

/* a*b and a+b for a, b >= 0; nonzero on int64 overflow (portable, no builtins). */
static inline int nashmp_mul_ovf(int64_t a, int64_t b, int64_t *r)
{
    if (b != 0 && a > INT64_MAX / b)
        return 1;
    *r = a * b;
    return 0;
}
static inline int nashmp_add_ovf(int64_t a, int64_t b, int64_t *r)
{
    if (a > INT64_MAX - b)
        return 1;
    *r = a + b;
    return 0;
}

/* Flags of one array argument. */
enum {
    NASHMP_ARR_IN = 0,      /* input: ld == 0 broadcasts, else ld >= row length */
    NASHMP_ARR_OUT = 1,     /* output: ld >= row length unless batch <= 1 */
    NASHMP_ARR_SQUARE = 2,  /* a row is a k x k matrix (row length k*k) instead of k elements */
    NASHMP_ARR_UNUSED = 4,  /* not read (its coefficient is 0): pointer may be NULL, ld ignored */
    NASHMP_ARR_ONE = 8,     /* one element per row (per-row results such as logsumexp's) */
    NASHMP_ARR_PACKED = 16  /* an input row is a strict upper triangle, k(k-1)/2 elements */
};

typedef struct {
    const void *p;
    int64_t ld;
    int flags;
} nashmp_arr;

static inline int64_t nashmp_row_len(int flags, int64_t k, int64_t kk)
{
    return (flags & NASHMP_ARR_SQUARE)   ? kk
           : (flags & NASHMP_ARR_PACKED) ? (kk - k) / 2
           : (flags & NASHMP_ARR_ONE)    ? 1
                                         : k;
}

/*
 * The one argument check used by every kernel. Checks, in this order, and returns the first
 * failure:
 *   1. every used array pointer is non-NULL                          -> NASHMP_ERR_NULL_POINTER
 *   2. batch >= 0 and k >= 1                                         -> NASHMP_ERR_INVALID_SIZE
 *   3. batch * k and k * k (for SQUARE and PACKED arrays) fit in int64 -> NASHMP_ERR_OVERFLOW
 *   4. every ld >= 0; inputs: ld == 0 or ld >= row length; outputs: ld >= row length when
 *      batch > 1                                                     -> NASHMP_ERR_INVALID_STRIDE
 *   5. the extent (batch-1)*ld + row length of every array, in bytes, fits in ptrdiff_t
 *                                                                    -> NASHMP_ERR_OVERFLOW
 * batch == 0 passes (the kernel is then a no-op). Scalars are checked with nashmp_check_finite.
 */
static inline int nashmp_check_args(int64_t batch, int64_t k, size_t elsize, int narr,
                                    const nashmp_arr *arr)
{
    int i;
    int64_t kk = 0, tmp;
    for (i = 0; i < narr; i++)
        if (!(arr[i].flags & NASHMP_ARR_UNUSED) && arr[i].p == NULL)
            return NASHMP_ERR_NULL_POINTER;
    if (batch < 0 || k < 1)
        return NASHMP_ERR_INVALID_SIZE;
    if (nashmp_mul_ovf(batch, k, &tmp))
        return NASHMP_ERR_OVERFLOW;
    for (i = 0; i < narr; i++)
        if (!(arr[i].flags & NASHMP_ARR_UNUSED) &&
            (arr[i].flags & (NASHMP_ARR_SQUARE | NASHMP_ARR_PACKED)))
            if (nashmp_mul_ovf(k, k, &kk))
                return NASHMP_ERR_OVERFLOW;
    for (i = 0; i < narr; i++) {
        int64_t len = nashmp_row_len(arr[i].flags, k, kk), ld = arr[i].ld;
        if (arr[i].flags & NASHMP_ARR_UNUSED)
            continue;
        if (ld < 0)
            return NASHMP_ERR_INVALID_STRIDE;
        if (arr[i].flags & NASHMP_ARR_OUT) {
            if (batch > 1 && ld < len)
                return NASHMP_ERR_INVALID_STRIDE;
        } else if (ld != 0 && ld < len) {
            return NASHMP_ERR_INVALID_STRIDE;
        }
    }
    for (i = 0; i < narr; i++) {
        int64_t len = nashmp_row_len(arr[i].flags, k, kk), ext;
        if ((arr[i].flags & NASHMP_ARR_UNUSED) || batch == 0)
            continue;
        if (nashmp_mul_ovf(batch - 1, arr[i].ld, &ext) ||
            nashmp_add_ovf(ext, len, &ext) ||
            (uint64_t)ext > (uint64_t)PTRDIFF_MAX / elsize)
            return NASHMP_ERR_OVERFLOW;
    }
    return NASHMP_OK;
}

/* 1 when the elements spanned by two checked arrays (batch rows of row_len elements, ld apart;
 * ld 0: one row) share a byte. */
static inline int nashmp_spans_overlap(const void *a, int64_t lda, int64_t lena, const void *b,
                                       int64_t ldb, int64_t lenb, int64_t batch, size_t elsize)
{
    const uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
    const uintptr_t ea = pa + (uintptr_t)((batch - 1) * lda + lena) * elsize;
    const uintptr_t eb = pb + (uintptr_t)((batch - 1) * ldb + lenb) * elsize;
    return batch > 0 && pa < eb && pb < ea;
}

/* The preference operator's products read all of a game's pi and P while writing its out:
 * NASHMP_ERR_OVERLAP when out's elements overlap those of pi or P (arguments checked). */
static inline int nashmp_pref_overlap(const void *P, int64_t ldP, const void *pi, int64_t ldpi,
                                      int64_t batch, int64_t k, const void *out, int64_t ldo,
                                      size_t elsize)
{
    return nashmp_spans_overlap(out, ldo, k, pi, ldpi, k, batch, elsize) ||
                   nashmp_spans_overlap(out, ldo, k, P, ldP, k * k, batch, elsize)
               ? NASHMP_ERR_OVERLAP
               : NASHMP_OK;
}

/* NASHMP_OK if x is finite, else NASHMP_ERR_INVALID_VALUE. */
static inline int nashmp_check_finite(double x)
{
    return (x - x == 0.0) ? NASHMP_OK : NASHMP_ERR_INVALID_VALUE;
}

#define NASHMP_IN(p, ld) {(const void *)(p), (ld), NASHMP_ARR_IN}
#define NASHMP_OUT(p, ld) {(const void *)(p), (ld), NASHMP_ARR_OUT}
/* Output of one value per row, contiguous. */
#define NASHMP_OUT1(p) {(const void *)(p), 1, NASHMP_ARR_OUT | NASHMP_ARR_ONE}

/* Checks the arrays given as NASHMP_IN(...)/NASHMP_OUT(...) initializers; returns on failure. */
#define NASHMP_CHECK(batch, k, T, ...)                                                         \
    do {                                                                                       \
        const nashmp_arr nashmp_arrs_[] = {__VA_ARGS__};                                       \
        int nashmp_st_ = nashmp_check_args((batch), (k), sizeof(T),                            \
                                           (int)(sizeof nashmp_arrs_ / sizeof nashmp_arrs_[0]), \
                                           nashmp_arrs_);                                      \
        if (nashmp_st_ != NASHMP_OK)                                                           \
            return nashmp_st_;                                                                 \
    } while (0)

/* ---- threads ------------------------------------------------------------------------------- */

/* Minimum work (in element-operations) per thread before a parallel region is worth its cost. */
#define NASHMP_MIN_WORK_PER_THREAD 32768.0

/* Thread count for a region of `work` element-operations: 1 for small work. (util.c) */
int nashmp_threads_for(double work);

/* Scratch of `bytes` for large streamed buffers (NULL when it cannot be allocated); released by
 * nashmp_free_large (NULL is a no-op). (util.c) */
void *nashmp_alloc_large(size_t bytes);
void nashmp_free_large(void *p);

/* This thread's share [*r0, *r1) of n items under a static split (call inside a region). */
static inline void nashmp_split(int64_t n, int64_t *r0, int64_t *r1)
{
#ifdef _OPENMP
    int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
    int64_t t = 0, nt = 1;
#endif
    int64_t q = n / nt, rem = n % nt;
    *r0 = t * q + (t < rem ? t : rem);
    *r1 = *r0 + q + (t < rem ? 1 : 0);
}

#endif /* NASHMP_COMMON_H */
