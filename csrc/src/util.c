/* Library information, status names and the thread-count setting. */
#include "common.h"

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
