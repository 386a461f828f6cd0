"""The iterative methods of the exact solver, as data: method ids (equal to the C enum), default
step sizes, queries per iteration and the per-step coefficients.

``coefficients`` is plain Python arithmetic so the NumPy loop calls it directly and the Numba loop
compiles the same function: one definition of every update.
"""
from __future__ import annotations

METHODS = ("nash_mp", "nash_md", "omd", "mmd", "omwu", "extragradient", "sppo", "prox_point")
METHOD_ID = {m: i for i, m in enumerate(METHODS[:-1])}   # == enum nashmp_method
QUERIES_PER_ITER = {"nash_mp": 2, "nash_md": 1, "omd": 1, "mmd": 1, "omwu": 1,
                    "extragradient": 2, "sppo": 1}
TWO_STEP = (0, 5)     # nash_mp, extragradient: a half step and a full step centred at l_k

# Default step sizes (part of the API; see ``solve``'s docstring). Callables of beta.
DEFAULT_ETA = {
    "nash_mp": lambda beta: 2.0,
    "nash_md": lambda beta: 1.0,                      # unused: eta_t = 2 / (beta (t + 2))
    "omd": lambda beta: beta,                         # eta <= beta / L^2 with L <= 1
    "mmd": lambda beta: beta,
    "omwu": lambda beta: min(0.5, 1.0 / beta) if beta > 0 else 0.5,
    "extragradient": lambda beta: 2.0 / (1.0 + 2.0 * beta),   # linearization of Nash-MP, eta = 2
    "sppo": lambda beta: 0.1,
    "prox_point": lambda beta: 1.0 / beta,            # inner coefficient beta + 1/eta = 2 beta
}


def coefficients(method, beta, eta, t):
    """``(a, b, c, s)`` of one update ``z = a l + b l_ref + c g(sigma)`` at iteration ``t``.

    ``s`` is Nash-MD's mixing weight for the queried policy ``mu = N((1-s) l + s l_ref)``
    (0 for the other methods).
    """
    if method == 0:            # nash_mp
        a = 1.0 / (1.0 + eta * beta)
        return a, 1.0 - a, eta * a, 0.0
    if method == 1:            # nash_md
        e = 2.0 / (beta * (t + 2.0))
        s = e * beta
        return 1.0 - s, s, e, s
    if method == 3:            # mmd
        a = 1.0 / (1.0 + eta * beta)
        return a, 1.0 - a, eta * a, 0.0
    if method == 6:            # sppo
        return 1.0, 0.0, eta, 0.0
    # omd, omwu, extragradient
    return 1.0 - eta * beta, eta * beta, eta, 0.0
