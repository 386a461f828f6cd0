"""Approximate Nash-MP at K = 10^5: exploitability vs preference queries, against Nash-MD and
online IPO (OMD) under the same query budget.

Two contextual games, ``B`` contexts, ``K`` actions with embeddings ``e_y`` in ``R^d``, a random
skew-symmetric ``R_x`` per context (intransitive), uniform reference, regularization ``beta``:

* ``logistic``: ``P_x(y ≻ y') = sigmoid(e_y^T R_x e_y')``. The log-linear class is
  misspecified here (the equilibrium is not log-linear in ``e_y``): every method meets the
  same representability floor.
* ``linear``: ``P_x(y ≻ y') = 1/2 + e_y^T R_x e_y'`` (unit-norm embeddings, ``|R_x|_2 = 1/2``):
  the equilibrium is exactly log-linear, only the sampling error remains.

The algorithms only see sampled comparisons (Bernoulli outcomes, one query each) and a
log-linear policy ``pi_theta(y|x) ∝ exp(theta_x . e_y)`` over the ``d`` embedding features; an
inner SGD step costs ``O(n d)``, plus one ``O(K d)`` sampling pass per prox step. Runs: Nash-MP
with a constant number of samples per SGD step, Nash-MP with batches growing 1.1x per outer
iteration, Nash-MD (schedule ``2/(beta (t+2))``) and online IPO / OMD (``eta beta = 1/2``).

Exact exploitability (the metric only) needs ``g(pi) = P pi`` over all ``K`` actions: ``O(K d)``
for the linear game; for the logistic game the embeddings are drawn from ``M`` prototypes
(``e_y = c_{l(y)}``) so that ``g`` costs ``O(K + M^2 d)`` instead of ``O(K^2 d)``
(``--prototypes 0``: distinct embeddings and the tiled ``O(K^2 d)`` evaluation, exact but
minutes per evaluation at ``K = 10^5``). The algorithms do not know either structure.

Usage::

    python bench/bench_approx.py [--quick] [--json FILE] [--plot FILE] [--seed S]
                                 [--game both|logistic|linear] [--K K] [--B B] [--budget N]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

# The per-step BLAS calls are small (B x d x K at most): BLAS threads only add synchronization
# (10x slower on a busy 2-core machine). One BLAS thread unless the caller chose otherwise; read
# when NumPy loads, hence before the import.
for _v in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402


def make_game(B, K, d, M, scale, seed, shift=1.0):
    """Embeddings ``N(mu, I_d)`` with ``|mu| = shift`` (a common direction, so that the uniform
    policy is far from the equilibrium), ``R_x = scale (A - A^T) / sqrt(2 d)``."""
    from nashmp.approx import EmbeddingPreference
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((B, d, d))
    R = scale * (A - np.swapaxes(A, 1, 2)) / np.sqrt(2 * d)
    mu = rng.standard_normal(d)
    mu *= shift / np.linalg.norm(mu)
    if M > 0:
        C = rng.standard_normal((M, d)) + mu
        labels = rng.integers(0, M, K)
        pref = EmbeddingPreference(C, R, labels=labels)
    else:
        pref = EmbeddingPreference(rng.standard_normal((K, d)) + mu, R)
    return pref


def make_linear_game(B, K, d, seed, shift=1.0):
    """``P_x(y ≻ y') = 1/2 + e_y^T R_x e_y'`` with unit-norm embeddings (normalized
    ``N(mu, I_d)``) and ``|R_x|_2 = 1/2``: a well-specified game for the log-linear policy (the
    equilibrium is exactly log-linear in ``e_y``); exact ``g`` in ``O(K d)``."""
    from nashmp.approx import EmbeddingPreference
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((B, d, d))
    R = A - np.swapaxes(A, 1, 2)
    R *= 0.5 / np.linalg.norm(R, 2, axis=(1, 2))[:, None, None]
    mu = rng.standard_normal(d)
    mu *= shift / np.linalg.norm(mu)
    E = rng.standard_normal((K, d)) + mu
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    return EmbeddingPreference(E, R, link="linear")


def numba_threads():
    import numba
    return numba.get_num_threads()


def check_exact_g(pref, B, seed, rows=64):
    """Max error of ``pref.apply`` (the exact metric's ``g``) against direct sums of the pair
    probabilities over all ``K`` columns, on ``rows`` random rows of every context."""
    rng = np.random.default_rng(seed)
    pi = rng.dirichlet(np.ones(pref.K), size=B)
    g = pref.apply(pi)
    err = 0.0
    for b in range(B):
        i = rng.integers(0, pref.K, rows)
        Pij = pref.entries(i[:, None], np.arange(pref.K)[None, :], np.full((1, 1), b))
        err = max(err, float(np.abs(Pij @ pi[b] - g[b, i]).max()))
    return err


def n_outer_for(budget, method, n_inner, n, loss, growth):
    """Outer iterations that fit in ``budget`` queries per context."""
    per = (2 if loss == "square" else 1) * n_inner * (2 if method == "nash_mp" else 1)
    tot, t = 0, 0
    while True:
        c = per * int(np.ceil(n * growth ** t - 1e-9))
        if tot + c > budget:
            return max(1, t)
        tot += c
        t += 1


def run_method(pref, beta, method, budget, n_inner, n, eta, seed, d, B, loss="square",
               growth=1.0):
    """Runs until ``budget`` queries per context; returns the history (queries per context)."""
    from nashmp.approx import LogLinearPolicy, solve
    n_outer = n_outer_for(budget, method, n_inner, n, loss, growth)
    pol = LogLinearPolicy(pref.E, np.zeros((B, d)))
    t0 = time.perf_counter()
    res = solve(pref, beta, policy=pol, method=method, eta=eta, n_outer=n_outer,
                n_inner=n_inner, samples_per_step=n, samples_growth=growth, loss=loss,
                rng=np.random.default_rng(seed), eval_every=max(1, n_outer // 12))
    wall = time.perf_counter() - t0
    h = res.history
    q = h["n_queries"] / B
    ex = h["exploitability"]
    return {"method": method, "loss": loss, "eta": None if eta is None else float(eta),
            "samples_growth": growth,
            "n_outer": n_outer, "n_inner": n_inner, "samples_per_step": n,
            "queries_per_context": q.tolist(), "exploitability_mean": ex.mean(axis=1).tolist(),
            "exploitability_max": ex.max(axis=1).tolist(), "solver_time_s": float(h["time"][-1]),
            "wall_s": wall, "final_mean": float(ex[-1].mean())}


def at_budget(run, b):
    """Exploitability of the last evaluation within ``b`` queries per context."""
    q = np.array(run["queries_per_context"])
    i = np.searchsorted(q, b, side="right") - 1
    return run["exploitability_mean"][i] if i >= 0 else float("nan")


RUNS = [  # label, method, eta (None: default; a callable of beta), samples, growth
    ("approx Nash-MP", "nash_mp", None, 256, 1.0),
    ("approx Nash-MP, batches x1.1/iter", "nash_mp", None, 64, 1.1),
    ("approx Nash-MD", "nash_md", None, 256, 1.0),
    ("approx online IPO (OMD, eta beta=1/2)", "omd", lambda beta: 0.5 / beta, 256, 1.0),
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller run (< 30 s)")
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--plot", help="save exploitability vs queries to this image")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--game", choices=("both", "logistic", "linear"), default="both")
    ap.add_argument("--K", type=int, default=100_000)
    ap.add_argument("--B", type=int, default=None)
    ap.add_argument("--d", type=int, default=8)
    ap.add_argument("--prototypes", type=int, default=1024,
                    help="logistic game: distinct embeddings (0: all distinct, O(K^2 d) "
                         "exact evaluation)")
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--scale", type=float, default=2.0, help="scale of the logistic scores")
    ap.add_argument("--budget", type=int, default=None, help="queries per context")
    ap.add_argument("--n-inner", type=int, default=10)
    args = ap.parse_args(argv)
    B = args.B or (4 if args.quick else 8)
    budget = args.budget or (100_000 if args.quick else 600_000)
    n_inner = args.n_inner
    import nashmp
    from nashmp.approx import LogLinearPolicy, solve
    beta = args.beta
    # JIT warm-up (compilation is reported apart; cached on disk after the first run)
    t0 = time.perf_counter()
    small = make_game(2, 64, args.d, 0, args.scale, 1)
    solve(small, beta, policy=LogLinearPolicy(small.E, np.zeros((2, args.d))), n_outer=1,
          n_inner=2, samples_per_step=4, rng=0)
    t_jit = time.perf_counter() - t0
    games = ("logistic", "linear") if args.game == "both" else (args.game,)
    print(f"# approximate Nash-MP bench: B={B} contexts, K={args.K} actions, d={args.d} "
          f"features, beta={beta}, budget {budget} queries/context, {n_inner} SGD steps per "
          f"prox step; nashmp {nashmp.__version__}, JIT warm-up {t_jit:.1f} s; threads: "
          f"BLAS {os.environ['OPENBLAS_NUM_THREADS']}, numba {numba_threads()}")
    out = {"threads": {"blas": os.environ["OPENBLAS_NUM_THREADS"], "numba": numba_threads()},
           "config": {"B": B, "K": args.K, "d": args.d, "prototypes": args.prototypes,
                      "beta": beta, "scale": args.scale, "budget": budget, "n_inner": n_inner,
                      "seed": args.seed, "quick": args.quick},
           "timing": {"jit_warmup_s": t_jit}, "games": {}}
    grid = np.unique(np.geomspace(budget / 32, budget, 6).astype(int))
    for game in games:
        t0 = time.perf_counter()
        if game == "logistic":
            pref = make_game(B, args.K, args.d, args.prototypes, args.scale, args.seed)
            desc = (f"P = sigmoid(e^T R_x e'), {args.prototypes or args.K} distinct embeddings "
                    "(log-linear class misspecified)")
        else:
            pref = make_linear_game(B, args.K, args.d, args.seed)
            desc = "P = 1/2 + e^T R_x e' (equilibrium exactly log-linear)"
        t_game = time.perf_counter() - t0
        gerr = check_exact_g(pref, B, args.seed + 7)
        print(f"\n## game '{game}': {desc}; set-up {t_game:.2f} s; exact g checked against "
              f"direct pair sums on 64 rows/context: max error {gerr:.1e}")
        if not gerr < 1e-9:
            print("ERROR: the exact evaluation of g disagrees with the pair probabilities",
                  file=sys.stderr)
            return 1
        results = []
        for label, method, eta, n, growth in RUNS:
            r = run_method(pref, beta, method, budget, n_inner, n,
                           None if eta is None else eta(beta), args.seed + 1, args.d, B,
                           growth=growth)
            r["label"] = label
            results.append(r)
            print(f"{label:40s} outer={r['n_outer']:4d} final {r['final_mean']:.3e}  (solver "
                  f"{r['solver_time_s']:.1f} s, wall incl. exact evaluations {r['wall_s']:.1f} s)")
        print("exploitability (mean over contexts) at a query budget per context:")
        print(f"{'queries/context':>16s} " + " ".join(f"{r['label'][:15]:>15s}" for r in results))
        print(f"{0:16d} " + " ".join(f"{r['exploitability_mean'][0]:15.3e}" for r in results))
        for b in grid:
            print(f"{b:16d} " + " ".join(f"{at_budget(r, b):15.3e}" for r in results))
        out["games"][game] = {"description": desc, "setup_s": t_game, "g_check_max_error": gerr,
                              "runs": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
        print(f"wrote {args.json}")
    if args.plot:
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("--plot needs matplotlib: pip install matplotlib", file=sys.stderr)
            return 1
        fig, axes = plt.subplots(1, len(games), figsize=(6.2 * len(games), 4.4), squeeze=False)
        for ax, game in zip(axes[0], games):
            for r in out["games"][game]["runs"]:
                ax.semilogy(r["queries_per_context"], r["exploitability_mean"], marker="o",
                            ms=3, label=r["label"])
            ax.set_xlabel("preference queries per context")
            ax.set_ylabel("exploitability (mean over contexts)")
            ax.set_title(f"{game}: K={args.K}, B={B}, d={args.d}, beta={beta}", fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
