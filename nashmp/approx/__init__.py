"""Approximate Nash-MP: sampled preference queries and parameterized policies.

The practical algorithm of Tiapkin et al. (2025), ALGORITHMS.md §5: the preference is a judge
queried pair by pair (the action space need not be enumerable by the judge), and every prox step
of Nash Mirror Prox is fitted by stochastic gradient on sampled comparisons.

* :class:`SampledOracle` -- Bernoulli (or probability) answers to sampled comparisons over a
  dense ``P``, any operator with ``entries(i, j)`` or a callable judge; counts every query.
* :class:`TabularPolicy`, :class:`LogLinearPolicy` -- policies linear in their parameters
  (``pi_theta(y|x) ∝ exp(theta . phi(x, y))``), sampled in log space (inverse CDF or
  Gumbel-max), with log-probability differences that never enumerate ``K``.
* :class:`EmbeddingPreference` -- ``P_x(y ≻ y') = sigmoid(e_y^T R_x e_y')`` for large ``K``.
* :func:`solve` -- outer Nash-MP iterations with inner SGD on the square loss (or REINFORCE),
  optional EMA anchor, the Nash-MD / online IPO baselines, and ``exact=True`` (closed-form
  prox steps: the iterates of :func:`nashmp.solve`).

Hot loops (sampling, pair probabilities, loss and gradient over a batch) are Numba kernels in
:mod:`nashmp.approx._kernels`; ``import nashmp.approx`` itself does not import Numba.

Examples
--------
A contextual game with 4 contexts and K = 2000 actions, embedding preferences and a log-linear
policy over the embeddings (exploitability is exact: the preference has ``apply``):

>>> import numpy as np
>>> from nashmp.approx import EmbeddingPreference, LogLinearPolicy, solve
>>> rng = np.random.default_rng(0)
>>> E = rng.standard_normal((2000, 6)) + 1.0
>>> A = rng.standard_normal((4, 6, 6)); pref = EmbeddingPreference(E, (A - A.swapaxes(1, 2)) / 4)
>>> res = solve(pref, 0.2, policy=LogLinearPolicy(E, np.zeros((4, 6))), n_outer=10,
...             n_inner=20, samples_per_step=128, rng=rng)
>>> res.n_queries                              # 10 x 2 x 20 x 128 x 2 queries x 4 contexts
409600
>>> bool((res.exploitability < 0.3 * res.history["exploitability"][0]).all())
True
"""
from .oracle import SampledOracle
from .policies import LogLinearPolicy, TabularPolicy
from .preferences import EmbeddingPreference
from .solver import ApproxResult, solve

__all__ = ["SampledOracle", "TabularPolicy", "LogLinearPolicy", "EmbeddingPreference", "solve",
           "ApproxResult"]
