"""``nashmp bench``: speed of nashmp's kernels and solvers beside what a user would otherwise use.

The measurement protocol (see ``bench/README.md``):

* competitors of one row run in the same process in interleaved rounds (A B C A B C ...,
  >= 7 rounds, each sample >= 30 ms by repeating the call); medians and min-max are reported and
  every ratio is computed inside the run;
* every competitor's result is checked against a float64 reference before it is timed (a wrong
  result is an error, never a timing); first-call costs (JIT compilation, tracing) are reported
  apart from the steady state;
* the machine's floors are measured in the same run: memory read bandwidth (in cache and DRAM), a
  STREAM-like triad (Numba ``parallel=True`` kernels, 1 thread and all threads), ``np.exp``
  throughput (float32 and float64, in cache; "all threads" runs one NumPy call per thread), and a
  BLAS GEMM rate; each row reports its achieved GB/s and Gelem/s and the fraction of the floor
  that binds it;
* thread counts are set explicitly and recorded; the benchmark runs in a child process whose
  environment has ``OMP_WAIT_POLICY=PASSIVE`` and no ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE``
  (they are read when the libraries load, so they cannot be changed in a running process);
  the machine's busy % is sampled from ``/proc/stat`` before and after.

Entry points: :func:`main` (the ``nashmp bench`` command), :func:`run` (one measurement run in
this process), :func:`compare` (regression check between two JSON files) and ``python -m
nashmp._bench {run,compare} ...``. ``bench/`` in the source tree holds the pytest-benchmark suite
and ``bench/run.py``, both built on this module.
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import subprocess
import sys
import time
import warnings

import numpy as np

__all__ = ["main", "run", "compare", "interleaved", "measure_floors", "kernel_inputs",
           "kernel_reference", "kernel_competitors", "check_result", "random_preference",
           "numpy_nash_mp", "machine_info", "thread_info", "busy_percent"]

SCHEMA = 1
F64, F32 = np.dtype(np.float64), np.dtype(np.float32)
MiB = 1 << 20
CACHE_LIMIT = 8 * MiB          # "in-cache" working set
DRAM_LIMIT = 128 * MiB         # "DRAM" working set
CHILD_FLAG = "NASHMP_BENCH_CHILD"
UNSET_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
KERNELS = ("logsumexp", "log_softmax", "softmax", "kl", "mirror_step", "preference_apply")
NASHMP_BACKENDS = ("c", "numba")
BASELINES = ("numpy", "scipy", "torch", "jax")
# Nash-MP coefficients for eta = 2, beta = 0.1: a = 1/(1+eta beta), b = 1 - a, c = eta a
MS_COEF = (1.0 / 1.2, 0.2 / 1.2, 2.0 / 1.2)
TOL = {F64: 1e-9, F32: 1e-4}   # relative to the row's scale (see check_result)
SOLVER_METHODS = ("nash_mp", "extragradient", "omwu", "mmd", "omd", "nash_md", "sppo",
                  "prox_point")


def _nsize(n):
    return f"{n:.0e}".replace("e+0", "e") if n >= 10_000 and n % 10 ** int(math.log10(n)) == 0 \
        else str(n)


def fmt_time(s):
    if s is None or not np.isfinite(s):
        return "-"
    if s < 1e-6:
        return f"{s * 1e9:.0f} ns"
    if s < 1e-3:
        return f"{s * 1e6:.3g} us"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


# ---------------------------------------------------------------------------------------------
# environment, machine, threads, load
# ---------------------------------------------------------------------------------------------

def bench_env(threads, base=None):
    """Environment of a benchmark process using ``threads`` threads."""
    env = dict(os.environ if base is None else base)
    for v in UNSET_VARS:
        env.pop(v, None)
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    env["OMP_NUM_THREADS"] = str(threads)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    env["MKL_NUM_THREADS"] = str(threads)
    env.setdefault("NUMBA_NUM_THREADS", str(os.cpu_count() or 1))   # floors use all cores
    flags = env.get("XLA_FLAGS", "")
    if threads == 1 and "intra_op_parallelism_threads" not in flags:
        flags = (flags + " --xla_cpu_multi_thread_eigen=false "
                 "intra_op_parallelism_threads=1").strip()
    if flags:
        env["XLA_FLAGS"] = flags
    env["JAX_PLATFORMS"] = env.get("JAX_PLATFORMS", "cpu")
    env["JAX_ENABLE_X64"] = "1"
    env[CHILD_FLAG] = "1"
    return env


def env_ok():
    """True when this process was started with the benchmark environment."""
    return (os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"
            and not any(v in os.environ for v in UNSET_VARS))


def _cpu_times():
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return idle, sum(vals[:8])


def busy_percent(window=0.5):
    """Busy % of the whole machine over ``window`` seconds (this process sleeps meanwhile)."""
    try:
        i0, t0 = _cpu_times()
        time.sleep(window)
        i1, t1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return None
    return round(100.0 * (1.0 - (i1 - i0) / max(t1 - t0, 1)), 1)


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def machine_info():
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    flags = ""
    try:
        from .cli import _cpu_flags
        flags = _cpu_flags()
    except Exception:  # noqa: BLE001
        pass
    caches = {}
    for idx in range(5):
        lvl = _read(f"/sys/devices/system/cpu/cpu0/cache/index{idx}/level")
        typ = _read(f"/sys/devices/system/cpu/cpu0/cache/index{idx}/type")
        size = _read(f"/sys/devices/system/cpu/cpu0/cache/index{idx}/size")
        if lvl and typ != "Instruction":
            caches[f"L{lvl}"] = size
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = f.readline().split(":", 1)[1].strip()
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "flags": flags, "caches": caches,
            "memory": mem, "platform": platform.platform(), "python": platform.python_version(),
            "hostname_hash": hash(platform.node()) & 0xffff}


def _versions():
    out = {"numpy": np.__version__}
    try:
        import nashmp
        out["nashmp"] = nashmp.__version__
        from ._backend import c_lib
        ffi, lib = c_lib()
        out["libnashmp_build"] = ffi.string(lib.nashmp_build_info()).decode()
    except Exception as exc:  # noqa: BLE001
        out["libnashmp_build"] = f"unavailable ({exc})"
    for mod in ("numba", "scipy", "torch", "jax", "jaxlib", "threadpoolctl", "matplotlib"):
        m = sys.modules.get(mod)
        if m is not None:
            out[mod] = getattr(m, "__version__", "?")
    return out


def thread_info():
    info = {v: os.environ.get(v) for v in
            ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "MKL_NUM_THREADS", "XLA_FLAGS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
             "NASHMP_BACKEND")}
    try:
        import nashmp
        info["nashmp_c_threads"] = nashmp.get_num_threads()
    except Exception as exc:  # noqa: BLE001
        info["nashmp_c_threads"] = f"unavailable ({exc})"
    nb = sys.modules.get("numba")
    if nb is not None:
        info["numba_threads"] = nb.get_num_threads()
        try:
            info["numba_threading_layer"] = nb.threading_layer()
        except Exception:  # noqa: BLE001  (no parallel kernel run yet)
            info["numba_threading_layer"] = nb.config.THREADING_LAYER
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
        info["torch_interop_threads"] = torch.get_num_interop_threads()
    try:
        import threadpoolctl
        info["threadpoolctl"] = [
            {k: d.get(k) for k in ("user_api", "internal_api", "prefix", "version",
                                   "num_threads", "architecture", "threading_layer")}
            for d in threadpoolctl.threadpool_info()]
    except ImportError:
        info["threadpoolctl"] = "not installed"
    return info


# ---------------------------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------------------------

def _time_reps(fn, reps):
    c0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    t = time.perf_counter() - t0
    return t, time.process_time() - c0


def calibrate(fn, min_time):
    """Repetitions making one sample last at least ``min_time`` seconds."""
    reps = 1
    while True:
        t, _ = _time_reps(fn, reps)
        if t >= min_time or reps >= 10 ** 8:
            return reps
        reps = max(reps + 1, min(reps * 100, int(math.ceil(reps * min_time * 1.3 / max(t, 1e-7)))))


def _summary(per_call, cpu):
    a = np.asarray(per_call)
    return {"median_s": float(np.median(a)), "min_s": float(a.min()), "max_s": float(a.max()),
            "samples_s": [float(v) for v in a],
            "cpu_per_wall": round(float(np.median(cpu)), 2) if len(cpu) else None}


def interleaved(fns, *, rounds=7, min_time=0.03, reps=None, warmup=0):
    """Time the callables of ``fns`` (name -> zero-argument callable) in interleaved rounds,
    after ``warmup`` untimed ones.

    Returns name -> {median_s, min_s, max_s, samples_s, reps, cpu_per_wall} where times are per
    call. ``cpu_per_wall`` (process CPU time / wall time) tells how many threads were busy.
    """
    reps = dict(reps or {})
    for name, fn in fns.items():
        if name not in reps:
            reps[name] = calibrate(fn, min_time)
    per = {n: [] for n in fns}
    cpu = {n: [] for n in fns}
    was = gc.isenabled()
    gc.collect(0)
    gc.disable()            # the garbage collector stays off during the rounds
    try:
        for _ in range(warmup):
            for name, fn in fns.items():
                _time_reps(fn, reps[name])
        for _ in range(rounds):
            for name, fn in fns.items():
                t, c = _time_reps(fn, reps[name])
                per[name].append(t / reps[name])
                cpu[name].append(c / t if t > 0 else 0.0)
    finally:
        if was:
            gc.enable()
    out = {}
    for name in fns:
        out[name] = _summary(per[name], cpu[name])
        out[name]["reps"] = reps[name]
    return out


# ---------------------------------------------------------------------------------------------
# machine floors
# ---------------------------------------------------------------------------------------------

_FLOOR_KERNELS = None


def _floor_kernels():
    global _FLOOR_KERNELS
    if _FLOOR_KERNELS is None:
        import numba

        @numba.njit(parallel=True, fastmath=True, cache=True)
        def read_sum(a):
            s = 0.0
            for i in numba.prange(a.size):
                s += a[i]
            return s

        @numba.njit(parallel=True, cache=True)
        def triad(a, b, c, s):
            for i in numba.prange(a.size):
                a[i] = b[i] + s * c[i]

        _FLOOR_KERNELS = (read_sum, triad)
    return _FLOOR_KERNELS


def _median_rate(fn, amount, rounds, min_time):
    reps = calibrate(fn, min_time)
    rates = []
    for _ in range(rounds):
        t, _ = _time_reps(fn, reps)
        rates.append(amount * reps / t)
    # a floor is the best the machine does: the fastest round (other load only slows it down)
    return float(max(rates)), float(min(rates)), float(np.median(rates))


def _exp_threads(x, out, nthreads, reps):
    """Aggregate np.exp throughput with one NumPy call per thread (ufuncs release the GIL)."""
    from concurrent.futures import ThreadPoolExecutor
    chunks = np.array_split(np.arange(x.size), nthreads)
    xs = [x[c[0]:c[-1] + 1] for c in chunks]
    os_ = [out[c[0]:c[-1] + 1] for c in chunks]

    def work(i):
        for _ in range(reps):
            np.exp(xs[i], out=os_[i])

    with ThreadPoolExecutor(nthreads) as ex:
        list(ex.map(work, range(nthreads)))      # warm the pool
        t0 = time.perf_counter()
        list(ex.map(work, range(nthreads)))
        return time.perf_counter() - t0


def measure_floors(*, quick=False, rounds=7, min_time=0.03, log=print):
    """Memory bandwidth, triad, exp and GEMM rates of this machine, measured now.

    Bandwidths in GB/s (1e9 bytes/s), exp in Gelem/s, GEMM in GFLOP/s; each as
    {"1": best round at 1 thread, "all": at all cores}; "range" holds [min, median] over rounds.
    """
    import numba
    read_sum, triad = _floor_kernels()
    ncpu = os.cpu_count() or 1
    prev = numba.get_num_threads()
    fl = {"method": {
        "read": "Numba parallel=True fastmath sum over a float64 array (prange, set_num_threads)",
        "triad": "Numba parallel=True a[i] = b[i] + s*c[i], float64, 3 arrays counted (STREAM)",
        "exp": "np.exp(x, out=y) on 2**16 elements in [-10, 0] (in L2); 'all' = one call per "
               "thread from a thread pool",
        "gemm": "numpy matmul 600x600 (BLAS, threadpoolctl-limited)"},
        "threads_all": ncpu, "statistic": "fastest of the rounds (range: [slowest, median])"}
    n_dram = 256 * MiB // 8                            # 256 MiB: 8x the L3
    n_tri = (64 if quick else 128) * MiB // 8          # 64 or 128 MiB per array, 3 arrays
    n_l3 = 4 * MiB // 8                                # 4 MiB
    big = np.ones(n_dram)
    small = np.ones(n_l3)
    ta, tb, tc = np.empty(n_tri), np.ones(n_tri), np.ones(n_tri)
    read_sum(small[:16])
    triad(ta[:16], tb[:16], tc[:16], 2.0)
    res = {}
    try:
        for label, nt in (("1", 1), ("all", ncpu)):
            numba.set_num_threads(nt)
            res.setdefault("dram_read_GBs", {})[label] = _median_rate(
                lambda: read_sum(big), big.nbytes / 1e9, rounds, min_time)
            res.setdefault("cache_read_GBs", {})[label] = _median_rate(
                lambda: read_sum(small), small.nbytes / 1e9, rounds, min_time)
            res.setdefault("triad_GBs", {})[label] = _median_rate(
                lambda: triad(ta, tb, tc, 3.0), 3 * ta.nbytes / 1e9, rounds, min_time)
    finally:
        numba.set_num_threads(prev)
    big = ta = tb = tc = small = None      # free 640 MiB before the rest of the run
    rng = np.random.default_rng(1)
    for dt in (F64, F32):
        x = rng.uniform(-10, 0, 1 << 16).astype(dt)
        y = np.empty_like(x)
        r1 = _median_rate(lambda: np.exp(x, out=y), x.size / 1e9, rounds, min_time)
        xs = np.concatenate([x] * ncpu)
        ys = np.empty_like(xs)
        reps = max(1, int(min_time * r1[0] * 1e9 / x.size))
        rates = [xs.size * reps / _exp_threads(xs, ys, ncpu, reps) / 1e9 for _ in range(rounds)]
        res[f"exp_{dt.name}_Gelems"] = {"1": r1, "all": (float(max(rates)), min(rates),
                                                         float(np.median(rates)))}
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    for dt in (F64, F32):
        a = rng.standard_normal((600, 600)).astype(dt)
        b = rng.standard_normal((600, 600)).astype(dt)
        g = {}
        for label, nt in (("1", 1), ("all", ncpu)):
            if threadpool_limits is not None:
                with threadpool_limits(limits=nt, user_api="blas"):
                    g[label] = _median_rate(lambda: a @ b, 2e-9 * 600 ** 3, rounds, min_time)
            elif label == "1":
                g[label] = _median_rate(lambda: a @ b, 2e-9 * 600 ** 3, rounds, min_time)
        res[f"gemm_{dt.name}_GFLOPs"] = g
    for k, v in res.items():
        fl[k] = {lab: round(t[0], 3) for lab, t in v.items()}
        fl.setdefault("range", {})[k] = {lab: [round(t[1], 3), round(t[2], 3)]
                                         for lab, t in v.items()}
    return fl


def _floor_value(floors, key, threads):
    d = floors.get(key, {})
    lab = "1" if threads == 1 else "all"
    return d.get(lab) or d.get("1")


def mem_label(nbytes):
    if nbytes <= CACHE_LIMIT:
        return "cache"
    if nbytes >= DRAM_LIMIT:
        return "DRAM"
    return "L3/DRAM"


def _l3_bytes():
    s = machine_info()["caches"].get("L3") or "32768K"
    mult = {"K": 1 << 10, "M": 1 << 20}.get(s[-1], 1)
    try:
        return int(s[:-1] if s[-1] in "KM" else s) * mult
    except ValueError:
        return 32 * MiB


def floor_time(floors, threads, *, nbytes=0, exps=0, dtype=F64, flops=0, l3=None):
    """Lower bound on the time of a row and which resource binds it."""
    l3 = _l3_bytes() if l3 is None else l3
    bw_key = "cache_read_GBs" if nbytes <= 0.75 * l3 else "dram_read_GBs"
    cands = {}
    bw = _floor_value(floors, bw_key, threads)
    if nbytes and bw:
        cands["bw-" + ("cache" if bw_key.startswith("cache") else "DRAM")] = nbytes / (bw * 1e9)
    er = _floor_value(floors, f"exp_{np.dtype(dtype).name}_Gelems", threads)
    if exps and er:
        cands["exp"] = exps / (er * 1e9)
    gr = _floor_value(floors, f"gemm_{np.dtype(dtype).name}_GFLOPs", threads)
    if flops and gr:
        cands["gemm"] = flops / (gr * 1e9)
    if not cands:
        return None, None
    kind = max(cands, key=cands.get)
    return cands[kind], kind


# ---------------------------------------------------------------------------------------------
# kernel rows: inputs, float64 reference, competitors, checks
# ---------------------------------------------------------------------------------------------

def _lse64(x, keepdims=False):
    m = np.max(x, axis=-1, keepdims=True)
    r = m + np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))
    return r if keepdims else r[..., 0]


def random_preference(n, K, rng=None, dtype=F64):
    """``n`` random intransitive preference matrices ``sigmoid(S)``, S skew-symmetric Gaussian
    (so ``P + P^T = 1``), shape (n, K, K)."""
    rng = np.random.default_rng(0) if rng is None else rng
    A = rng.standard_normal((n, K, K))
    A -= np.swapaxes(A, -1, -2).copy()
    A *= -1.0 / np.sqrt(2.0)
    np.exp(A, out=A)
    A += 1.0
    np.reciprocal(A, out=A)
    return A.astype(dtype, copy=False)


def kernel_inputs(kernel, B, K, dtype, *, shared=True, seed=0):
    """Inputs of one kernel row, as a dict of NumPy arrays of ``dtype`` (plus coefficients)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if kernel in ("logsumexp", "log_softmax", "softmax"):
        return {"x": (3.0 * rng.standard_normal((B, K))).astype(dtype)}
    if kernel == "kl":
        lp = rng.standard_normal((B, K))
        lq = rng.standard_normal((B, K))
        return {"logp": (lp - _lse64(lp, True)).astype(dtype),
                "logq": (lq - _lse64(lq, True)).astype(dtype)}
    if kernel == "mirror_step":
        lp = rng.standard_normal((B, K))
        lr = rng.standard_normal((B, K))
        return {"log_pi": (lp - _lse64(lp, True)).astype(dtype),
                "log_ref": (lr - _lse64(lr, True)).astype(dtype),
                "g": rng.random((B, K)).astype(dtype)}
    if kernel == "preference_apply":
        P = random_preference(1 if shared else B, K, rng, dtype)
        z = rng.standard_normal((B, K))
        pi = np.exp(z - _lse64(z, True)).astype(dtype)
        return {"P": P[0] if shared else P, "pi": pi}
    raise ValueError(f"unknown kernel {kernel!r}")


