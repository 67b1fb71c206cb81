"""Many tiny LPs over one polyhedron: `max ⟨w_k,x⟩ s.t. A x ≥ b, lo ≤ x ≤ hi` for every row w_k
(`cell_bounds`), and single small dense LPs of the same form (`lp_max`).

The exact-disagreement search (THEORY.md §6, `_disagreement.py`) bounds every unfixed neuron
`⟨m_k,x⟩` over a node's region in input space: the box, the threshold row `⟨c,x⟩ ≥ U`, the
region rows `s_j⟨m_j,x⟩ ≥ 0` of the neurons fixed on the node's path and a linearization of
`N(x) ≤ 0`. With d ≈ 10 variables and a few dozen rows each LP takes microseconds in compiled
code; a general LP solver spends ~0.4 ms per call on setup alone.

Method: the bounded dual simplex on `A x − s = b`, `s ≥ 0`, on a dense tableau. The start
basis (all slacks basic, every x_i at the bound its objective coefficient prefers) is dual
feasible for any objective, so no phase 1 is needed; each pivot removes the largest primal
infeasibility. What is returned is the multiplier vector θ ≥ 0 (the slacks' reduced costs)
and the bound it proves by weak duality,

    ⟨w,x⟩ ≤ Σ_i max(g_i lo_i, g_i hi_i) − ⟨θ,b⟩,   g = w + Aᵀθ,

computed from θ itself, so the value is a valid bound whatever θ is (an iteration limit or
rounding only makes it weaker). The exact checker re-derives each bound it uses from θ.

The search's node LPs (d + k₊ + unfixed columns, ~2k₊ + unfixed rows) are small too: up to
~120 rows the same dense dual simplex (`lp_max`) beats HiGHS's per-call setup (measured at
k = 16 / 32 per sign, d = 10: 0.13 / 0.68 ms against 0.64 / 1.8 ms per LP, Python calls
included); at ~200 rows (k = 64) they are even, and the search keeps HiGHS there.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_FEAS_TOL = 1e-9     # a basic variable this far outside its bounds is still infeasible
_PIVOT_TOL = 1e-11   # smaller tableau entries never become pivots
_THETA_MIN = 1e-13   # multipliers below this (relative to the largest) are dropped


@nb.njit(cache=True)
def _dual_simplex(w, A, b, lo, hi, T, red, basis, at_upper, is_basic, z_basic, beta, theta, x):
    """One LP; writes the multipliers into `theta` and the point into `x`; returns 0 optimal,
    1 infeasible, 2 iteration limit."""
    R, d = A.shape
    n = d + R
    # T = B⁻¹[A, −I] with B = −I: [−A, I]; β = B⁻¹b = −b; reduced costs of min ⟨(−w,0), z⟩
    for r in range(R):
        for j in range(d):
            T[r, j] = -A[r, j]
        for j in range(R):
            T[r, d + j] = 0.0
        T[r, d + r] = 1.0
        basis[r] = d + r
        beta[r] = -b[r]
    for j in range(d):
        red[j] = -w[j]
        at_upper[j] = w[j] > 0
        is_basic[j] = False
    for r in range(R):
        red[d + r] = 0.0
        at_upper[d + r] = False
        is_basic[d + r] = True
    status = 2
    for _ in range(50 * n):
        # basic values z_B = β − Σ_N T_j z_j (slacks sit at 0 when nonbasic)
        for r in range(R):
            z_basic[r] = beta[r]
        for j in range(d):
            if not is_basic[j]:
                zj = hi[j] if at_upper[j] else lo[j]
                if zj != 0.0:
                    for r in range(R):
                        z_basic[r] -= T[r, j] * zj
        worst = _FEAS_TOL
        row = -1
        below = True
        for r in range(R):
            k = basis[r]
            lo_k = lo[k] if k < d else 0.0
            hi_k = hi[k] if k < d else np.inf
            if lo_k - z_basic[r] > worst:
                worst, row, below = lo_k - z_basic[r], r, True
            if z_basic[r] - hi_k > worst:
                worst, row, below = z_basic[r] - hi_k, r, False
        if row < 0:
            status = 0
            break
        # ratio test: the entering variable that keeps every reduced cost's sign
        enter = -1
        best_ratio = np.inf
        best_piv = 0.0
        for j in range(n):
            if is_basic[j] or (j < d and lo[j] == hi[j]):
                continue
            a = T[row, j]
            if abs(a) < _PIVOT_TOL:
                continue
            if below:
                ok = (a < 0 and not at_upper[j]) or (a > 0 and at_upper[j])
            else:
                ok = (a > 0 and not at_upper[j]) or (a < 0 and at_upper[j])
            if not ok:
                continue
            ratio = abs(red[j]) / abs(a)
            if ratio < best_ratio - 1e-12 or (ratio <= best_ratio + 1e-12 and abs(a) > best_piv):
                best_ratio, enter, best_piv = ratio, j, abs(a)
        if enter < 0:
            status = 1
            break
        leave = basis[row]
        piv = T[row, enter]
        for j in range(n):
            T[row, j] /= piv
        beta[row] /= piv
        for r in range(R):
            if r != row:
                f = T[r, enter]
                if f != 0.0:
                    for j in range(n):
                        T[r, j] -= f * T[row, j]
                    beta[r] -= f * beta[row]
        f = red[enter]
        if f != 0.0:
            for j in range(n):
                red[j] -= f * T[row, j]
        red[enter] = 0.0
        basis[row] = enter
        is_basic[enter] = True
        is_basic[leave] = False
        at_upper[leave] = not below
    for j in range(d):
        if not is_basic[j]:
            x[j] = hi[j] if at_upper[j] else lo[j]
    for r in range(R):
        if basis[r] < d:
            x[basis[r]] = z_basic[r]
    top = 0.0
    for r in range(R):
        theta[r] = red[d + r] if red[d + r] > 0 else 0.0
        top = max(top, theta[r])
    for r in range(R):
        if theta[r] < _THETA_MIN * top:
            theta[r] = 0.0
    return status


@nb.njit(cache=True)
def _cell_bounds(W, A, b, lo, hi):
    K, d = W.shape
    R = A.shape[0]
    n = d + R
    T = np.empty((R, n))
    red = np.empty(n)
    basis = np.empty(R, dtype=np.int64)
    at_upper = np.empty(n, dtype=np.bool_)
    is_basic = np.empty(n, dtype=np.bool_)
    z_basic = np.empty(R)
    beta = np.empty(R)
    theta = np.empty(R)
    x = np.empty(d)
    TH = np.zeros((K, R))
    VAL = np.empty(K)
    ST = np.empty(K, dtype=np.int64)
    for k in range(K):
        ST[k] = _dual_simplex(W[k], A, b, lo, hi, T, red, basis, at_upper, is_basic, z_basic, beta, theta, x)
        v = 0.0
        for r in range(R):
            TH[k, r] = theta[r]
            v -= theta[r] * b[r]
        for i in range(d):
            g = W[k, i]
            for r in range(R):
                g += theta[r] * A[r, i]
            v += max(g * lo[i], g * hi[i])
        VAL[k] = v
    return VAL, TH, ST


def cell_bounds(W, A, b, lo, hi) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every row w_k of W: multipliers θ_k ≥ 0 of the rows of `A x ≥ b` and the bound they prove.

    Args:
        W: (K, d) objectives.
        A, b: (R, d) and (R,) rows `A x ≥ b`.
        lo, hi: (d,) the box (lo_i = hi_i allowed: a fixed coordinate).

    Returns:
        (values (K,), theta (K, R), status (K,)): `values[k] ≥ max{⟨w_k,x⟩ : x feasible}`
        computed from `theta[k]` in floating point; status 0 optimal, 1 the polyhedron is
        empty (values then prove nothing useful), 2 iteration limit (values still valid).
    """
    f = np.ascontiguousarray
    return _cell_bounds(f(W, dtype=np.float64), f(A, dtype=np.float64), f(b, dtype=np.float64),
                        f(lo, dtype=np.float64), f(hi, dtype=np.float64))


