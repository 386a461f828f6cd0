"""Benchmark of the matrix-free preference operators (nashmp.operators).

    python bench/bench_operators.py [--quick] [--json FILE] [--threads 1,2] [--no-scale]
                                    [--no-memory] [--with-numba]

Protocol (bench/README.md, nashmp._bench): each thread count runs in a child process started
with the benchmark environment (``OMP_WAIT_POLICY=PASSIVE``, no ``OPENBLAS_CORETYPE`` /
``OPENBLAS_L2_SIZE``, every library limited to that many threads, XLA single-threaded for 1);
competitors run in interleaved rounds (>= 7, each sample >= 30 ms), medians and min-max are
reported and ratios are computed inside the run; every competitor's result is checked against a
float64 reference before it is timed; first calls (JIT, tracing) are reported apart.

Rows:
  1. embedding apply, K = 20 000, d = 16, float32 and float64: nashmp C (and Numba with
     --with-numba) vs the same tiled computation written with NumPy, PyTorch CPU and jax.jit,
     and the KeOps formula of pykeops on CPU (each skipped, and said so, when not installed).
     Targets: >= 1.5x the best library, >= 5x NumPy.
  2. low-rank fused prox step, K = 1e6, r = 16: achieved read GB/s vs the DRAM read bandwidth
     measured in the same run (nashmp._bench.measure_floors). Target: >= 80 % of the floor.
  3. solves at scale (once, in the last child): Nash-MP on a low-rank game with K = 1e7 and on
     an embedding game with K = 1e5 to exploitability 1e-6: time and queries.
  4. memory: peak traced (NumPy) memory and peak RSS growth of one float32 embedding apply at
     K = 200 000, d = 16 (K x K float32 would be 160 GB).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = "NASHMP_BENCH_OPS_CHILD"


def _tile_rows(K):
    return max(1, (1 << 20) // K)          # S tiles of ~1M elements (4-8 MB: in L2/L3)


# ---------------------------------------------------------------------------------------------
# competitors of the embedding apply
# ---------------------------------------------------------------------------------------------

def embedding_case(K, d, dtype, seed=0):
    import numpy as np
    rng = np.random.default_rng(seed)
    E = (rng.standard_normal((K, d)) / np.sqrt(d)).astype(dtype)
    R = rng.standard_normal((d, d))
    R = ((R - R.T) / np.sqrt(2)).astype(dtype)
    z = rng.standard_normal(K)
    pi = np.exp(z - z.max())
    pi = (pi / pi.sum()).astype(dtype)
    return E, R, pi


def numpy_tiled(E, R, pi):
    """The tiled computation in NumPy: S = A_t E^T (BLAS), sigma in place, S pi."""
    import numpy as np
    A = E @ R
    K = E.shape[0]
    t = _tile_rows(K)
    ET = np.ascontiguousarray(E.T)
    S = np.empty((t, K), E.dtype)
    g = np.empty(K, E.dtype)

    def run():
        with np.errstate(over="ignore"):
            for i0 in range(0, K, t):
                n = min(t, K - i0)
                s = S[:n]
                np.matmul(A[i0:i0 + n], ET, out=s)
                np.negative(s, out=s)
                np.exp(s, out=s)
                s += 1
                np.reciprocal(s, out=s)
                np.matmul(s, pi, out=g[i0:i0 + n])
        return g
    return run


def torch_tiled(E, R, pi):
    import torch
    Et = torch.from_numpy(E)
    A = Et @ torch.from_numpy(R)
    p = torch.from_numpy(pi)
    K = E.shape[0]
    t = _tile_rows(K)
    ET = Et.T.contiguous()
    g = torch.empty(K, dtype=Et.dtype)

    def run():
        with torch.no_grad():
            for i0 in range(0, K, t):
                s = torch.sigmoid(A[i0:i0 + t] @ ET)
                torch.mv(s, p, out=g[i0:i0 + t])
        return g
    return run


def jax_tiled(E, R, pi):
    import jax
    import jax.numpy as jnp
    import numpy as np
    K = E.shape[0]
    t = _tile_rows(K)
    nt = -(-K // t)
    A = np.zeros((nt * t, E.shape[1]), E.dtype)
    A[:K] = E @ R

    @jax.jit
    def g(A, E, pi):
        At = A.reshape(nt, t, -1)
        return jax.lax.map(lambda a: jax.nn.sigmoid(a @ E.T) @ pi, At).reshape(-1)[:K]
    args = (jnp.asarray(A), jnp.asarray(E), jnp.asarray(pi))

    def run():
        return g(*args).block_until_ready()
    return run


def keops_lazy(E, R, pi):
    """pykeops (CPU): the same reduction as a KeOps formula, g_i = sum_j sigma(u_i . e_j) pi_j
    with u = E R, compiled by KeOps on first use (reported as the first call)."""
    from pykeops.numpy import LazyTensor
    U = E @ R
    Ui = LazyTensor(U[:, None, :])
    Ej = LazyTensor(E[None, :, :])
    pj = LazyTensor(pi[None, :, None])
    expr = ((-(Ui | Ej)).exp() + 1.0).power(-1) * pj

    def run():
        return expr.sum(axis=1).ravel()
    return run


def reference_g(E, R, pi):
    """float64 reference (NumPy tiles, float64 data)."""
    import numpy as np
    E64, R64, p64 = (np.asarray(x, np.float64) for x in (E, R, pi))
    A = E64 @ R64
    K = E.shape[0]
    t = _tile_rows(K)
    g = np.empty(K)
    for i0 in range(0, K, t):
        S = A[i0:i0 + t] @ E64.T
        T = np.exp(-np.abs(S))
        g[i0:i0 + t] = (np.where(S >= 0, 1.0, T) / (1.0 + T)) @ p64
    return g


def embedding_rows(K, d, threads, rounds, min_time, with_numba, log):
    import numpy as np

    import nashmp
    from nashmp._bench import Unavailable, interleaved, to_numpy
    rows = []
    for dt in (np.float32, np.float64):
        E, R, pi = embedding_case(K, d, dt)
        t0 = time.perf_counter()
        ref = reference_g(E, R, pi)
        t_ref = time.perf_counter() - t0
        op = nashmp.Embedding(E, R)
        makers = {"nashmp-c": lambda: (lambda: op.apply(pi, backend="c"))}
        if with_numba:
            makers["nashmp-numba"] = lambda: (lambda: op.apply(pi, backend="numba"))
        makers["numpy-tiled"] = lambda: numpy_tiled(E, R, pi)
        makers["torch-tiled"] = lambda: torch_tiled(E, R, pi)
        makers["jax-tiled"] = lambda: jax_tiled(E, R, pi)
        makers["pykeops"] = lambda: keops_lazy(E, R, pi)
        fns, first, skipped, errors = {}, {}, {}, {}
        tol = 2e-5 if dt == np.float32 else 1e-10
        for name, mk in makers.items():
            try:
                fn = mk()
                t0 = time.perf_counter()
                out = np.asarray(to_numpy(fn()), dtype=np.float64)
                first[name] = time.perf_counter() - t0
            except (ImportError, Unavailable) as exc:
                skipped[name] = f"not installed ({type(exc).__name__}: {exc})"
                continue
            err = float(np.max(np.abs(out - ref)) / np.max(np.abs(ref)))
            if not err <= tol:
                errors[name] = f"wrong result: max relative error {err:.3g} > {tol:g}"
                continue
            fns[name] = fn
        # slow competitors: fewer repetitions are fine (each sample is already >= 30 ms)
        res = interleaved(fns, rounds=rounds, min_time=min_time)
        base = res.get("nashmp-c", {}).get("median_s")
        libs = {n: r["median_s"] for n, r in res.items() if not n.startswith("nashmp")}
        best_lib = min(libs, key=libs.get) if libs else None
        row = {"row": "embedding_apply", "K": K, "d": d, "dtype": np.dtype(dt).name,
               "threads": threads, "pairs": K * K, "results": res, "first_call_s": first,
               "skipped": skipped, "errors": errors, "reference_s": t_ref,
               "mem": "K d = %.2f MB (in cache)" % (2 * K * d * np.dtype(dt).itemsize / 1e6)}
        if base:
            row["nashmp_c_Gpairs_s"] = K * K / base / 1e9
            row["ratio_vs"] = {n: libs[n] / base for n in libs}
            if best_lib:
                row["best_library"] = best_lib
                row["speedup_vs_best_library"] = libs[best_lib] / base
            if "numpy-tiled" in libs:
                row["speedup_vs_numpy_tiled"] = libs["numpy-tiled"] / base
        rows.append(row)
        log(f"  embedding K={K} d={d} {np.dtype(dt).name} threads={threads}: " + ", ".join(
            f"{n} {r['median_s'] * 1e3:.1f} ms [{r['min_s'] * 1e3:.1f}-{r['max_s'] * 1e3:.1f}]"
            for n, r in res.items()))
        if base:
            log(f"    nashmp-c {row['nashmp_c_Gpairs_s']:.2f} Gpairs/s; speedup vs best library "
                f"({best_lib}) {row.get('speedup_vs_best_library', float('nan')):.2f}x, vs "
                f"numpy-tiled {row.get('speedup_vs_numpy_tiled', float('nan')):.2f}x")
        for n, why in {**skipped, **errors}.items():
            log(f"    {n}: {why}")
    return rows


# ---------------------------------------------------------------------------------------------
# low-rank fused prox step
# ---------------------------------------------------------------------------------------------

def lowrank_rows(K, r, threads, floors, rounds, min_time, log):
    import numpy as np

    import nashmp
    from nashmp._bench import _floor_kernels, _l3_bytes, interleaved
    rows = []
    rng = np.random.default_rng(1)
    # the floor's read kernel over a float64 buffer of 4x L3, timed in the same interleaved rounds
    # as the step (this VM's bandwidth drifts within minutes): the same-rounds floor
    read_sum = _floor_kernels()[0] if floors else None
    fbuf = np.ones(4 * _l3_bytes() // 8)
    if read_sum:
        read_sum(fbuf)
    a, b, c = 1 / 1.2, 0.2 / 1.2, 2 / 1.2
    for dt in (np.float32, np.float64):
        U = (rng.standard_normal((K, r)) * 0.1 / r).astype(dt)
        V = (rng.standard_normal((K, r)) * 0.1 / r).astype(dt)
        op = nashmp.LowRankSkew(U, V)
        z = rng.standard_normal(K)
        lp = z - np.logaddexp.reduce(z)
        lr = np.full(K, -np.log(K))
        pi = np.exp(lp)
        out = np.empty(K)
        po = np.empty(K)
        # check against float64 NumPy before timing
        U64, V64 = U.astype(np.float64), V.astype(np.float64)
        g = 0.5 * pi.sum() + U64 @ (V64.T @ pi) - V64 @ (U64.T @ pi)
        zz = a * lp + b * lr + c * g
        want = zz - np.logaddexp.reduce(zz)
        op.mirror_step(lp, lr, pi, a, b, c, out=out, pi_out=po, backend="c")
        err = float(np.max(np.abs(out - want)))
        if not err < 1e-9:
            raise AssertionError(f"low-rank fused step wrong: {err}")
        # the step with carried moments (what the C solve loop runs): from the moments of the
        # previous output, returning the new output's; checked against the plain step
        L2, R2 = lp[None], lr[None]
        o2, p2, o3, p3 = (np.empty((1, K)) for _ in range(4))
        q0, qn = np.empty((1, 2 * r + 1)), np.empty((1, 2 * r + 1))
        op._mirror_step_q(L2, R2, pi[None], None, a, b, c, o2, p2, q0)
        op._mirror_step_q(L2, R2, None, q0, a, b, c, o3, p3, qn)
        err = float(np.max(np.abs(o3[0] - op.mirror_step(lp, lr, p2[0], a, b, c))))
        if not err < 1e-9:
            raise AssertionError(f"low-rank carried step wrong: {err}")
        fns = {"nashmp-c fused step": lambda: op.mirror_step(lp, lr, pi, a, b, c, out=out,
                                                             pi_out=po, backend="c"),
               "nashmp-c carried step": lambda: op._mirror_step_q(L2, R2, None, q0, a, b, c, o3,
                                                                  p3, qn),
               "nashmp-c apply": lambda: op.apply(pi, backend="c")}
        if read_sum:
            fns["floor-read"] = lambda: read_sum(fbuf)
        res = interleaved(fns, rounds=rounds, min_time=min_time)
        same = fbuf.nbytes / res.pop("floor-read")["median_s"] / 1e9 if read_sum else None
        it = np.dtype(dt).itemsize
        # bytes read by one fused step: U and V twice (two passes), pi, log_pi, log_ref, and
        # out once more (normalize pass); written: out twice, pi_out
        rd = 2 * 2 * K * r * it + 3 * 8 * K + 8 * K
        wr = 3 * 8 * K
        t = res["nashmp-c fused step"]["median_s"]
        key = "1" if threads == 1 else "all"
        floor = floors.get("dram_read_GBs", {}).get(key) if floors else None
        row = {"row": "lowrank_fused_step", "K": K, "r": r, "dtype": np.dtype(dt).name,
               "threads": threads, "results": res, "bytes_read": rd, "bytes_written": wr,
               "read_GBs": rd / t / 1e9, "read_write_GBs": (rd + wr) / t / 1e9,
               "dram_read_floor_GBs": floor, "mem": "DRAM (%.0f MB)" % ((rd + wr) / 1e6)}
        if floor:
            row["fraction_of_floor"] = rd / t / 1e9 / floor
        if same:
            row["dram_read_same_rounds_GBs"] = same
            row["fraction_of_floor_same_rounds"] = rd / t / 1e9 / same
        # carried step: U and V once, log_pi, log_ref, out again; the same writes
        rdc = 2 * K * r * it + 3 * 8 * K
        tc = res["nashmp-c carried step"]["median_s"]
        row.update(carried_bytes_read=rdc, carried_read_GBs=rdc / tc / 1e9,
                   carried_speedup=t / tc)
        if same:
            row["carried_fraction_of_floor_same_rounds"] = rdc / tc / 1e9 / same
        rows.append(row)
        log(f"  low-rank fused step K={K} r={r} {np.dtype(dt).name} threads={threads}: "
            f"{t * 1e3:.1f} ms, {row['read_GBs']:.2f} GB/s read ({row['read_write_GBs']:.2f} "
            f"incl. writes) vs DRAM read floor {floor} GB/s -> "
            f"{row.get('fraction_of_floor', float('nan')) * 100:.0f} %; same-rounds floor "
            f"{same or float('nan'):.1f} GB/s -> "
            f"{row.get('fraction_of_floor_same_rounds', float('nan')) * 100:.0f} %; apply "
            f"{res['nashmp-c apply']['median_s'] * 1e3:.1f} ms; carried step {tc * 1e3:.1f} ms "
            f"({t / tc:.2f}x the step, {row['carried_read_GBs']:.2f} GB/s read -> "
            f"{row.get('carried_fraction_of_floor_same_rounds', float('nan')) * 100:.0f} % of "
            "the same-rounds floor)")
    return rows


# ---------------------------------------------------------------------------------------------
# solves at scale
# ---------------------------------------------------------------------------------------------

def lowrank_game(K, r, rng, dtype="float32"):
    """A non-trivial low-rank game: rows u_i, v_i = unit(noise + common direction) scaled so
    that |u_i.v_j - v_i.u_j| <= 0.45 (entries in [0.05, 0.95]); the common directions make
    g(uniform) vary across actions (isotropic random factors give an almost uniform
    equilibrium)."""
    import numpy as np
    c1 = np.zeros(r, dtype)
    c1[0] = 1
    c2 = np.zeros(r, dtype)
    c2[1] = 1
    U = rng.standard_normal((K, r), dtype=np.float32).astype(dtype) * 0.5 + c1
    V = rng.standard_normal((K, r), dtype=np.float32).astype(dtype) * 0.5 + c2
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    s = np.sqrt(np.asarray(0.45 / 2, dtype))
    U *= s
    V *= s
    return U, V


def embedding_game(K, d, rng, dtype="float32"):
    """A non-trivial embedding game: embeddings with a common component (so that
    g(uniform)_i = mean_j sigma(e_i^T R e_j) varies across actions), R skew with unit-scale
    entries."""
    import numpy as np
    m = rng.standard_normal(d)
    m /= np.linalg.norm(m)
    E = (rng.standard_normal((K, d)) / np.sqrt(d) + m).astype(dtype)
    R = rng.standard_normal((d, d))
    R = ((R - R.T) / np.sqrt(2)).astype(dtype)
    return E, R


def scale_rows(quick, threads, log):
    import numpy as np

    import nashmp
    rows = []
    rng = np.random.default_rng(2)
    for kind, K, beta in (("lowrank", 10 ** 6 if quick else 10 ** 7, 0.2),
                          ("embedding", 10 ** 4 if quick else 10 ** 5, 1.0)):
        if kind == "lowrank":
            r = 16
            op = nashmp.LowRankSkew(*lowrank_game(K, r, rng))
            desc, extra = f"r={r}", {"r": r}
        else:
            d = 16
            op = nashmp.Embedding(*embedding_game(K, d, rng))
            desc, extra = f"d={d}", {"d": d}
        ex0 = float(nashmp.exploitability(op, np.full(K, -np.log(K)), beta))
        op.reset_counts()
        t0 = time.perf_counter()
        res = nashmp.solve(op, beta, tol=1e-6, check_every=5 if kind == "lowrank" else 3,
                           max_iter=2000)
        t = time.perf_counter() - t0
        rows.append({"row": f"solve_{kind}", "K": K, **extra, "dtype": "float32", "beta": beta,
                     "threads": threads, "time_s": t, "n_queries": int(res.n_queries),
                     "nit": int(res.nit), "exploitability_start": ex0,
                     "exploitability": float(res.exploitability), "success": bool(res.success),
                     "operator_calls_incl_checks": op.n_applications})
        log(f"  solve {kind} K={K} {desc} beta={beta} (Nash-MP, eta=2): {t:.1f} s, "
            f"{int(res.n_queries)} queries, {int(res.nit)} iterations, exploitability "
            f"{ex0:.2e} -> {float(res.exploitability):.2e} (success={res.success}; "
            f"{op.n_applications} operator calls incl. checks)")
        del op, res
    return rows


# ---------------------------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------------------------

_MEM = r"""
import json, sys, tracemalloc
import numpy as np, nashmp