def kernel_reference(kernel, inp):
    """The float64 reference result of a kernel row (inputs upcast to float64)."""
    f = {k: np.asarray(v, dtype=np.float64) for k, v in inp.items()}
    a, b, c = MS_COEF
    if kernel == "logsumexp":
        return _lse64(f["x"])
    if kernel == "log_softmax":
        return f["x"] - _lse64(f["x"], True)
    if kernel == "softmax":
        return np.exp(f["x"] - _lse64(f["x"], True))
    if kernel == "kl":
        return np.sum(np.exp(f["logp"]) * (f["logp"] - f["logq"]), axis=-1)
    if kernel == "mirror_step":
        z = a * f["log_pi"] + b * f["log_ref"] + c * f["g"]
        return z - _lse64(z, True)
    if kernel == "preference_apply":
        P, pi = f["P"], f["pi"]
        return pi @ P.T if P.ndim == 2 else np.einsum("bij,bj->bi", P, pi)
    raise ValueError(kernel)


def to_numpy(r):
    if isinstance(r, np.ndarray):
        return r
    if hasattr(r, "detach"):                   # torch
        return r.detach().cpu().numpy()
    return np.asarray(r)


def check_result(kernel, out, ref, dtype):
    """(ok, max error / allowed error) of a competitor's output against the float64 reference."""
    out = np.asarray(to_numpy(out), dtype=np.float64)
    if out.shape != ref.shape:
        try:
            out = out.reshape(ref.shape)
        except ValueError:
            return False, float("inf")
    tol = TOL[np.dtype(dtype)]
    scale = np.max(np.abs(ref)) if kernel in ("softmax", "preference_apply") else \
        max(1.0, float(np.max(np.abs(ref))))
    err = np.abs(out - ref)
    allowed = tol * (scale + np.abs(ref))
    if not np.all(np.isfinite(out)):
        return False, float("inf")
    worst = float(np.max(err / allowed))
    return worst <= 1.0, worst


class Unavailable(Exception):
    """A competitor that cannot run here (library missing): skipped, not an error."""


_MODS = {}
_THREADS_SET = []      # the thread count of this run, once set (applied to late imports)


def _import(name):
    if name in _MODS:
        if isinstance(_MODS[name], Exception):
            raise Unavailable(f"{name} is not installed ({_MODS[name]})")
        return _MODS[name]
    try:
        if name == "scipy":
            import scipy.special as mod
        elif name == "torch":
            import torch as mod
            if _THREADS_SET:
                mod.set_num_threads(_THREADS_SET[0])
        elif name == "jax":
            import jax
            jax.config.update("jax_enable_x64", True)
            jax.config.update("jax_platforms", "cpu")
            mod = jax
        else:
            mod = __import__(name)
    except Exception as exc:  # noqa: BLE001
        _MODS[name] = exc
        raise Unavailable(f"{name} is not installed ({type(exc).__name__}: {exc})") from None
    _MODS[name] = mod
    return mod