@nb.njit(cache=True)
def _lp_max(w, A, b, lo, hi):
    R, d = A.shape
    n = d + R
    theta = np.zeros(R)
    x = np.zeros(d)
    status = _dual_simplex(w, A, b, lo, hi, np.empty((R, n)), np.empty(n), np.empty(R, dtype=np.int64),
                           np.empty(n, dtype=np.bool_), np.empty(n, dtype=np.bool_), np.empty(R),
                           np.empty(R), theta, x)
    return status, theta, x


def lp_max(w, A, b, lo, hi) -> tuple[int, np.ndarray, np.ndarray]:
    """One LP `max ⟨w,x⟩ s.t. A x ≥ b, lo ≤ x ≤ hi` (dense; for the search's small node LPs).

    Returns (status, theta, x): status as in `cell_bounds`; theta ≥ 0 the row multipliers;
    x the optimal point (meaningful for status 0 only).
    """
    f = np.ascontiguousarray
    return _lp_max(f(w, dtype=np.float64), f(A, dtype=np.float64), f(b, dtype=np.float64),
                   f(lo, dtype=np.float64), f(hi, dtype=np.float64))


_U = 2.0 ** -53  # unit roundoff of float64


def _gamma(n: int) -> float:
    """γ_n = n·u/(1 − n·u): a sum of n float products is within γ_n·Σ|terms| of its value."""
    return n * _U / (1.0 - n * _U)