def hwm():   # peak RSS of this address space (ru_maxrss keeps the parent's peak over exec)
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM"))

K, d = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
E = (rng.standard_normal((K, d)) / np.sqrt(d)).astype(np.float32)
R = rng.standard_normal((d, d)); R = (R - R.T).astype(np.float32)
pi = np.full(K, 1.0 / K, np.float32)
op = nashmp.Embedding(E, R)
nashmp.Embedding(E[:512], R).apply(pi[:512], backend="c")
rss0 = hwm()
tracemalloc.start()
import time; t0 = time.perf_counter()
g = op.apply(pi, backend="c")
t = time.perf_counter() - t0
cur, peak = tracemalloc.get_traced_memory()
rss1 = hwm()
print(json.dumps({"traced_peak_B": peak, "rss_growth_B": rss1 - rss0, "rss_peak_B": rss1,
                  "time_s": t, "E_bytes": E.nbytes, "KxK_f32_bytes": K * K * 4}))
"""


def memory_row(K, d, log):
    out = subprocess.run([sys.executable, "-c", _MEM, str(K), str(d)], capture_output=True,
                         text=True, check=True)
    m = json.loads(out.stdout.strip().splitlines()[-1])
    m.update(row="memory_embedding_apply", K=K, d=d, dtype="float32")
    log(f"  memory, one float32 embedding apply K={K} d={d}: traced peak "
        f"{m['traced_peak_B'] / 1e6:.1f} MB, RSS growth {m['rss_growth_B'] / 1e6:.1f} MB, "
        f"peak RSS {m['rss_peak_B'] / 1e6:.0f} MB (E: {m['E_bytes'] / 1e6:.1f} MB; K x K f32 "
        f"would be {m['KxK_f32_bytes'] / 1e9:.0f} GB), {m['time_s']:.1f} s")
    return m


# ---------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------

def child(args):
    from nashmp._bench import (_set_threads, busy_percent, env_ok, machine_info,
                               measure_floors, pin_cpus, thread_info, _versions)
    log = print
    threads = args.threads_child
    limiter = _set_threads(threads)
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        pass
    out = {"threads": threads, "env_ok": env_ok(), "busy_before_%": busy_percent(),
           "machine": machine_info(), "thread_info": thread_info(), "rows": []}
    rounds = 7
    min_time = 0.03
    log(f"[threads={threads}] machine busy {out['busy_before_%']} %; env ok: {out['env_ok']}")
    floors = measure_floors(quick=True, rounds=rounds, min_time=min_time, log=log)
    out["floors"] = floors
    log(f"  floors: DRAM read {floors.get('dram_read_GBs')} GB/s, triad "
        f"{floors.get('triad_GBs')} GB/s, exp f32 {floors.get('exp_float32_Gelems')} Gelem/s")
    out["cpu_affinity"] = pin_cpus(threads)      # competitors' helper threads share them
    if out["cpu_affinity"] is not None:
        log(f"  competitors pinned to CPU(s) {out['cpu_affinity']}")
    K = 5000 if args.quick else 20000
    rows = args.rows.split(",")
    if "embedding" in rows:
        out["rows"] += embedding_rows(K, 16, threads, rounds, min_time, args.with_numba, log)
    if "lowrank" in rows:
        out["rows"] += lowrank_rows(10 ** 5 if args.quick else 10 ** 6, 16, threads, floors,
                                    rounds, min_time, log)
    if args.scale:
        out["rows"] += scale_rows(args.quick, threads, log)
    if args.memory:
        out["rows"].append(memory_row(20_000 if args.quick else 200_000, 16, log))
    out["busy_after_%"] = busy_percent()
    out["versions"] = _versions()
    out["thread_info_after"] = thread_info()
    del limiter
    with open(args.child_json, "w") as f:
        json.dump(out, f, indent=1, default=str)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    p.add_argument("--json", help="write all results to this file")
    p.add_argument("--threads", default="1,2", help="thread counts, comma separated")
    p.add_argument("--no-scale", dest="scale", action="store_false",
                   help="skip the solves at scale")
    p.add_argument("--no-memory", dest="memory", action="store_false",
                   help="skip the K = 200 000 memory row")
    p.add_argument("--with-numba", action="store_true", help="also time the Numba backend")
    p.add_argument("--rows", default="embedding,lowrank",
                   help="timed rows to run (comma separated: embedding, lowrank)")
    p.add_argument("--threads-child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--child-json", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if os.environ.get(CHILD) == "1":
        child(args)
        return 0
    from nashmp._bench import bench_env
    counts = [int(t) for t in args.threads.split(",")]
    results = []
    import tempfile
    for n, t in enumerate(counts):
        last = n == len(counts) - 1
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tf:
            path = tf.name
        cmd = [sys.executable, os.path.abspath(__file__), "--threads-child", str(t),
               "--child-json", path]
        cmd += ["--quick"] if args.quick else []
        cmd += ["--with-numba"] if args.with_numba else []
        cmd += ["--rows", args.rows]
        cmd += [] if (args.scale and last) else ["--no-scale"]
        cmd += [] if (args.memory and last) else ["--no-memory"]
        env = bench_env(t)
        env[CHILD] = "1"
        st = subprocess.call(cmd, env=env)
        if st != 0:
            print(f"child with {t} thread(s) failed (status {st})")
            return st
        with open(path) as f:
            results.append(json.load(f))
        os.unlink(path)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"schema": 1, "runs": results}, f, indent=1)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