def available_baselines():
    out = {}
    for n in BASELINES:
        try:
            m = _import(n) if n != "numpy" else np
            out[n] = getattr(m, "__version__", None) or getattr(sys.modules.get(n), "__version__",
                                                                 "?")
        except Unavailable as exc:
            out[n] = f"skipped: {exc}"
    return out


def _nashmp_fn(kernel, backend, inp):
    import nashmp
    try:
        import nashmp._backend as nb_
        if not nb_.is_available(backend):
            raise Unavailable(f"nashmp backend {backend!r} is not available")
    except ImportError as exc:
        raise Unavailable(str(exc)) from None
    a, b, c = MS_COEF
    if kernel in ("logsumexp", "log_softmax", "softmax"):
        f, x = getattr(nashmp, kernel), inp["x"]
        return lambda: f(x, backend=backend)
    if kernel == "kl":
        lp, lq = inp["logp"], inp["logq"]
        return lambda: nashmp.kl(lp, lq, backend=backend)
    if kernel == "mirror_step":
        lp, lr, g = inp["log_pi"], inp["log_ref"], inp["g"]
        return lambda: nashmp.mirror_step(lp, lr, g, a, b, c, backend=backend)
    P, pi = inp["P"], inp["pi"]
    return lambda: nashmp.preference_apply(P, pi, backend=backend)


def _np_lse(x, keepdims=False):
    m = x.max(axis=-1, keepdims=True)
    r = m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True))
    return r if keepdims else r[..., 0]


def _numpy_fn(kernel, inp):
    """Reference-style direct NumPy code (what a user would write)."""
    a, b, c = MS_COEF
    if kernel == "logsumexp":
        x = inp["x"]
        return lambda: _np_lse(x)
    if kernel == "log_softmax":
        x = inp["x"]
        return lambda: x - _np_lse(x, True)
    if kernel == "softmax":
        x = inp["x"]

        def softmax():
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            e /= e.sum(axis=-1, keepdims=True)
            return e
        return softmax
    if kernel == "kl":
        lp, lq = inp["logp"], inp["logq"]
        return lambda: (np.exp(lp) * (lp - lq)).sum(axis=-1)
    if kernel == "mirror_step":
        lp, lr, g = inp["log_pi"], inp["log_ref"], inp["g"]

        def step():
            z = a * lp + b * lr + c * g
            return z - _np_lse(z, True)
        return step
    P, pi = inp["P"], inp["pi"]
    if P.ndim == 2:
        if pi.shape[0] == 1:
            v = pi[0]
            return lambda: P @ v                       # gemv
        PT = P.T
        return lambda: pi @ PT                         # gemm
    return lambda: np.matmul(P, pi[..., None])[..., 0]


def _scipy_fn(kernel, inp):
    sp = _import("scipy")
    a, b, c = MS_COEF
    if kernel == "logsumexp":
        x = inp["x"]
        return lambda: sp.logsumexp(x, axis=-1)
    if kernel == "log_softmax":
        x = inp["x"]
        return lambda: sp.log_softmax(x, axis=-1)
    if kernel == "softmax":
        x = inp["x"]
        return lambda: sp.softmax(x, axis=-1)
    if kernel == "kl":
        lp, lq = inp["logp"], inp["logq"]
        return lambda: sp.rel_entr(np.exp(lp), np.exp(lq)).sum(axis=-1)
    if kernel == "mirror_step":
        lp, lr, g = inp["log_pi"], inp["log_ref"], inp["g"]
        return lambda: sp.log_softmax(a * lp + b * lr + c * g, axis=-1)
    raise Unavailable("scipy has no dense preference operator")


def _torch_fn(kernel, inp):
    torch = _import("torch")
    t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in inp.items()}
    a, b, c = MS_COEF
    if kernel == "logsumexp":
        x = t["x"]
        return lambda: torch.logsumexp(x, dim=-1)
    if kernel == "log_softmax":
        x = t["x"]
        return lambda: torch.log_softmax(x, dim=-1)
    if kernel == "softmax":
        x = t["x"]
        return lambda: torch.softmax(x, dim=-1)
    if kernel == "kl":
        lp, lq = t["logp"], t["logq"]
        F = torch.nn.functional
        return lambda: F.kl_div(lq, lp, reduction="none", log_target=True).sum(dim=-1)
    if kernel == "mirror_step":
        lp, lr, g = t["log_pi"], t["log_ref"], t["g"]
        return lambda: torch.log_softmax(a * lp + b * lr + c * g, dim=-1)
    P, pi = t["P"], t["pi"]
    if P.ndim == 2:
        if pi.shape[0] == 1:
            v = pi[0]
            return lambda: torch.mv(P, v)
        PT = P.T
        return lambda: pi @ PT
    return lambda: torch.bmm(P, pi.unsqueeze(-1)).squeeze(-1)


def _jax_fn(kernel, inp):
    jax = _import("jax")
    jnp = jax.numpy
    a, b, c = MS_COEF
    d = {k: jax.device_put(v) for k, v in inp.items()}
    if kernel == "logsumexp":
        f = jax.jit(lambda x: jax.nn.logsumexp(x, axis=-1))
        args = (d["x"],)
    elif kernel == "log_softmax":
        f = jax.jit(lambda x: jax.nn.log_softmax(x, axis=-1))
        args = (d["x"],)
    elif kernel == "softmax":
        f = jax.jit(lambda x: jax.nn.softmax(x, axis=-1))
        args = (d["x"],)
    elif kernel == "kl":
        f = jax.jit(lambda lp, lq: jnp.sum(jnp.exp(lp) * (lp - lq), axis=-1))
        args = (d["logp"], d["logq"])
    elif kernel == "mirror_step":
        f = jax.jit(lambda lp, lr, g: jax.nn.log_softmax(a * lp + b * lr + c * g, axis=-1))
        args = (d["log_pi"], d["log_ref"], d["g"])
    else:
        if inp["P"].ndim == 2:
            f = jax.jit(lambda P, pi: pi @ P.T)
        else:
            f = jax.jit(lambda P, pi: jnp.einsum("bij,bj->bi", P, pi))
        args = (d["P"], d["pi"])
    return lambda: f(*args).block_until_ready()


def kernel_competitor(name, kernel, inp):
    """Zero-argument callable computing ``kernel`` on ``inp`` with competitor ``name``
    ("nashmp-c", "nashmp-numba", "numpy", "scipy", "torch", "jax"); raises Unavailable."""
    if name.startswith("nashmp-"):
        return _nashmp_fn(kernel, name[7:], inp)
    return {"numpy": _numpy_fn, "scipy": _scipy_fn, "torch": _torch_fn,
            "jax": _jax_fn}[name](kernel, inp)


def kernel_competitors(kernel, inp, names=None):
    names = names or (["nashmp-" + b for b in NASHMP_BACKENDS] + list(BASELINES))
    out = {}
    for n in names:
        try:
            out[n] = kernel_competitor(n, kernel, inp)
        except Unavailable as exc:
            out[n] = exc
    return out


def _first_call_and_check(fn, check):
    """Run ``fn`` once (first-call cost), then check its result. Returns a result record."""
    try:
        t0 = time.perf_counter()
        r = fn()
        first = time.perf_counter() - t0
    except Unavailable as exc:
        return {"status": "skipped", "reason": str(exc)}
    except Exception as exc:  # noqa: BLE001
        msg = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, (ImportError, NotImplementedError)) or "not available" in str(exc):
            return {"status": "skipped", "reason": msg}
        return {"status": "error", "reason": msg}
    try:
        ok, worst = check(r)
    except Exception as exc:  # noqa: BLE001
        return {"status": "error", "first_call_s": first,
                "reason": f"result not comparable with the reference: {type(exc).__name__}: {exc}"}
    rec = {"first_call_s": first, "check_err_over_tol": worst}
    if not ok:
        rec.update(status="error", reason=f"wrong result: error {worst:.3g} x the tolerance")
    else:
        rec["status"] = "ok"
    return rec


def kernel_bytes(kernel, B, K, itemsize, shared=True):
    n = B * K * itemsize
    if kernel == "logsumexp":
        return n + B * itemsize
    if kernel in ("log_softmax", "softmax"):
        return 2 * n
    if kernel == "kl":
        return 2 * n + B * itemsize
    if kernel == "mirror_step":
        return 4 * n
    return (1 if shared else B) * K * K * itemsize + 2 * n


# ---------------------------------------------------------------------------------------------
# a row: check everything, time the survivors, compute ratios and floors
# ---------------------------------------------------------------------------------------------

def _best(results, prefix, exclude_prefix=None):
    cands = [(r["median_s"], n) for n, r in results.items()
             if r.get("status") == "ok" and "median_s" in r
             and (prefix is None or n.startswith(prefix))
             and (exclude_prefix is None or not n.startswith(exclude_prefix))]
    return min(cands)[1] if cands else None


def _finish_row(row, floors, threads):
    res = row["results"]
    nb = _best(res, "nashmp-")
    bl = _best(res, None, exclude_prefix="nashmp-")
    row["nashmp_best"], row["baseline_best"] = nb, bl
    for n, r in res.items():
        if r.get("status") != "ok" or "median_s" not in r:
            continue
        t = r["median_s"]
        if bl and n.startswith("nashmp-"):
            r["speedup_vs_best_baseline"] = res[bl]["median_s"] / t
            for b in BASELINES:
                if b in res and res[b].get("status") == "ok" and "median_s" in res[b]:
                    r[f"speedup_vs_{b}"] = res[b]["median_s"] / t
        if row.get("nbytes"):
            r["GBs"] = row["nbytes"] / t / 1e9
        if row.get("nelem"):
            r["Gelems"] = row["nelem"] / t / 1e9
        if row.get("floor_s"):
            r["floor_pct"] = 100.0 * row["floor_s"] / t
    row["ratio"] = (res[bl]["median_s"] / res[nb]["median_s"]) if (nb and bl) else None
    return row


def kernel_row(kernel, B, K, dtype, *, floors, threads, rounds, min_time, shared=True,
               names=None, log=print):
    dtype = np.dtype(dtype)
    inp = kernel_inputs(kernel, B, K, dtype, shared=shared)
    ref = kernel_reference(kernel, inp)
    nbytes = kernel_bytes(kernel, B, K, dtype.itemsize, shared)
    exps = 0 if kernel == "preference_apply" else B * K
    flops = 2 * B * K * K if kernel == "preference_apply" else 0
    fs, fk = floor_time(floors, threads, nbytes=nbytes, exps=exps, dtype=dtype, flops=flops) \
        if floors else (None, None)
    pid = f"{kernel}:B{B}xK{K}:{dtype.name}" + ("" if shared or kernel != "preference_apply"
                                                  else ":ownP")
    row = {"section": "kernel", "id": f"{pid}:t{threads}", "kernel": kernel, "B": B, "K": K,
           "dtype": dtype.name, "shared_P": shared if kernel == "preference_apply" else None,
           "threads": threads, "nbytes": nbytes, "nelem": B * K, "exps": exps, "flops": flops,
           "mem": mem_label(nbytes), "floor_s": fs, "floor_kind": fk, "results": {}}
    comps = kernel_competitors(kernel, inp, names)
    timed = {}
    for n, fn in comps.items():
        if isinstance(fn, Exception):
            row["results"][n] = {"status": "skipped", "reason": str(fn)}
            continue
        rec = _first_call_and_check(fn, lambda r: check_result(kernel, r, ref, dtype))
        row["results"][n] = rec
        if rec["status"] == "ok":
            timed[n] = fn
        elif rec["status"] == "error":
            log(f"  ERROR {pid} {n}: {rec['reason']}")
    if timed:
        for n, s in interleaved(timed, rounds=rounds, min_time=min_time).items():
            row["results"][n].update(s)
    return _finish_row(row, floors, threads)


