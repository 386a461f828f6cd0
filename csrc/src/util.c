/* Library information, status names, the thread-count setting and large scratch buffers. */
#if defined(__linux__) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE /* posix_memalign, madvise */
#endif
#include "common.h"
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

const char *nashmp_status_string(int status)
{
    switch (status) {
    case NASHMP_OK: return "NASHMP_OK";
    case NASHMP_ERR_NULL_POINTER: return "NASHMP_ERR_NULL_POINTER";
    case NASHMP_ERR_INVALID_SIZE: return "NASHMP_ERR_INVALID_SIZE";
    case NASHMP_ERR_OVERFLOW: return "NASHMP_ERR_OVERFLOW";
    case NASHMP_ERR_INVALID_STRIDE: return "NASHMP_ERR_INVALID_STRIDE";
    case NASHMP_ERR_NONFINITE: return "NASHMP_ERR_NONFINITE";
    case NASHMP_ERR_INVALID_VALUE: return "NASHMP_ERR_INVALID_VALUE";
    case NASHMP_ERR_NO_MEMORY: return "NASHMP_ERR_NO_MEMORY";
    case NASHMP_ERR_UNSUPPORTED: return "NASHMP_ERR_UNSUPPORTED";
    case NASHMP_ERR_OVERLAP: return "NASHMP_ERR_OVERLAP";
    default: return "unknown status";
    }
}

const char *nashmp_version_string(void) { return NASHMP_VERSION_STRING; }

int nashmp_version_number(void)
{
    return 10000 * NASHMP_VERSION_MAJOR + 100 * NASHMP_VERSION_MINOR + NASHMP_VERSION_PATCH;
}

#ifdef _OPENMP
#define NASHMP_OMP_INFO "openmp=yes"
#else
#define NASHMP_OMP_INFO "openmp=no"
#endif
#ifndef NASHMP_CUDA_INFO
#define NASHMP_CUDA_INFO "cuda=no"
#endif

const char *nashmp_build_info(void)
{
    return NASHMP_OMP_INFO " " NASHMP_SIMD_INFO " " NASHMP_CUDA_INFO;
}

/* 0 = OpenMP default (omp_get_max_threads() at call time). Read/written with relaxed atomics
 * where available so concurrent set/get from different threads is not a data race. */
static int nashmp_nthreads_setting = 0;

#if defined(__GNUC__) || defined(__clang__)
#define NASHMP_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define NASHMP_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#else
#define NASHMP_LOAD(p) (*(p))
#define NASHMP_STORE(p, v) (*(p) = (v))
#endif

/* Upper bound of nashmp_set_num_threads: far above any useful oversubscription, low enough that
 * the OpenMP runtime is not asked for a number of threads it cannot create (libgomp exits the
 * process when thread creation fails). */
#define NASHMP_MAX_THREADS 4096

int nashmp_set_num_threads(int n)
{
    if (n > NASHMP_MAX_THREADS)
        return NASHMP_ERR_INVALID_VALUE; /* setting unchanged */
    NASHMP_STORE(&nashmp_nthreads_setting, n > 0 ? n : 0);
    return NASHMP_OK;
}

int nashmp_get_num_threads(void)
{
#ifdef _OPENMP
    int n = NASHMP_LOAD(&nashmp_nthreads_setting);
    return n > 0 ? n : omp_get_max_threads();
#else
    return 1;
#endif
}

int nashmp_threads_for(double work)
{
    int nt = nashmp_get_num_threads();
    double cap = work / NASHMP_MIN_WORK_PER_THREAD;
    if (cap < (double)nt)
        nt = cap < 1.0 ? 1 : (int)cap;
    return nt < 1 ? 1 : nt;
}

/* Scratch of many megabytes read in streams: on Linux 2 MiB aligned and advised for transparent
 * huge pages (as NumPy does for its large arrays): with 4 KiB pages a stream's TLB misses cost
 * it a quarter of the bandwidth here (K = 4000 triangle 32 -> 22 GB/s). */
void *nashmp_alloc_large(size_t bytes)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const size_t al = (size_t)2 << 20;
    void *p = NULL;
    if (bytes > SIZE_MAX - al)
        return NULL;
    bytes = (bytes + al - 1) / al * al;
    if (posix_memalign(&p, al, bytes) != 0)
        return NULL;
    (void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: without it the buffer works as well */
    return p;
#else
    return malloc(bytes ? bytes : 1);
#endif
}

void nashmp_free_large(void *p) { free(p); }