@nb.njit(cache=True)
def _proven_bounds(W, TH, A, b, Aerr, berr, lo, hi, g_rows, g_all):
    K, d = W.shape
    R = A.shape[0]
    out = np.empty(K)
    for k in range(K):
        tot = 0.0   # Σ max(ĝ_i lo_i, ĝ_i hi_i) − Σ θ_r b_r + slack, in float
        mag = 0.0   # Σ of the magnitudes of those terms
        for i in range(d):
            g = W[k, i]
            gm = abs(W[k, i])
            ge = 0.0
            for r in range(R):
                t = TH[k, r]
                if t != 0.0:
                    g += t * A[r, i]
                    gm += t * abs(A[r, i])
                    ge += t * Aerr[r, i]
            rad = max(abs(lo[i]), abs(hi[i]))
            m = max(g * lo[i], g * hi[i])
            dlt = 2.0 * (g_rows * gm + ge) * rad  # |true g_i − ĝ_i|·rad, doubled
            tot += m + dlt
            mag += abs(g) * rad + dlt  # ≥ |m|, and covers the products' rounding
        for r in range(R):
            t = TH[k, r]
            if t != 0.0:
                tot += -t * b[r] + t * berr[r]
                mag += t * abs(b[r]) + t * berr[r]
        out[k] = tot + 2.0 * g_all * mag
    return out


def proven_bounds(W, TH, A, b, Aerr, berr, lo, hi) -> np.ndarray:
    """Float upper bounds, proven despite rounding, on the weak-duality values of `cell_bounds`.

    For every row k: the exact value of `Σ_i max(g_i lo_i, g_i hi_i) − ⟨θ_k, b*⟩` with
    `g = W_k + A*ᵀθ_k`, where the exact rows and right sides `A*`, `b*` are known only as the
    floats `A`, `b` within `Aerr`, `berr` (entrywise, ≥ 0) and every operation here rounds.
    Standard error analysis (a sum of n products is within γ_n·Σ|terms|, Higham §3.1), each
    error term doubled for the rounding of the error terms themselves; the result is pushed
    one float up. The exact checker re-derives every such bound from θ and rejects a claim
    this does not prove, so an error here could only cost a rejection, never a false bound.
    """
    f = np.ascontiguousarray
    W, TH, A = f(W, dtype=np.float64), f(TH, dtype=np.float64), f(A, dtype=np.float64)
    R, d = A.shape
    out = _proven_bounds(W, TH, A, f(b, dtype=np.float64), f(Aerr, dtype=np.float64), f(berr, dtype=np.float64),
                         f(lo, dtype=np.float64), f(hi, dtype=np.float64), _gamma(R + 2), _gamma(2 * (d + R) + 4))
    return np.nextafter(out, np.inf)