def check_row(K, dtype, *, floors, threads, rounds, min_time, log=print):
    """The validation every solve and metric runs on a dense P (max |P + P^T - 1|, min, max):
    libnashmp's one-pass check against the NumPy tiles it replaced (the fallback for arrays
    that are not C-contiguous), both on the same C-contiguous P; bytes: P read once."""
    from nashmp._games import _deviation
    dtype = np.dtype(dtype)
    P = random_preference(1, K, dtype=dtype)[0]
    F = np.asfortranarray(P)            # not C-contiguous: the NumPy tiles
    nbytes = K * K * dtype.itemsize
    fs, fk = floor_time(floors, threads, nbytes=nbytes, dtype=dtype) if floors else (None, None)
    row = {"section": "validation", "id": f"check:K{K}:{dtype.name}:t{threads}", "K": K,
           "dtype": dtype.name, "threads": threads, "nbytes": nbytes, "mem": mem_label(nbytes),
           "floor_s": fs, "floor_kind": fk, "results": {}}
    fns = {"nashmp-c": lambda: _deviation(P), "numpy-tiles": lambda: _deviation(F)}
    want = _deviation(F)
    for n, fn in fns.items():
        got = fn()
        row["results"][n] = {"status": "ok"} if got == want else \
            {"status": "error", "reason": f"{got} != {want}"}
        if got != want:
            log(f"  ERROR {row['id']} {n}: {got} != {want}")
    for n, t in interleaved({n: f for n, f in fns.items()
                             if row["results"][n]["status"] == "ok"},
                            rounds=rounds, min_time=min_time).items():
        row["results"][n].update(t)
    return _finish_row(row, floors, threads)


def _print_check_table(rows, log):
    log("\nValidation of a dense P (max |P + P^T - 1|, min, max; every solve and metric runs it)")
    log(f"{'K':>6} {'dtype':8} {'nashmp-c':>10} {'numpy tiles':>12} {'ratio':>6} {'GB/s':>6} "
        f"{'% floor':>8}")
    for r in rows:
        c, n = r["results"].get("nashmp-c", {}), r["results"].get("numpy-tiles", {})
        if "median_s" not in c or "median_s" not in n:
            continue
        log(f"{r['K']:>6} {r['dtype']:8} {fmt_time(c['median_s']):>10} "
            f"{fmt_time(n['median_s']):>12} {n['median_s'] / c['median_s']:>6.2f} "
            f"{c.get('GBs', 0):>6.1f} {c.get('floor_pct', 0):>8.0f}")


# ---------------------------------------------------------------------------------------------
# solver rows
# ---------------------------------------------------------------------------------------------

def _nash_mp_coef(beta, eta):
    a = 1.0 / (1.0 + eta * beta)
    return a, 1.0 - a, eta * a


def numpy_nash_mp(P, beta, eta=2.0, *, B=None, log_ref=None, matvec_dtype=None):
    """The plain-NumPy Nash-MP loop a user would write (P (K,K) shared or (B,K,K) own).

    Returns ``step(n) -> log_pi`` running ``n`` iterations from the current state (uniform at
    first; iterates in float64; the matvec in ``matvec_dtype``, default P's dtype).
    """
    K = P.shape[-1]
    own = P.ndim == 3
    B = P.shape[0] if own else (B or 1)
    md = np.dtype(matvec_dtype or P.dtype)
    Pm = P.astype(md, copy=False)
    a, b, c = _nash_mp_coef(beta, eta)
    single = B == 1 and not own
    lr = (np.full(K if single else (B, K), -np.log(K)) if log_ref is None
          else np.asarray(log_ref, np.float64))
    blr = b * lr
    if single:
        def apply(pi):
            return Pm @ pi.astype(md, copy=False)
    elif not own:
        PT = Pm.T

        def apply(pi):
            return pi.astype(md, copy=False) @ PT
    else:
        def apply(pi):
            return np.matmul(Pm, pi.astype(md, copy=False)[..., None])[..., 0]

    state = {"l": np.array(np.broadcast_to(lr, (K,) if single else (B, K)))}

    def step(n):
        l = state["l"]
        for _ in range(n):
            base = a * l + blr
            h = base + c * apply(np.exp(l))
            h -= _np_lse(h, True)
            z = base + c * apply(np.exp(h))
            l = z - _np_lse(z, True)
        state["l"] = l
        return l.reshape(B, K)
    step.state = state
    return step


def torch_nash_mp(P, beta, eta=2.0, *, B=None):
    """The same loop in PyTorch (CPU)."""
    torch = _import("torch")
    K = P.shape[-1]
    own = P.ndim == 3
    B = P.shape[0] if own else (B or 1)
    Pt = torch.from_numpy(np.ascontiguousarray(P))
    md = Pt.dtype
    a, b, c = _nash_mp_coef(beta, eta)
    single = B == 1 and not own
    lr = torch.full((K,) if single else (B, K), -math.log(K), dtype=torch.float64)
    blr = b * lr
    PT = Pt.T if not own else None

    def apply(pi):
        if single:
            return torch.mv(Pt, pi.to(md))
        if not own:
            return pi.to(md) @ PT
        return torch.bmm(Pt, pi.to(md).unsqueeze(-1)).squeeze(-1)

    state = {"l": lr.clone()}

    def step(n):
        l = state["l"]
        for _ in range(n):
            base = a * l + blr
            h = base + c * apply(torch.exp(l))
            h = h - torch.logsumexp(h, dim=-1, keepdim=True)
            z = base + c * apply(torch.exp(h))
            l = z - torch.logsumexp(z, dim=-1, keepdim=True)
        state["l"] = l
        return l.reshape(B, K).numpy()
    return step


def ref_exploitability(P, log_pi, beta, log_ref=None):
    """Regularized exploitability in float64 NumPy (independent of nashmp), per game."""
    P = np.asarray(P, np.float64)
    l = np.asarray(log_pi, np.float64).reshape(-1, P.shape[-1])
    K = l.shape[-1]
    lr = np.full_like(l, -np.log(K)) if log_ref is None else np.broadcast_to(log_ref, l.shape)
    pi = np.exp(l)
    g = pi @ P.T if P.ndim == 2 else np.einsum("bij,bj->bi", P, pi)
    with np.errstate(invalid="ignore"):
        klr = np.sum(np.where(pi > 0, pi * (l - lr), 0.0), axis=-1)
    return beta * _lse64(lr + g / beta) + beta * klr - 0.5


def _nashmp_iter_fn(P, beta, backend, B, packed=False):
    """``f(n)`` running ``n`` fused iterations of Nash-MP on ``backend``.

    Uses the runner ``nashmp.solve`` drives (the native loop, without argument validation and
    with one exploitability check at the end of each call; per-iteration times are taken from
    the difference of two iteration counts, which cancels the check and the call overhead).
    Falls back to the public ``nashmp.solve`` when the runner is not importable.
    """
    K = P.shape[-1]
    own = P.ndim == 3
    store = "dense"
    if packed:                         # the upper triangle of the (shared) P
        from .operators import PackedDense
        P = PackedDense.from_dense(P)
        Pm = P.packed.reshape(1, -1)
        store = "packed"
    else:
        from ._games import check_preference
        Pm = np.ascontiguousarray(P if own else P.reshape(1, K, K))
        from .solvers import _reads_upper
        if _reads_upper(backend, K) and check_preference(P, exact=True)[1]:   # as solve()
            store = "upper"
    lr = np.full((B, K), -np.log(K))
    betas = np.full(B, float(beta))
    etas = np.full(B, 2.0)
    try:
        from ._methods import METHOD_ID
        from .solvers import _Runner
        runner = _Runner(backend, Pm, lr, betas, etas, METHOD_ID["nash_mp"], B, K, store=store)
        l = lr.copy()
        it, nq = np.zeros(B, np.int64), np.zeros(B, np.int64)
        ex = np.zeros(B)
        active = np.ones(B, np.uint8)

        def f(n):
            active[:] = 1
            runner.run(n, n, -1.0, l, None, it, nq, ex, active)
            return l
        f(1)
        f.kind = "runner"
        return f
    except (ImportError, TypeError, AttributeError):
        import nashmp

        def g(n):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return nashmp.solve(P, betas, max_iter=n, tol=-1.0, check_every=n,
                                    backend=backend).log_policy
        g.kind = "solve"
        return g


def _c_reads_triangle(P, B, shared):
    """Whether nashmp's C loop reads a dense P through its upper triangle only, by the rules of
    ``nashmp.solve`` and csrc/src/solvers.c: P + P^T = 1 to rounding, K >= 64 (float64 P) or
    >= 16 (float32 P), and not one shared P for several games."""
    from ._games import check_preference
    K = P.shape[-1]
    if K < (16 if P.dtype == np.float32 else 64) or (shared and B > 1):
        return False
    return bool(check_preference(P, exact=True)[1])


