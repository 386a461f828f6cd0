"""``nashmp demo``: Nash-MP against the baselines on a batch of random intransitive games."""
from __future__ import annotations

import time
import warnings

import numpy as np


def random_games(B, K, *, seed=0, dtype=np.float64):
    """B random intransitive preference matrices: ``P = sigma(S)`` with S skew-symmetric Gaussian
    (so ``P + P^T = 1``), shape (B, K, K)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((B, K, K))
    S = (A - np.swapaxes(A, -1, -2)) / np.sqrt(2.0)
    return (1.0 / (1.0 + np.exp(-S))).astype(dtype)


BUDGET = {"nash_mp": 4000, "extragradient": 4000, "omwu": 2000, "mmd": 1000, "omd": 1000,
          "nash_md": 1000, "sppo": 1000}


def first_reach(hist, target):
    """Queries and seconds at which every game first had exploitability <= target (or None)."""
    ok = (hist["exploitability"] <= target).reshape(len(hist["time"]), -1)
    q = hist["n_queries"].reshape(len(hist["time"]), -1)
    all_ok = ok.all(axis=1)
    if not all_ok.any():
        return None, None
    i = int(np.argmax(all_ok))
    return int(q[i].max()), float(hist["time"][i])


def run(B=64, K=500, beta=0.01, target=1e-6, seed=0, plot="nashmp-demo.png", progress=True,
        backend="auto", methods=None):
    import nashmp
    P = random_games(B, K, seed=seed, dtype=np.float32)
    print(f"nashmp demo: {B} random intransitive games, K = {K} actions, beta = {beta}, "
          f"target exploitability {target:g}; P stored in float32, iterates in float64")
    rows, curves = [], {}
    methods = methods or list(BUDGET)
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm
            bar = tqdm(total=len(methods), desc="methods", unit="method")
        except ImportError:
            print("(install tqdm for a progress bar)")
    for m in methods:
        qpi = 2 if m in ("nash_mp", "extragradient") else 1
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = nashmp.solve(P, beta, method=m, max_iter=BUDGET[m] // qpi, tol=target * 0.1,
                             check_every=10, history=True, backend=backend)
        secs = time.perf_counter() - t0
        q, s = first_reach(r.history, target)
        rows.append((m, q, s, secs, float(np.max(r.exploitability)), r.backend))
        curves[m] = (r.history["n_queries"].reshape(len(r.history["time"]), -1).mean(axis=1),
                     np.median(r.history["exploitability"].reshape(len(r.history["time"]), -1),
                               axis=1))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(method=m)
    if bar is not None:
        bar.close()
    print(f"\n{'method':<14} {'queries to ' + format(target, 'g'):>16} {'seconds to target':>18} "
          f"{'total s':>8} {'final max expl.':>16}")
    for m, q, s, secs, ex, be in rows:
        qs = f"{q}" if q is not None else f"> {BUDGET[m]}"
        ss = f"{s:.2f}" if s is not None else "not reached"
        print(f"{m:<14} {qs:>16} {ss:>18} {secs:>8.2f} {ex:>16.3g}")
    print(f"\nbackend: {rows[0][5]}; queries per game; one query = one evaluation of g(pi) = P pi")
    if plot:
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("(install matplotlib for a convergence plot)")
            return rows
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for m, (q, e) in curves.items():
            ax.semilogy(q, np.maximum(e, 1e-17), label=m)
        ax.axhline(target, color="gray", lw=0.8, ls="--")
        ax.set_xlabel("preference queries per game")
        ax.set_ylabel("median exploitability")
        ax.set_title(f"B={B} games, K={K}, beta={beta}")
        ax.legend()
        fig.tight_layout()
        fig.savefig(plot, dpi=110)
        print(f"convergence plot written to {plot}")
    return rows