def solver_row(name, B, K, *, shared, pdtype, floors, threads, rounds, min_time, P=None,
               beta=0.1, with_torch=True, packed=False, log=print):
    """Per-iteration time of Nash-MP: nashmp's fused loop (c, numba) vs the NumPy (and torch)
    loop, plus the fixed cost of one ``nashmp.solve`` call (max_iter=0). ``packed``: nashmp
    solves the :class:`~nashmp.operators.PackedDense` of the same P (C loop only); the
    baselines still multiply the dense P."""
    import nashmp
    pdtype = np.dtype(pdtype)
    if P is None:
        P = _solver_game(B, K, shared)
    P = P.astype(pdtype, copy=False)
    Pref = P.astype(np.float64)
    # the bytes nashmp's C loop reads per query: the upper triangle when packed, or when it reads
    # a dense P through its triangle (the baselines read the whole matrix)
    tri = packed or _c_reads_triangle(P, B, shared)
    pbytes = (1 if shared else B) * (K * (K - 1) // 2 if tri else K * K) * pdtype.itemsize
    Psolve = P
    if packed:
        from .operators import PackedDense
        Psolve = PackedDense.from_dense(P)
    fs, fk = floor_time(floors, threads, nbytes=2 * pbytes, exps=2 * B * K,
                        dtype=F64, flops=0) if floors else (None, None)
    fmem = floor_time(floors, threads, nbytes=2 * pbytes)[0] if floors else None
    row = {"section": "solver", "id": f"solver:{name}:t{threads}", "name": name, "B": B, "K": K,
           "shared_P": shared, "P_dtype": pdtype.name, "packed": packed, "threads": threads,
           "c_reads": "upper triangle" if tri else "whole P",
           "bytes_per_query": pbytes, "nbytes": 2 * pbytes, "nelem": None,
           "mem": mem_label(pbytes), "floor_s": fs, "floor_kind": fk, "mem_floor_s": fmem,
           "results": {}}
    m = 5
    betas = float(beta) if B == 1 else np.full(B, float(beta))   # B games even with a shared P
    ref_loop = numpy_nash_mp(Pref, beta, B=B)
    ref = ref_loop(m)

    def chk(tol):
        return lambda r: (bool(np.max(np.abs(np.asarray(r, np.float64).reshape(B, K) - ref))
                               <= tol), float(np.max(np.abs(np.asarray(r, np.float64)
                                                           .reshape(B, K) - ref)) / tol))
    tol_n = 1e-9 if pdtype == F64 else 1e-6
    fns, per_call_iters = {}, {}
    beyond_l3 = pbytes > 0.75 * _l3_bytes()
    for be in NASHMP_BACKENDS:
        cname = "nashmp-" + be
        if not nashmp._backend.is_available(be):
            row["results"][cname] = {"status": "skipped", "reason": f"backend {be} unavailable"}
            continue
        if packed and be != "c":
            row["results"][cname] = {"status": "skipped",
                                     "reason": "packed storage runs in the C loop only"}
            continue

        def public(be=be):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return nashmp.solve(Psolve, betas, max_iter=m, tol=-1.0, check_every=m,
                                    backend=be).log_policy
        rec = _first_call_and_check(public, chk(tol_n))
        row["results"][cname] = rec
        if rec["status"] != "ok":
            if rec["status"] == "error":
                log(f"  ERROR solver {name} {cname}: {rec['reason']}")
            continue
        try:
            f = _nashmp_iter_fn(P, beta, be, B, packed=packed)
        except Exception as exc:  # noqa: BLE001
            rec.update(status="error", reason=f"{type(exc).__name__}: {exc}")
            continue
        rec["timing"] = ("native runner, (T(2n) - T(n)) / n" if f.kind == "runner"
                         else "nashmp.solve, (T(2n) - T(n)) / n")
        # at least 16 iterations per call (32 beyond L3, where a call's fixed cost varies by a
        # few iterations). The runner is one solve: both loops copy a large triangle into panel
        # order in its first call (C: 24 products or more, kept in the runner's libnashmp
        # workspace; Numba: 12 iterations or more) and read the copy in every later call, so
        # neither the copy nor its fresh buffer's page faults are in T(n) or T(2n)
        n = max(_iters_for(lambda k: f(k), min_time / 2), 32 if beyond_l3 else 16)
        fns[cname] = (lambda f=f, n=n: f(2 * n))
        fns[cname + "@n"] = (lambda f=f, n=n: f(n))
        per_call_iters[cname] = n

        def zero(be=be):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return nashmp.solve(Psolve, betas, max_iter=0, tol=-1.0, backend=be)
        rec["solve_fixed_s"] = _fixed_cost(zero)
    base = [("numpy-loop", lambda: numpy_nash_mp(P, beta, B=B), 1e-9 if pdtype == F64 else 1e-3)]
    if with_torch:
        base.append(("torch-loop", lambda: torch_nash_mp(P, beta, B=B),
                     1e-9 if pdtype == F64 else 1e-3))
    for bname, make, tol in base:
        try:
            loop = make()
        except Unavailable as exc:
            row["results"][bname] = {"status": "skipped", "reason": str(exc)}
            continue
        rec = _first_call_and_check(lambda loop=loop: loop(m), chk(tol))
        row["results"][bname] = rec
        if rec["status"] != "ok":
            if rec["status"] == "error":
                log(f"  ERROR solver {name} {bname}: {rec['reason']}")
            continue
        n = _iters_for(loop, min_time)
        fns[bname] = (lambda loop=loop, n=n: loop(n))
        per_call_iters[bname] = n
        rec["timing"] = "T(n) / n"
    # rows beyond L3: the floor's read kernel (DRAM: a float64 buffer of 4x L3) in the same
    # interleaved rounds, so that the floor and the loops see the same machine state (this VM's
    # bandwidth drifts by tens of percent within minutes)
    floor_reads = 0
    if fns and floors is not None and beyond_l3:
        read_sum = _floor_kernels()[0]
        buf = np.ones(max(pbytes, 4 * _l3_bytes()) // 8)
        read_sum(buf)
        floor_reads = max(1, calibrate(lambda: read_sum(buf), min_time))
        fns["floor-read"] = (lambda: [read_sum(buf) for _ in range(floor_reads)])
    if fns:
        # beyond L3, twice the rounds (and one) after an untimed one: calls there are hundreds
        # of ms, and this VM's memory stalls now and then for 50-200 ms (a K = 4000 run: per-round
        # samples of one loop 3.5-9.1 ms per iteration around a median of 5.3), so the medians
        # need more samples; and the first round after the set-up (fresh buffers of the floor
        # and the baselines) ran about twice as slow in every K = 4000 row of three runs
        row["rounds"] = 2 * rounds + 1 if beyond_l3 else rounds
        t = interleaved(fns, rounds=row["rounds"], min_time=min_time, reps={k: 1 for k in fns},
                        warmup=1 if beyond_l3 else 0)
        if floor_reads:
            fr = float(np.median(t.pop("floor-read")["samples_s"])) / floor_reads
            row["read_GBs_same_rounds"] = buf.nbytes / fr / 1e9
            row["mem_floor_same_rounds_s"] = 2.0 * pbytes / buf.nbytes * fr
        for cname, n in per_call_iters.items():
            rec = row["results"][cname]
            if cname.startswith("nashmp-"):
                d = (np.array(t[cname]["samples_s"]) - np.array(t[cname + "@n"]["samples_s"])) / n
                rec.update(_summary(d, []))
                rec["cpu_per_wall"] = t[cname]["cpu_per_wall"]
                rec["n_iters"] = [n, 2 * n]
                # what a call costs besides its iterations: the exploitability check, the call,
                # and the panel-order copy of a large triangle
                rec["call_fixed_s"] = float(np.median(t[cname + "@n"]["samples_s"]) -
                                            n * np.median(d))
            else:
                rec.update(_summary(np.array(t[cname]["samples_s"]) / n, []))
                rec["cpu_per_wall"] = t[cname]["cpu_per_wall"]
                rec["n_iters"] = n
    _finish_row(row, floors, threads)
    res = row["results"]
    if "numpy-loop" in res and res["numpy-loop"].get("median_s"):
        for n, r in res.items():
            if n.startswith("nashmp-") and r.get("median_s"):
                r["speedup_vs_numpy_loop"] = res["numpy-loop"]["median_s"] / r["median_s"]
        nbst = row["nashmp_best"]
        row["ratio_vs_numpy_loop"] = (res["numpy-loop"]["median_s"] / res[nbst]["median_s"]
                                      if nbst else None)
    for n, r in res.items():
        if fmem and r.get("median_s"):
            r["mem_floor_pct"] = 100.0 * fmem / r["median_s"]
        if row.get("mem_floor_same_rounds_s") and r.get("median_s"):
            r["mem_floor_pct_same_rounds"] = 100.0 * row["mem_floor_same_rounds_s"] / r["median_s"]
    return row


def _fixed_cost(fn, budget=0.3, most=5):
    """Median time of ``fn`` over up to ``most`` calls (at least 1, stopping after ``budget`` s):
    the fixed cost of one ``nashmp.solve`` call (validation, first exploitability, result)."""
    ts = []
    t_end = time.perf_counter() + budget
    while len(ts) < most and (not ts or time.perf_counter() < t_end):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


_GAME_CACHE = {}


def _solver_game(B, K, shared):
    key = (B, K, shared)
    if key not in _GAME_CACHE:
        _GAME_CACHE.clear()
        P = random_preference(1 if shared else B, K, np.random.default_rng(7), np.float64)
        _GAME_CACHE[key] = P[0] if shared else P
    return _GAME_CACHE[key]


def _iters_for(step, min_time):
    """Iterations making ``step(n)`` last at least ``min_time`` (at least 2)."""
    n = 2
    while True:
        t0 = time.perf_counter()
        step(n)
        t = time.perf_counter() - t0
        if t >= min_time or n >= 10 ** 7:
            return n
        n = max(n + 1, min(n * 50, int(math.ceil(n * min_time * 1.2 / max(t, 1e-7)))))


def convergence_rows(*, B=16, K=200, beta=0.1, target=1e-8, budget=4000, methods=SOLVER_METHODS,
                     rounds=1, curves=True, log=print):
    """Queries and wall time to exploitability ``target`` for every method on the same games.

    ``budget`` caps the preference queries per game (iterations = budget / queries per
    iteration). The wall time is one ``nashmp.solve(..., tol=target)`` call (median over
    ``rounds`` interleaved rounds); curves come from a second call with ``history=True``.
    """
    import nashmp
    from ._methods import QUERIES_PER_ITER
    rng = np.random.default_rng(11)
    P = random_preference(B, K, rng)
    rows = []
    runs = []
    for m in methods:
        for be in (["c", "numba"] if m == "nash_mp" else ["c"]):
            if not nashmp._backend.is_available(be):
                be = nashmp._backend.resolve("auto")
            runs.append((m, be))
    runs.append(("nash_mp", "numpy-loop"))

    def solve_once(m, be, history=False, tol=target):
        qpi = QUERIES_PER_ITER.get(m, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kw = {}
            if m == "prox_point":
                cap = max(1, budget // 100)
            else:
                cap = max(1, budget // qpi)
            return nashmp.solve(P, beta, method=m, tol=tol, max_iter=cap, backend=be,
                                history=history, **kw)

    def numpy_loop(history=False):
        step = numpy_nash_mp(P, beta)
        q, t0, hist = 0, time.perf_counter(), []
        l = step.state["l"]
        ex = ref_exploitability(P, l, beta)
        hist.append((0, 0.0, float(ex.max())))
        while q < budget and ex.max() > target:
            l = step(10)
            q += 20
            ex = ref_exploitability(P, l, beta)
            if history:
                hist.append((q, time.perf_counter() - t0, float(ex.max())))
        return q, time.perf_counter() - t0, float(ex.max()), hist, l

    first = {}
    for (m, be) in runs:          # first-call costs (JIT compilation) apart from the timing
        if be == "numpy-loop":
            continue
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                nashmp.solve(P, beta, method=m, tol=target, max_iter=1, backend=be)
        except Exception:  # noqa: BLE001  (reported by the timed call below)
            pass
        first[(m, be)] = time.perf_counter() - t0
    times = {r: [] for r in runs}
    out = {}
    for _ in range(rounds):
        for (m, be) in runs:
            t0 = time.perf_counter()
            try:
                if be == "numpy-loop":
                    out[(m, be)] = numpy_loop()
                else:
                    out[(m, be)] = solve_once(m, be)
            except Exception as exc:  # noqa: BLE001
                out[(m, be)] = exc
            times[(m, be)].append(time.perf_counter() - t0)
    for (m, be) in runs:
        r = out[(m, be)]
        row = {"section": "convergence", "id": f"conv:{m}:{be}:B{B}xK{K}:beta{beta}",
               "method": m, "backend": be, "B": B, "K": K, "beta": beta, "target": target,
               "budget_queries": budget, "first_call_s": first.get((m, be))}
        if isinstance(r, Exception):
            row.update(status="error", reason=f"{type(r).__name__}: {r}")
            log(f"  ERROR convergence {m} {be}: {row['reason']}")
            rows.append(row)
            continue
        if be == "numpy-loop":
            q, _, exmax, _, lfin = r
            reached = exmax <= target
            nq = q
        else:
            lfin = np.asarray(r.log_policy, np.float64)
            exmax = float(np.max(r.exploitability))
            reached = bool(r.success)
            nq = int(np.max(r.n_queries))
        ref_ex = float(np.max(ref_exploitability(P, lfin, beta)))
        row.update(status="ok", reached=reached, queries=nq if reached else None,
                   queries_spent=nq, wall_s=float(np.median(times[(m, be)])),
                   wall_range_s=[min(times[(m, be)]), max(times[(m, be)])],
                   exploitability=exmax, exploitability_ref=ref_ex)
        if reached and ref_ex > target * (1 + 1e-3) + 1e-13:
            row.update(status="error", reason=f"reported exploitability {exmax:.3g} <= target "
                       f"but the float64 reference gives {ref_ex:.3g}")
            log(f"  ERROR convergence {m} {be}: {row['reason']}")
        if curves:
            try:
                if be == "numpy-loop":
                    h = numpy_loop(history=True)[3]
                    row["curve"] = {"queries": [x[0] for x in h], "time_s": [x[1] for x in h],
                                    "exploitability": [x[2] for x in h]}
                else:
                    rh = solve_once(m, be, history=True, tol=target / 10)
                    hh = rh.history
                    row["curve"] = {
                        "queries": np.max(hh["n_queries"].reshape(len(hh["time"]), -1),
                                          axis=1).tolist(),
                        "time_s": np.asarray(hh["time"]).tolist(),
                        "exploitability": np.max(hh["exploitability"].reshape(
                            len(hh["time"]), -1), axis=1).tolist()}
            except Exception as exc:  # noqa: BLE001
                row["curve_error"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------
# plans
# ---------------------------------------------------------------------------------------------

KERNEL_SIZES = ((1000, 1000), (1, 10 ** 6), (10 ** 5, 16), (10 ** 5, 32), (100, 10 ** 5))
PREF_SIZES = ((1000, 1000, True), (10 ** 5, 16, True), (10 ** 5, 32, True), (1, 1000, True),
              (1, 4000, True), (256, 100, False))
SOLVER_CASES = (  # name, B, K, shared, P dtype, packed (PackedDense: upper triangle)
    ("K10", 1, 10, True, F64, False), ("K100", 1, 100, True, F64, False),
    ("K1000", 1, 1000, True, F64, False), ("K1000-packed", 1, 1000, True, F64, True),
    ("K4000", 1, 4000, True, F64, False), ("K4000-f32P", 1, 4000, True, F32, False),
    ("K4000-packed", 1, 4000, True, F64, True), ("K4000-f32P-packed", 1, 4000, True, F32, True),
    ("B256-K100-ownP", 256, 100, False, F64, False),
    ("B256-K100-sharedP", 256, 100, True, F64, False))


def plan(mode):
    """What each mode runs (rows as tuples) and its protocol."""
    if mode == "quick":
        return {
            "rounds": 7, "min_time": 0.01, "floors_quick": True,
            "kernels": [("logsumexp", 1000, 1000, F64, True), ("logsumexp", 1000, 1000, F32, True),
                        ("logsumexp", 10 ** 5, 16, F64, True), ("kl", 1000, 1000, F64, True),
                        ("softmax", 1000, 1000, F32, True),
                        ("preference_apply", 1, 1000, F64, True)],
            "overhead": ["logsumexp"],
            "solver": [c for c in SOLVER_CASES if c[0] in ("K10", "K100", "K1000",
                                                           "K1000-packed")],
            "convergence": {"methods": ("nash_mp", "extragradient", "omwu"), "budget": 2000,
                            "rounds": 1},
            "scaling": (16, 1024, 65536), "torch_loop": False, "checks": [(1000, F64)]}
    if mode == "default":
        ks = [("logsumexp", B, K, dt, True) for (B, K) in ((1000, 1000), (10 ** 5, 16))
              for dt in (F64, F32)]
        ks += [("logsumexp", 1, 10 ** 6, F64, True), ("log_softmax", 1000, 1000, F64, True),
               ("softmax", 1000, 1000, F32, True), ("kl", 1000, 1000, F64, True),
               ("kl", 1000, 1000, F32, True), ("mirror_step", 1000, 1000, F64, True),
               ("preference_apply", 1, 1000, F64, True),
               ("preference_apply", 256, 100, F64, False)]
        return {"rounds": 7, "min_time": 0.03, "floors_quick": True, "kernels": ks,
                "overhead": list(KERNELS), "solver": list(SOLVER_CASES),
                "convergence": {"methods": SOLVER_METHODS, "budget": 4000, "rounds": 1},
                "scaling": (4, 32, 256, 4096, 65536, 1 << 20),
                "torch_loop": False, "checks": [(1000, F64), (4000, F64), (4000, F32)]}
    if mode == "full":
        ks = [(k, B, K, dt, True) for k in KERNELS[:5] for (B, K) in KERNEL_SIZES
              for dt in (F64, F32)]
        ks += [("preference_apply", B, K, dt, sh) for (B, K, sh) in PREF_SIZES
               for dt in (F64, F32)]
        return {"rounds": 7, "min_time": 0.03, "floors_quick": False, "kernels": ks,
                "overhead": list(KERNELS), "solver": list(SOLVER_CASES),
                "convergence": {"methods": SOLVER_METHODS, "budget": 20000, "rounds": 3},
                "scaling": (4, 8, 16, 32, 64, 128, 256, 1024, 4096, 16384, 65536, 1 << 18,
                            1 << 20),
                "torch_loop": True,
                "checks": [(K, dt) for K in (300, 1000, 4000) for dt in (F64, F32)]}
    if mode == "threads":   # the multi-thread section of the full run
        ks = [(k, B, K, dt, True) for k in ("logsumexp", "softmax", "kl")
              for (B, K) in ((1000, 1000), (100, 10 ** 5), (10 ** 5, 32)) for dt in (F64, F32)]
        ks += [("preference_apply", 1, 4000, F64, True), ("preference_apply", 256, 100, F64,
                                                            False)]
        return {"rounds": 7, "min_time": 0.03, "floors_quick": False, "kernels": ks,
                "overhead": [], "solver": [c for c in SOLVER_CASES
                                           if c[0] in ("K4000", "K4000-f32P", "K4000-packed",
                                                       "K4000-f32P-packed", "B256-K100-ownP",
                                                       "B256-K100-sharedP")],
                "convergence": None, "scaling": (), "torch_loop": True,
                "checks": [(4000, F64)]}
    raise ValueError(f"unknown mode {mode!r}")


def _set_threads(threads):
    import nashmp
    _THREADS_SET[:] = [threads]
    try:
        nashmp.set_num_threads(threads)
    except Exception:  # noqa: BLE001
        pass
    try:
        import numba
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    except Exception:  # noqa: BLE001
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
        return threadpool_limits(limits=threads, user_api="blas")
    except ImportError:
        return None


def pin_cpus(n):
    """Restrict every thread of this process, and the threads it starts later, to ``n`` CPUs
    (Linux; None elsewhere or when ``n`` covers them all). Runtime helper threads of a
    competitor (jax's dispatch and compute threads) then share the cores the comparison allows
    instead of adding their own."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if n >= len(cpus):
        return None
    mask = set(cpus[:n])
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), mask)
        except OSError:          # a thread that ended meanwhile
            pass
    return sorted(mask)


def run(mode="default", *, threads=1, json_path=None, plot_path=None, log=print):
    """One benchmark run in this process; returns the result dict (and writes JSON / plot)."""
    if not env_ok():
        log("warning: OMP_WAIT_POLICY is not PASSIVE or OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE is "
            "set in this process; use `nashmp bench` / `python -m nashmp._bench run`, which start "
            "a clean child process")
    p = plan(mode)
    t_start = time.perf_counter()
    warnings.simplefilter("ignore", RuntimeWarning)
    busy0 = busy_percent()
    import nashmp  # noqa: F401
    baselines = available_baselines()
    gc.collect()
    gc.freeze()         # the imports' objects: out of the collector's way for the whole run
    limiter = _set_threads(threads)
    out = {"schema": SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "mode": mode,
           "threads": threads, "command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]),
           "protocol": {"rounds": p["rounds"], "min_sample_s": p["min_time"],
                        "order": "interleaved A B C ... per round, fixed order",
                        "check": "float64 reference before timing; f64 tol 1e-9, f32 tol 1e-4 "
                                 "relative to the row's scale"},
           "machine": machine_info(), "load": {"busy_pct_before": busy0},
           "baselines": baselines, "rows": [], "errors": []}
    log(f"nashmp bench ({mode}): {threads} thread(s) for every competitor; "
        f"{p['rounds']} interleaved rounds, samples >= {p['min_time'] * 1e3:.0f} ms; "
        f"machine busy before: {busy0}%")
    skipped = [f"{k} ({v})" for k, v in baselines.items() if str(v).startswith("skipped")]
    if skipped:
        log("baselines skipped: " + "; ".join(skipped))
    el = lambda: f"[{time.perf_counter() - t_start:.1f} s]"  # noqa: E731
    log(f"{el()} measuring machine floors ...")
    floors = measure_floors(quick=p["floors_quick"], rounds=5 if mode == "quick" else p["rounds"],
                            min_time=p["min_time"], log=log)
    out["floors"] = floors
    _print_floors(floors, log)
    out["cpu_affinity"] = pin_cpus(threads)
    if out["cpu_affinity"] is not None:
        log(f"competitors pinned to CPU(s) {out['cpu_affinity']} (every thread of the process)")
    rows = out["rows"]
    kr = []
    for (k, B, K, dt, sh) in p["kernels"]:
        r = kernel_row(k, B, K, dt, floors=floors, threads=threads, rounds=p["rounds"],
                       min_time=p["min_time"], shared=sh, log=log)
        kr.append(r)
    rows += kr
    _print_kernel_table(kr, log, f"{el()} Kernels")
    ov = []
    for k in p["overhead"]:
        for dt in (F64,):
            r = kernel_row(k, 1, 10, dt, floors=None, threads=threads, rounds=p["rounds"],
                           min_time=0.01, log=log)
            r["section"] = "overhead"
            r["id"] = "overhead:" + r["id"]
            ov.append(r)
    if ov:
        _auto_overhead(ov, p, threads)
    rows += ov
    if ov:
        log(f"\n{el()}")
        _print_overhead(ov, log)
    sr = []
    for (name, B, K, sh, pdt, pk) in p["solver"]:
        r = solver_row(name, B, K, shared=sh, pdtype=pdt, floors=floors, threads=threads,
                       rounds=p["rounds"], min_time=p["min_time"], with_torch=p["torch_loop"],
                       packed=pk, log=log)
        sr.append(r)
    if sr:
        _solver_f32_ratio(sr)
    rows += sr
    if sr:
        log(f"\n{el()}")
        _print_solver_table(sr, log)
    has_c = "c" in nashmp.available_backends()
    vr = [check_row(K, dt, floors=floors, threads=threads, rounds=p["rounds"],
                    min_time=p["min_time"], log=log) for (K, dt) in p.get("checks", []) if has_c]
    rows += vr
    if vr:
        log(f"\n{el()}")
        _print_check_table(vr, log)
    if p["convergence"]:
        c = p["convergence"]
        cr = convergence_rows(methods=c["methods"], budget=c["budget"], rounds=c["rounds"],
                              curves=plot_path is not None or mode == "full", log=log)
        rows += cr
        log(f"\n{el()}")
        _print_convergence(cr, log)
    if p["scaling"] and (plot_path is not None or mode in ("default", "full")):
        sc = []
        for K in p["scaling"]:
            B = max(1, (1 << 20) // K)
            r = kernel_row("logsumexp", B, K, F64, floors=floors, threads=threads,
                           rounds=p["rounds"], min_time=min(p["min_time"], 0.01), log=log)
            r["section"] = "scaling"
            r["id"] = "scaling:" + r["id"]
            sc.append(r)
        rows += sc
    out["threads_info"] = thread_info()
    out["versions"] = _versions()
    out["load"]["busy_pct_after"] = busy_percent()
    out["elapsed_s"] = round(time.perf_counter() - t_start, 1)
    for r in rows:
        for n, res in (r.get("results") or {}).items():
            if res.get("status") == "error":
                out["errors"].append(f"{r['id']} {n}: {res['reason']}")
        if r.get("status") == "error":
            out["errors"].append(f"{r['id']}: {r['reason']}")
    _print_targets(rows, log)
    log(f"machine busy after: {out['load']['busy_pct_after']}%; elapsed {out['elapsed_s']} s")
    if out["errors"]:
        log(f"{len(out['errors'])} ERROR(S):")
        for e in out["errors"]:
            log("  " + e)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(out, f, indent=1, default=_json_default)
        log(f"JSON written to {json_path}")
    if plot_path:
        plot(out, plot_path, log=log)
    if limiter is not None:
        limiter.restore_original_limits()
    return out


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.dtype):
        return o.name
    return str(o)


def _auto_overhead(ov, p, threads):
    """Add backend='auto' to the logsumexp overhead row (what a default call costs)."""
    import nashmp
    for r in ov:
        if r["kernel"] != "logsumexp":
            continue
        x = kernel_inputs("logsumexp", 1, 10, F64)["x"]
        ref = kernel_reference("logsumexp", {"x": x})
        fn = (lambda: nashmp.logsumexp(x))
        rec = _first_call_and_check(fn, lambda res: check_result("logsumexp", res, ref, F64))
        if rec["status"] == "ok":
            rec.update(interleaved({"a": fn}, rounds=p["rounds"], min_time=0.01)["a"])
        r["results"]["nashmp-auto"] = rec


def _solver_f32_ratio(sr):
    """Speed of the other K = 4000 storages (f32 P, packed, both) over the dense f64 P."""
    by = {r["name"]: r for r in sr}
    for name in ("K4000-f32P", "K4000-packed", "K4000-f32P-packed"):
        if "K4000" not in by or name not in by:
            continue
        r64, r32 = by["K4000"], by[name]
        for be in NASHMP_BACKENDS:
            a, b = r64["results"].get("nashmp-" + be, {}), r32["results"].get("nashmp-" + be, {})
            if a.get("median_s") and b.get("median_s"):
                r32["results"]["nashmp-" + be]["speedup_f32P_vs_f64P"] = a["median_s"] / \
                    b["median_s"]


# ---------------------------------------------------------------------------------------------
# printing
# ---------------------------------------------------------------------------------------------

def _print_floors(fl, log):
    def g(k, lab):
        v = fl.get(k, {}).get(lab)
        return f"{v:.3g}" if v else "-"
    log(f"floors (1 thread / {fl['threads_all']} threads): "
        f"DRAM read {g('dram_read_GBs', '1')}/{g('dram_read_GBs', 'all')} GB/s, "
        f"L3 read {g('cache_read_GBs', '1')}/{g('cache_read_GBs', 'all')} GB/s, "
        f"triad {g('triad_GBs', '1')}/{g('triad_GBs', 'all')} GB/s, "
        f"np.exp f64 {g('exp_float64_Gelems', '1')}/{g('exp_float64_Gelems', 'all')} Gelem/s, "
        f"f32 {g('exp_float32_Gelems', '1')}/{g('exp_float32_Gelems', 'all')} Gelem/s, "
        f"GEMM f64 {g('gemm_float64_GFLOPs', '1')}/{g('gemm_float64_GFLOPs', 'all')} GFLOP/s")


def _cell(res, n):
    r = res.get(n)
    if r is None:
        return "-"
    if r.get("status") == "skipped":
        return "skip"
    if r.get("status") == "error":
        return "ERROR"
    return fmt_time(r.get("median_s"))


def _table(header, lines, log):
    w = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    log("  ".join(str(h).ljust(n) for h, n in zip(header, w)))
    for ln in lines:
        log("  ".join(str(c).ljust(n) for c, n in zip(ln, w)))


def _size(r):
    s = f"{_nsize(r['B'])}x{_nsize(r['K'])}"
    if r.get("shared_P") is False:
        s += " ownP"
    return s


def _print_kernel_table(rows, log, title):
    if not rows:
        return
    log(f"\n{title} (median per call; ratio = best baseline / best nashmp; % floor = "
        "floor time / nashmp time, floor = the binding one of np.exp rate, read bandwidth, GEMM)")
    lines = []
    for r in rows:
        res = r["results"]
        nb, bl = r["nashmp_best"], r["baseline_best"]
        nr = res.get(nb, {}) if nb else {}
        spread = (f"{100 * (nr['max_s'] - nr['min_s']) / nr['median_s']:.0f}%"
                  if nr.get("median_s") else "-")
        lines.append([r["kernel"], _size(r), r["dtype"][5:].rjust(2), r["mem"],
                      _cell(res, "nashmp-c"), _cell(res, "nashmp-numba"),
                      f"{bl} {fmt_time(res[bl]['median_s'])}" if bl else "-",
                      f"{r['ratio']:.2f}x" if r.get("ratio") else "-",
                      f"{nr['GBs']:.3g}" if nr.get("GBs") else "-",
                      f"{nr['Gelems']:.3g}" if nr.get("Gelems") else "-",
                      f"{nr['floor_pct']:.0f}% {r['floor_kind']}" if nr.get("floor_pct") else "-",
                      spread])
    _table(["kernel", "BxK", "f", "mem", "c", "numba", "best baseline", "ratio", "GB/s",
            "Gelem/s", "% floor", "min-max"], lines, log)


def _print_overhead(rows, log):
    log("\nPer-call overhead on a 1x10 float64 input (median per call)")
    names = ["nashmp-c", "nashmp-numba", "nashmp-auto"] + list(BASELINES)
    lines = [[r["kernel"]] + [_cell(r["results"], n) for n in names] for r in rows]
    _table(["kernel", "c", "numba", "auto(c)"] + list(BASELINES), lines, log)


def _print_solver_table(rows, log):
    log("\nNash-MP per iteration (2 queries; median; ratio = numpy loop / best nashmp; "
        "% mem floor = bytes of P the C loop reads, 2*K*K*itemsize or K*(K-1)*itemsize for the "
        "upper triangle (P 'u': a dense P read through its triangle; 'pk': packed), / DRAM-or-L3 "
        "read bandwidth over nashmp time; in parentheses, rows beyond L3: against the same read "
        "kernel timed in the same interleaved rounds)")
    lines = []
    for r in rows:
        res = r["results"]
        nb = r.get("nashmp_best")
        nr = res.get(nb, {}) if nb else {}
        bl = r.get("baseline_best")
        extra = ""
        f32 = nr.get("speedup_f32P_vs_f64P")
        if f32:
            extra = f"{f32:.2f}x vs dense f64P"
        store = ("pk" if r.get("packed") else
                 "u" if r.get("c_reads") == "upper triangle" else "")
        lines.append([r["name"], _size(r), r["P_dtype"][5:] + store,
                      r["mem"], _cell(res, "nashmp-c"),
                      _cell(res, "nashmp-numba"), _cell(res, "numpy-loop"),
                      _cell(res, "torch-loop"),
                      f"{r['ratio_vs_numpy_loop']:.1f}x" if r.get("ratio_vs_numpy_loop") else "-",
                      f"{bl}" if bl else "-",
                      (f"{nr['mem_floor_pct']:.0f}%" if nr.get("mem_floor_pct") else "-")
                      + (f" ({nr['mem_floor_pct_same_rounds']:.0f}%)"
                         if nr.get("mem_floor_pct_same_rounds") else ""),
                      fmt_time(nr.get("solve_fixed_s")), extra])
    _table(["case", "BxK", "P", "mem", "c/iter", "numba/iter", "numpy/iter", "torch/iter",
            "vs numpy", "best base", "% mem floor", "solve() fixed", ""], lines, log)


def _print_convergence(rows, log):
    if not rows:
        return
    r0 = rows[0]
    log(f"\nTo exploitability {r0['target']:g} (B={r0['B']}, K={r0['K']}, beta={r0['beta']}, "
        f"cap {r0['budget_queries']} queries per game; queries = max over games)")
    lines = []
    for r in rows:
        if r["status"] != "ok" and "reached" not in r:
            lines.append([r["method"], r["backend"], "ERROR", "", "", ""])
            continue
        lines.append([r["method"], r["backend"],
                      "yes" if r["reached"] else "not reached",
                      r["queries"] if r["reached"] else f">{r['queries_spent']}",
                      fmt_time(r["wall_s"]), f"{r['exploitability']:.2e}"])
    _table(["method", "backend", "reached", "queries", "wall", "final expl (max)"], lines, log)


TARGETS = [
    # (description, predicate over rows -> list of (label, value, ok))
]


def _get(rows, **kw):
    return [r for r in rows if all(r.get(k) == v for k, v in kw.items())]


def target_checks(rows):
    """The project's speed targets, evaluated on the rows of a run: list of dicts."""
    out = []

    cur = {}

    def add(desc, value, need, ok):
        t = cur.get("threads", 1)
        out.append({"target": desc + (f" [{t} threads]" if t != 1 else ""), "value": value,
                    "need": need, "ok": ok})

    def sp(r, be, key):
        cur["threads"] = r.get("threads", 1)
        return r["results"].get("nashmp-" + be, {}).get(key)
    for r in _get(rows, section="kernel", kernel="logsumexp"):
        lab = f"logsumexp {_size(r)} {r['dtype']} (c)"
        if r["dtype"] == "float64" and r["K"] >= 1000:
            for b, need in (("scipy", 5.0), ("torch", 2.5)):
                v = sp(r, "c", f"speedup_vs_{b}")
                if v is not None:
                    add(f"{lab} vs {b}", v, need, v >= need)
        if r["dtype"] == "float32" and r["K"] >= 1000:
            v = sp(r, "c", "speedup_vs_best_baseline")
            if v is not None:
                add(f"{lab} vs best library ({r['baseline_best']})", v, 1.8, v >= 1.8)
        if r["K"] <= 32 and r["B"] >= 10 ** 4:
            v = sp(r, "c", "speedup_vs_numpy")
            if v is not None:
                add(f"{lab} small rows vs numpy", v, 2.0, v >= 2.0)
    for r in _get(rows, section="kernel", kernel="kl"):
        v = sp(r, "c", "speedup_vs_best_baseline")
        if v is not None:
            add(f"kl {_size(r)} {r['dtype']} (c) vs best library ({r['baseline_best']})", v, 2.0,
                v >= 2.0)
    for r in _get(rows, section="overhead"):
        cur["threads"] = r.get("threads", 1)
        for be in ("c", "auto"):
            t = r["results"].get("nashmp-" + be, {}).get("median_s")
            if t is not None:
                add(f"overhead {r['kernel']} 1x10 ({be}) [us]", t * 1e6, 3.0, t <= 3e-6)
    need = {"K100": 10.0, "K10": 50.0, "K1000": 1.4, "K1000-packed": 1.4, "B256-K100-ownP": 2.5}
    for r in _get(rows, section="solver"):
        cur["threads"] = r.get("threads", 1)
        for be in NASHMP_BACKENDS:
            res = r["results"].get("nashmp-" + be, {})
            if r["name"] in need and res.get("speedup_vs_numpy_loop"):
                v = res["speedup_vs_numpy_loop"]
                add(f"solver {r['name']} ({be}) vs numpy loop", v, need[r["name"]],
                    v >= need[r["name"]])
            if r["K"] >= 4000 and res.get("mem_floor_pct_same_rounds"):
                v = res["mem_floor_pct_same_rounds"]
                add(f"solver {r['name']} ({be}) % of memory floor (same rounds)", v, 90.0,
                    v >= 90.0)
            elif r["K"] >= 4000 and res.get("mem_floor_pct"):
                v = res["mem_floor_pct"]
                add(f"solver {r['name']} ({be}) % of memory floor", v, 90.0, v >= 90.0)
            if res.get("speedup_f32P_vs_f64P") and "f32P" in r["name"]:
                v = res["speedup_f32P_vs_f64P"]
                add(f"solver {r['name']} ({be}) vs dense f64 P", v, 1.8, v >= 1.8)
    return out


def _print_targets(rows, log):
    tc = target_checks(rows)
    if not tc:
        return
    log("\nTargets")
    lines = [[t["target"], f"{t['value']:.3g}", f">= {t['need']:g}" if "[us]" not in t["target"]
              else f"<= {t['need']:g}", "ok" if t["ok"] else "MISS"] for t in tc]
    _table(["target", "value", "need", ""], lines, log)


# ---------------------------------------------------------------------------------------------
# plot
# ---------------------------------------------------------------------------------------------

def plot(result, path, log=print):
    """Solver convergence (exploitability vs queries and vs seconds, every method) and kernel
    scaling over K (logsumexp float64, B*K = 2**20). Needs matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("plot skipped: matplotlib is not installed (pip install matplotlib)")
        return False
    conv = [r for r in result["rows"] if r.get("section") == "convergence" and r.get("curve")]
    scal = [r for r in result["rows"] if r.get("section") == "scaling"]
    fig, axes = plt.subplots(1, 3, figsize=(17, 5))
    for r in conv:
        c = r["curve"]
        lab = r["method"] + ("" if r["backend"] == "c" else f" ({r['backend']})")
        ex = np.maximum(np.asarray(c["exploitability"], float), 1e-17)
        ls = "--" if r["backend"] != "c" else "-"
        axes[0].semilogy(c["queries"], ex, ls, label=lab)
        axes[1].semilogy(c["time_s"], ex, ls, label=lab)
    if conv:
        r0 = conv[0]
        for ax, xl in ((axes[0], "preference queries per game"), (axes[1], "seconds")):
            ax.axhline(r0["target"], color="k", lw=0.6, ls=":")
            ax.set_xlabel(xl)
            ax.set_ylabel("exploitability (max over games)")
            ax.set_title(f"B={r0['B']} games, K={r0['K']}, beta={r0['beta']}")
            ax.legend(fontsize=7)
        axes[1].set_xscale("log")
    if scal:
        names = sorted({n for r in scal for n in r["results"]})
        for n in names:
            ks = [r["K"] for r in scal if r["results"].get(n, {}).get("Gelems")]
            vs = [r["results"][n]["Gelems"] for r in scal if r["results"].get(n, {}).get("Gelems")]
            if ks:
                axes[2].loglog(ks, vs, "o-" if n.startswith("nashmp") else "s--", label=n)
        er = result.get("floors", {}).get("exp_float64_Gelems", {})
        lab = "1" if result.get("threads", 1) == 1 else "all"
        if er.get(lab):
            axes[2].axhline(er[lab], color="k", lw=0.6, ls=":", label="np.exp rate")
        axes[2].set_xlabel("K (B = 2**20 / K)")
        axes[2].set_ylabel("Gelem/s")
        axes[2].set_title(f"logsumexp float64, {result.get('threads', 1)} thread(s)")
        axes[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    log(f"plot written to {path}")
    return True


# ---------------------------------------------------------------------------------------------
# regression comparison
# ---------------------------------------------------------------------------------------------

def _metric_pairs(row, metric):
    """(name, value, higher_is_better) of the comparable numbers of a row."""
    out = []
    res = row.get("results") or {}
    if row.get("section") == "convergence":
        if row.get("status") == "ok":
            out.append(("wall_s", row["wall_s"] if row.get("reached") else None, False))
            out.append(("queries", row.get("queries"), False))
        return out
    bl = row.get("baseline_best")
    for n, r in res.items():
        if not n.startswith("nashmp-") or n.endswith(("@n", "@0")) or not r.get("median_s"):
            continue
        if metric == "time":
            out.append((n, r["median_s"], False))
        else:
            key = "speedup_vs_numpy_loop" if row.get("section") == "solver" else \
                f"speedup_vs_{bl}" if bl else None
            v = r.get(key) if key else None
            out.append((n, v, True) if v is not None else (n + " (time)", r["median_s"], False))
    return out


def compare(old, new, threshold=0.15, metric="ratio", log=print):
    """Compare two JSON results; return the number of regressions beyond ``threshold``.

    ``metric="ratio"`` (default) compares each nashmp backend's speedup over the baseline that
    was best in the old run (robust to machine drift, the protocol's comparable number);
    ``metric="time"`` compares median times. Convergence rows compare wall time and queries.
    """
    if isinstance(old, str):
        with open(old) as f:
            old = json.load(f)
    if isinstance(new, str):
        with open(new) as f:
            new = json.load(f)
    newrows = {r["id"]: r for r in new.get("rows", [])}
    lines, bad = [], 0
    for ro in old.get("rows", []):
        rn = newrows.get(ro["id"])
        if rn is None:
            continue
        if ro.get("baseline_best") and metric == "ratio":
            bl = ro["baseline_best"]
            for r in (ro, rn):       # speedups over the same named baseline in both runs
                b = r["results"].get(bl, {}).get("median_s")
                for n, x in r["results"].items():
                    if n.startswith("nashmp-") and b and x.get("median_s"):
                        x[f"speedup_vs_{bl}"] = b / x["median_s"]
        mn = {n: (v, hb) for n, v, hb in _metric_pairs(rn, metric)}
        for n, v, hb in _metric_pairs(ro, metric):
            if v is None or n not in mn or mn[n][0] is None:
                continue
            w = mn[n][0]
            change = (v / w - 1.0) if hb else (w / v - 1.0)    # > 0 means slower
            flag = change > threshold
            bad += flag
            lines.append([ro["id"], n, f"{v:.4g}", f"{w:.4g}", f"{-100 * change:+.1f}%",
                          "REGRESSION" if flag else ""])
    _table(["row", "metric", "old", "new", "change (+ faster)", ""], lines, log)
    missing = [r["id"] for r in old.get("rows", []) if r["id"] not in newrows]
    if missing:
        log(f"{len(missing)} row(s) of OLD are not in NEW (not compared)")
    log(f"{bad} regression(s) beyond {threshold:.0%} ({metric})")
    return bad


# ---------------------------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------------------------

def _child_cmd(mode, threads, json_path, plot_path):
    cmd = [sys.executable, "-m", "nashmp._bench", "run", "--mode", mode, "--threads",
           str(threads)]
    if json_path:
        cmd += ["--json", os.path.abspath(json_path)]
    if plot_path:
        cmd += ["--plot", os.path.abspath(plot_path)]
    return cmd


def run_clean(mode="default", threads=1, json_path=None, plot_path=None):
    """Run the benchmark in a child process with the benchmark environment; returns its exit
    status."""
    if os.environ.get(CHILD_FLAG) == "1" and env_ok():
        out = run(mode, threads=threads, json_path=json_path, plot_path=plot_path)
        return 1 if out["errors"] else 0
    return subprocess.call(_child_cmd(mode, threads, json_path, plot_path),
                           env=bench_env(threads))


def main(quick=False, json_path=None, plot_path=None):
    """The ``nashmp bench [--quick] [--json FILE] [--plot FILE]`` command.

    A representative subset (< 2 minutes; ``quick``: < 20 s) at 1 thread for every competitor,
    in a child process with ``OMP_WAIT_POLICY=PASSIVE`` and without ``OPENBLAS_CORETYPE`` /
    ``OPENBLAS_L2_SIZE``. Prints the tables, writes JSON and a plot (needs matplotlib) when asked.
    Returns 0, or 1 if any result was wrong.
    """
    return run_clean("quick" if quick else "default", 1, json_path, plot_path)


def cli(argv=None):
    p = argparse.ArgumentParser(prog="python -m nashmp._bench",
                                description="nashmp benchmarks (see bench/README.md)")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a benchmark plan")
    r.add_argument("--mode", default="default", choices=("quick", "default", "full", "threads"))
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--json")
    r.add_argument("--plot")
    c = sub.add_parser("compare", help="compare two JSON results; exit 1 on a regression")
    c.add_argument("old")
    c.add_argument("new")
    c.add_argument("--threshold", type=float, default=0.15)
    c.add_argument("--metric", choices=("ratio", "time"), default="ratio")
    a = p.parse_args(argv)
    if a.cmd == "compare":
        return 1 if compare(a.old, a.new, a.threshold, a.metric) else 0
    return run_clean(a.mode, a.threads, a.json, a.plot)


if __name__ == "__main__":
    sys.exit(cli())
