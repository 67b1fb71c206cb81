"""The max-margin separator with certificates (THEORY.md §5).

For data `(x_i, y_i)` write `z_i = y_i x_i`. The homogeneous hard-margin value is

    γ* = max_{‖w‖≤1} min_i ⟨w, z_i⟩ = min_{λ∈Δ_n} ‖Σ_i λ_i z_i‖,

the distance from 0 to the convex hull of the `z_i`. With `bias=True` a constant
coordinate 1 is appended to every `x_i` first (so the bias weight counts in `‖w‖`).

* **Separable** (`γ* > 0`): a primal `w` proves `γ* ≥ min_i⟨w,z_i⟩/‖w‖`, a dual `λ ≥ 0`
  with `Σλ = 1` proves `γ* ≤ ‖Σλ_i z_i‖`. Both bounds are evaluated exactly (rationals,
  integer square roots) over all n points; the relative gap between them is the
  certified precision.
* **Not separable**: Gordan's alternative gives `λ ≥ 0`, `Σλ = 1`, `Σλ_i z_i = 0`, found
  by an LP (HiGHS dual simplex, so the solution is a vertex with at most d+1 nonzeros) and
  then solved *exactly* in rationals on its support (python-flint `fmpq_mat`).
* **Below float resolution**: when the float64 pair cannot decide (the solver calls a
  separable set infeasible, or no float `w` separates exactly, or the gap stays above 1e-9)
  and `n·d ≤ EXACT_MAX`, Wolfe's nearest-point algorithm is run in exact rationals
  (python-flint), warm-started on the float support. It terminates with the exact nearest
  point `x` of the hull: `x = 0` gives Gordan's certificate, otherwise `w = x` (exact
  rationals) and its weights pin `γ* = ‖x‖` up to the square root's rounding. Beyond that
  size, `MarginUndecided` ("undecided at float64 precision") is raised; never a wrong
  certificate.

How the pair is found. The QP `min ½‖w‖² s.t. ⟨w,z_i⟩ ≥ 1` is modelled in cvxpy and solved
by Clarabel (an interior-point solver; OSQP's first-order solution was visibly wrong here).
Its optimum gives `γ* = 1/‖w‖` and dual `α` with `w = Σα_i z_i`, `λ = α/Σα`. For large n
a working set is used: solve on a subset, add the most violated points, repeat until no
point violates. Interior-point accuracy (~1e-8) is then *polished* by a primal active-set
method over all n points (warm-started from the interior-point solution): on the working
set S, `w` is the minimum-norm solution of `⟨w,z_i⟩ = 1 (i∈S)` (least squares plus one
refinement step with an exact residual), constraints join when they block a step and leave
when their multiplier is negative; at the end `w = Σ_S α_i z_i` with `α ≥ 0`. The
certificate keeps, separately, the better primal and the better dual of the polished and
the solver's pair (the latter is evaluated only when the former misses a 1e-9 gap).

The producer evaluates the bounds exactly too (a float screen with generous slack picks
the rows that may attain `min_i⟨w,z_i⟩`, then exact rationals); the independent checker
`verify.check.kinds.separability` recomputes them with its own integer screen.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ._certificate import round_down, round_up
from ._data import Dataset, save_dataset
from ._errors import InputError

__all__ = ["MarginResult", "MarginUndecided", "max_margin", "certify_separability", "SOLVER"]

SOLVER = "CLARABEL"
FULL_QP_MAX = 2000  # up to this many points the QP is solved on all of them at once
GAP_TARGET = 1e-9  # relative gap above which the exact fallback is tried (when n·d is small)


class MarginUndecided(Exception):
    """Neither a separability nor a non-separability certificate could be completed in
    exact arithmetic (the margin is below what float64 solvers resolve)."""


@dataclass
class MarginResult:
    """Outcome of `max_margin`.

    Attributes:
        separable: whether a certified margin `> 0` was found (else Gordan's certificate).
        direction: unit float64 separator `w/‖w‖` (None when not separable).
        lower: certified `γ* ≥ lower` (the claim value, rounded down; 0.0 when not separable).
        upper: certified `γ* ≤ upper` (rounded up; 0.0 when not separable).
        gap: relative gap `(upper − lower)/upper` (0.0 when not separable).
        support: indices carrying the dual weights λ.
        bias: whether the constant coordinate was appended.
        w: the primal witness (float64, not normalised) or None.
        w_exact: the primal witness in exact rationals when the exact fallback produced it
            (then `w` is its float64 rounding).
        lam_index, lam: the dual / Gordan witness, exact rationals summing to 1.
        solver: the QP / LP solvers used.
        rounds: working-set rounds; working_set: final working-set size.
        seconds: wall time of the whole computation.
    """

    separable: bool
    direction: np.ndarray | None
    lower: float
    upper: float
    gap: float
    support: np.ndarray
    bias: bool
    n: int
    d: int
    w: np.ndarray | None = None
    lam_index: list[int] = field(default_factory=list)
    lam: list[Fraction] = field(default_factory=list)
    solver: str = ""
    rounds: int = 0
    working_set: int = 0
    seconds: float = 0.0
    w_exact: list[Fraction] | None = None

    def to_dict(self) -> dict:
        return {
            "separable": self.separable,
            "direction": None if self.direction is None else self.direction.tolist(),
            "lower": self.lower, "upper": self.upper, "gap": self.gap,
            "support": [int(i) for i in self.support], "bias": self.bias, "n": self.n, "d": self.d,
            "solver": self.solver, "rounds": self.rounds, "working_set": self.working_set,
            "seconds": self.seconds,
        }


# ----------------------------------------------------------------------------- exact bounds

def _signed_points(data: Dataset, bias: bool) -> np.ndarray:
    X = np.hstack([data.X, np.ones((data.n, 1))]) if bias else data.X
    return data.y[:, None] * X  # exact: y ∈ {±1}


def _dyadic_dot(a: list[float], b: list[float]) -> tuple[int, int]:
    """`Σ_j a_j b_j = N / 2^K` exactly for floats (every float is p/2^e): returns (N, K)."""
    terms, top = [], 0
    for x, y in zip(a, b):
        if x != 0.0 and y != 0.0:
            p, q = x.as_integer_ratio()
            r, s = y.as_integer_ratio()
            e = (q * s).bit_length() - 1  # q, s are powers of two
            terms.append((p * r, e))
            top = max(top, e)
    return sum(t << (top - e) for t, e in terms), top


def _exact_dot(z: np.ndarray, w) -> Fraction:
    """`⟨z, w⟩` exactly for float vectors."""
    N, K = _dyadic_dot(z.tolist(), np.asarray(w, dtype=np.float64).tolist())
    return Fraction(N, 1 << K)


def _sqrt_hi(q: Fraction, bits: int = 160) -> Fraction:
    # smallest k/2^bits/den ≥ √q, by integer square root (same bracketing as the checker's)
    if q == 0:
        return Fraction(0)
    n = q.numerator * q.denominator << (2 * bits)
    s = math.isqrt(n)
    return Fraction(s if s * s == n else s + 1, q.denominator << bits)


def _exact_primal(Z: np.ndarray, w: np.ndarray) -> Fraction:
    """`min_i⟨w,z_i⟩ / ‖w‖` rounded down exactly (a rational ≤ the true value)."""
    s = Z @ w
    # float error of a length-d dot is ≤ d·u·Σ|z||w|; 1e-8 relative slack covers it many times
    slack = 1e-8 * (np.abs(Z) @ np.abs(w)) + 1e-300
    cand = np.flatnonzero(s - slack <= np.min(s + slack))
    m = min(_exact_dot(Z[i], w) for i in cand)
    if not m > 0:
        return m
    return m / _sqrt_hi(_exact_dot(w, w))


def _exact_dual(Z: np.ndarray, idx: list[int], alpha: list[float]) -> Fraction:
    """`‖Σλ_i z_i‖` with `λ = α/Σα`, rounded up exactly (dyadic integers throughout)."""
    A = Z[idx]
    total = Fraction(0)
    for a in alpha:
        total += Fraction(a)
    norm2 = Fraction(0)
    for j in range(Z.shape[1]):
        N, K = _dyadic_dot(A[:, j].tolist(), list(alpha))
        norm2 += Fraction(N * N, 1 << (2 * K))
    return _sqrt_hi(norm2 / (total * total))


def _positive(idx: np.ndarray, alpha: np.ndarray) -> tuple[list[int], list[float]]:
    keep = alpha > 0
    return [int(i) for i in idx[keep]], [float(a) for a in alpha[keep]]


def _simplex_weights(alpha: list[float]) -> list[Fraction]:
    """Exact λ = α/Σα (the floats are exact rationals)."""
    q = [Fraction(a) for a in alpha]
    total = sum(q, Fraction(0))
    return [v / total for v in q]


# ----------------------------------------------------------------------------- solvers

def _solve_qp(A: np.ndarray):
    """`min ½‖w‖² s.t. A w ≥ 1` with cvxpy + Clarabel → (status, w, α)."""
    import cvxpy as cp

    w = cp.Variable(A.shape[1])
    cons = [A @ w >= 1]
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(w)), cons)
    try:
        # QDLDL factors these dense-block KKT systems 2-3x faster than the default (faer) here
        prob.solve(solver=SOLVER, direct_solve_method="qdldl")
    except cp.error.SolverError:
        return "error", None, None
    if prob.status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
        return "infeasible", None, None
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or w.value is None:
        return "error", None, None
    alpha = np.asarray(cons[0].dual_value, dtype=np.float64).reshape(-1)
    wv = np.asarray(w.value, dtype=np.float64)
    if not (np.all(np.isfinite(wv)) and np.all(np.isfinite(alpha))):
        return "error", None, None
    return "optimal", wv, np.maximum(alpha, 0.0)


def _min_norm(A: np.ndarray) -> np.ndarray:
    """Minimum-norm `w` with `A w = 1`: least squares, then one step of iterative
    refinement whose residual is computed exactly (extended precision for large A), which
    removes the error that a residual rounded in float64 would leave."""
    ones = np.ones(A.shape[0])
    w = np.linalg.lstsq(A, ones, rcond=None)[0]
    if A.size <= 10000:
        r = np.array([float(1 - _exact_dot(a, w)) for a in A])
    else:
        r = (ones.astype(np.longdouble) - A.astype(np.longdouble) @ w.astype(np.longdouble)).astype(np.float64)
    return w + np.linalg.lstsq(A, r, rcond=None)[0]


def _polish(Z: np.ndarray, w0: np.ndarray, cand: np.ndarray, weight: np.ndarray, max_iter: int = 1000):
    """Primal active-set method (Nocedal & Wright, Alg. 16.3) for `min ½‖w‖² s.t. Zw ≥ 1`,
    warm-started from the interior-point solution → (w, working set, α) or None.

    `w0/min_i⟨w0,z_i⟩` is feasible; the working set starts as the near-active points, by
    decreasing solver weight, kept linearly independent. Each step solves the equality
    problem on the working set (minimum-norm solution, refined with an exact residual), moves
    toward it until a constraint blocks (which joins), and at a stationary point drops the
    most negative multiplier; all multipliers ≥ 0 is optimality.
    """
    n, d = Z.shape
    s = Z @ w0
    if not s.min() > 0:
        return None
    w = w0 / s.min()
    s = Z @ w
    S: list[int] = []
    basis = np.zeros((d, 0))
    for i in cand[np.argsort(-weight)]:
        if s[i] > 1 + 1e-6 or len(S) == d:
            continue
        z = Z[i]
        r = z - basis @ (basis.T @ z)
        r -= basis @ (basis.T @ r)  # twice is enough (Gram-Schmidt re-orthogonalisation)
        if np.linalg.norm(r) > 1e-8 * np.linalg.norm(z):
            S.append(int(i))
            basis = np.column_stack([basis, r / np.linalg.norm(r)])
    for _ in range(max_iter):
        w_eq = _min_norm(Z[S]) if S else np.zeros(d)
        if not np.all(np.isfinite(w_eq)):
            return None
        p = w_eq - w
        stationary = np.linalg.norm(p) <= 1e-12 * np.linalg.norm(w)
        if not stationary and len(S) == d:
            # d independent equalities pin w_eq: p is rounding unless w_eq violates a point
            s_eq = Z @ w_eq
            s_eq[S] = np.inf
            stationary = s_eq.min() >= 1 - 1e-12
        if stationary:
            if not S:
                return None
            alpha = np.linalg.lstsq(Z[S].T, w_eq, rcond=None)[0]
            if alpha.min() >= -1e-12 * alpha.max():
                return w_eq, np.asarray(S), np.maximum(alpha, 0.0)
            S.pop(int(np.argmin(alpha)))
            w = w_eq
            continue
        zp = Z @ p
        block = zp < 0
        block[S] = False
        t, j = 1.0, -1
        if np.any(block):
            idx = np.flatnonzero(block)
            # s_i + t·zp_i ≥ 1 ⇔ t ≤ (1 − s_i)/zp_i (≥ 0; rounding may leave s_i just below 1)
            ratios = np.minimum(1 - s[idx], 0.0) / zp[idx]
            k = int(np.argmin(ratios))
            if ratios[k] < 1.0:
                t, j = float(ratios[k]), int(idx[k])
        w = w + t * p
        s = Z @ w
        if j >= 0:
            if len(S) == d:
                return None
            S.append(j)
    return None


def _exact_solve(M: list[list[Fraction]], rhs: list[Fraction]) -> list[Fraction] | None:
    """A solution of `M x = rhs` in exact rationals (free variables 0), or None if inconsistent."""
    import flint

    rows, cols = len(M), len(M[0])
    aug = flint.fmpq_mat(rows, cols + 1, [flint.fmpq(v.numerator, v.denominator)
                                          for r, b in zip(M, rhs) for v in (*r, b)])
    R, rank = aug.rref()
    x = [Fraction(0)] * cols
    for r in range(rank):
        lead = next(c for c in range(cols + 1) if R[r, c] != 0)
        if lead == cols:
            return None  # a row 0 = 1: inconsistent
        v = R[r, cols]
        x[lead] = Fraction(int(v.p), int(v.q))
    return x


def _gordan(Zs: np.ndarray, Z: np.ndarray, idx: np.ndarray) -> tuple[list[int], list[Fraction]] | None:
    """Exact `λ ≥ 0`, `Σλ = 1`, `Σλ_i z_i = 0` supported in `idx`, or None.

    The LP runs on the rescaled points `Zs`; the exact solve uses the original `Z`, so the
    certificate holds for the data the checker reads even if the rescale lost bits."""
    from scipy.optimize import linprog

    A = Zs[idx]
    k, d = A.shape
    A_eq = np.vstack([A.T, np.ones((1, k))])
    b_eq = np.zeros(d + 1)
    b_eq[-1] = 1.0
    res = linprog(np.zeros(k), A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs-ds")
    if res.status != 0 or res.x is None:
        return None
    lam = res.x
    order = np.argsort(-lam)
    # the basic solution has at most d+1 positive entries; try the support, then prefixes
    support = order[: int(np.sum(lam > 1e-12 * lam.max()))]
    for S in (support, order[: min(k, d + 1)]):
        if len(S) == 0:
            continue
        M = [[Fraction(float(Z[idx[i], j])) for i in S] for j in range(d)] + [[Fraction(1)] * len(S)]
        rhs = [Fraction(0)] * d + [Fraction(1)]
        x = _exact_solve(M, rhs)
        if x is None or any(v < 0 for v in x):
            continue
        pairs = [(int(idx[i]), v) for i, v in zip(S, x) if v > 0]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    return None


EXACT_MAX = 200_000  # n·d up to which the exact nearest-point fallback is attempted


def _wolfe_exact(Z: np.ndarray, start=None, max_iter: int = 10_000):
    """Wolfe's nearest-point algorithm in exact rationals (python-flint `fmpq`).

    Finds the point `x = Σ_S λ_i z_i` of the convex hull nearest to 0, with `λ > 0` on an
    affinely independent S; exact arithmetic makes it terminate with the true optimum
    (`min_i⟨x,z_i⟩ ≥ ‖x‖²`). `x = 0` is Gordan's certificate; otherwise `w = x` proves
    `γ* ≥ ‖x‖` and `λ` proves `γ* ≤ ‖x‖`. Used when float64 cannot decide.

    Returns:
        (x as Fractions, S, λ as Fractions), or None if `max_iter` was reached.
    """
    import flint

    n, d = Z.shape
    Zq = flint.fmpq_mat(n, d, [flint.fmpq(*float(v).as_integer_ratio()) for v in Z.ravel()])

    def affine_min(S):
        # min ‖Σμ_i z_i‖ over Σμ = 1: [G 1; 1ᵀ 0][μ; ν] = [0; 1]
        k = len(S)
        A = flint.fmpq_mat(k, d, [Zq[i, j] for i in S for j in range(d)])
        G = A * A.transpose()
        K = flint.fmpq_mat(k + 1, k + 1, [G[a, b] if a < k and b < k else (0 if a == k and b == k else 1)
                                          for a in range(k + 1) for b in range(k + 1)])
        rhs = flint.fmpq_mat(k + 1, 1, [0] * k + [1])
        try:
            sol = K.solve(rhs)
        except ZeroDivisionError:  # affinely dependent
            return None
        return [sol[a, 0] for a in range(k)]

    def point(S, lam):
        return flint.fmpq_mat(d, 1, [sum((lam[a] * Zq[i, j] for a, i in enumerate(S)), flint.fmpq(0))
                                     for j in range(d)])

    S, lam = None, None
    if start is not None and 0 < len(start) <= d + 1:
        S0 = [int(i) for i in start]
        mu = affine_min(S0)
        if mu is not None and all(m > 0 for m in mu):
            S, lam = S0, mu
    if S is None:
        S, lam = [int(np.argmin(np.einsum("ij,ij->i", Z, Z)))], [flint.fmpq(1)]
    x = point(S, lam)
    for _ in range(max_iter):
        xx = (x.transpose() * x)[0, 0]
        v = Zq * x
        j = min(range(n), key=lambda i: v[i, 0])
        if v[j, 0] >= xx or j in S:  # optimal (j ∈ S cannot happen short of optimality)
            to_q = lambda a: Fraction(int(a.p), int(a.q))  # noqa: E731
            return [to_q(x[t, 0]) for t in range(d)], S, [to_q(a) for a in lam]
        S, lam = S + [j], lam + [flint.fmpq(0)]
        while True:
            mu = affine_min(S)
            if mu is None:
                return None
            if all(m > 0 for m in mu):
                lam = mu
                break
            theta = min(lam[a] / (lam[a] - mu[a]) for a in range(len(S)) if mu[a] <= 0)
            lam = [theta * mu[a] + (1 - theta) * lam[a] for a in range(len(S))]
            keep = [a for a in range(len(S)) if lam[a] > 0]
            S, lam = [S[a] for a in keep], [lam[a] for a in keep]
        x = point(S, lam)
    return None


def _initial_working_set(Z: np.ndarray, size: int) -> np.ndarray:
    # points closest to the boundary of the mean direction: a cheap guess at the support
    w0 = Z.mean(axis=0)
    norms = np.linalg.norm(Z, axis=1)
    score = (Z @ w0) / np.where(norms > 0, norms, 1.0)
    return np.sort(np.argpartition(score, size - 1)[:size])


# ----------------------------------------------------------------------------- public API

def max_margin(data: Dataset, bias: bool = False, *, max_rounds: int = 100) -> MarginResult:
    """Certified homogeneous max-margin separator (or Gordan certificate) of `data`.

    Args:
        data: the dataset.
        bias: append a constant coordinate 1 to every point (the bias trick).
        max_rounds: cap on working-set rounds.

    Returns:
        A `MarginResult`; when separable, `lower ≤ γ* ≤ upper` is proved by the witnesses
        `w` and `λ` it carries, evaluated exactly over all n points.

    Raises:
        MarginUndecided: neither certificate could be completed in exact arithmetic.
    """
    t0 = time.perf_counter()
    Z = _signed_points(data, bias)
    n, d = Z.shape
    # a power-of-two rescale keeps the solver's tolerances meaningful; the bounds are
    # evaluated on the original Z, so an entry that underflows here cannot falsify them
    zmax = float(np.max(np.abs(Z)))
    if zmax == 0.0:
        Zs = Z
    else:
        Zs = np.ldexp(Z, -math.frexp(zmax)[1])
    W = np.arange(n) if n <= FULL_QP_MAX else _initial_working_set(Zs, min(n, max(10 * d, 500)))
    add = max(2 * d, 100)
    rounds, status, w, alpha = 0, "error", None, None
    while True:
        rounds += 1
        status, w, alpha = _solve_qp(Zs[W])
        if status != "optimal":
            break
        s = Zs @ w
        inW = np.zeros(n, dtype=bool)
        inW[W] = True
        viol = np.flatnonzero((s < 1 - 1e-7) & ~inW)
        # violators left after max_rounds are the active-set polish's job (it works on all
        # n points from any strictly separating start; each of its steps costs O(nd))
        if viol.size == 0 or rounds >= max_rounds:
            break
        new = viol[np.argsort(s[viol])[:add]]
        W = np.union1d(W, new)
        if rounds >= 5:  # a poor first guess: grow geometrically so the rounds stay O(log n)
            add *= 2
    solver = f"cvxpy+{SOLVER}"

    def not_separable(where: np.ndarray) -> MarginResult | None:
        g = _gordan(Zs, Z, where)
        if g is None:
            return None
        idx, lam = g
        return MarginResult(False, None, 0.0, 0.0, 0.0, np.asarray(idx), bias, n, d, None, idx, lam,
                            solver + ", scipy-HiGHS dual simplex, flint exact solve", rounds, len(W),
                            time.perf_counter() - t0)

    def exact(start) -> MarginResult | None:
        # the float64 pair could not decide (or not to 1e-9): settle it in exact rationals
        if n * d > EXACT_MAX:
            return None
        r = _wolfe_exact(Z, start)
        if r is None:
            return None
        x, S, lam = r
        how = solver + ", exact Wolfe nearest point (flint)"
        if all(v == 0 for v in x):
            return MarginResult(False, None, 0.0, 0.0, 0.0, np.asarray(S), bias, n, d, None, S, lam,
                                how, rounds, len(W), time.perf_counter() - t0)
        xx = sum((v * v for v in x), Fraction(0))
        up = _sqrt_hi(xx)
        lower, upper = round_down(xx / up), round_up(up)
        wf = np.array([float(v) for v in x])
        return MarginResult(True, wf / np.linalg.norm(wf), lower, upper, (upper - lower) / upper, np.asarray(S),
                            bias, n, d, wf, S, lam, how, rounds, len(W), time.perf_counter() - t0, w_exact=x)

    if status != "optimal":
        res = (not_separable(W) or (not_separable(np.arange(n)) if len(W) < n else None)
               or exact(None))
        if res is None:
            raise MarginUndecided(
                f"{data.source}: the QP solver reported {status} and neither certificate could be "
                "completed in exact arithmetic: undecided at float64 precision")
        return res

    # candidate primal/dual pairs: the polished one, then the solver's (evaluated only if the
    # polished pair is missing or short of the target gap; the better bound of each side wins)
    pairs = [(w, _positive(W, alpha))]
    pol = _polish(Zs, w, W, alpha)
    if pol is not None:
        wp, Sp, ap = pol
        pairs.insert(0, (wp, _positive(Sp, ap)))
    best_lo, best_w, best_up, best_dual = None, None, None, None
    for cand, (idx, a) in pairs:
        lo = _exact_primal(Z, cand)
        if best_lo is None or lo > best_lo:
            best_lo, best_w = lo, cand
        if idx:
            up = _exact_dual(Z, idx, a)
            if best_up is None or up < best_up:
                best_up, best_dual = up, (idx, a)
        if best_lo > 0 and best_up is not None and (best_up - best_lo) <= GAP_TARGET * best_up:
            break
    duals = [p[1] for p in pairs]
    start = duals[0][0] if duals[0][0] else None
    if not best_lo > 0 or best_dual is None:
        res = not_separable(np.arange(n)) or exact(start)
        if res is None:
            raise MarginUndecided(
                f"{data.source}: no float64 separator is certified to separate exactly and neither "
                "certificate could be completed in exact arithmetic: undecided at float64 precision")
        return res
    lower, upper = round_down(best_lo), round_up(best_up)
    if (upper - lower) / upper > GAP_TARGET:
        res = exact(start)
        if res is not None and (not res.separable or res.gap < (upper - lower) / upper):
            return res
    idx, lam = best_dual[0], _simplex_weights(best_dual[1])
    return MarginResult(
        separable=True, direction=best_w / np.linalg.norm(best_w), lower=lower, upper=upper,
        gap=(upper - lower) / upper, support=np.asarray(idx), bias=bias, n=n, d=d, w=best_w,
        lam_index=idx, lam=lam, solver=solver + (" + active-set polish" if pol is not None else ""),
        rounds=rounds, working_set=len(W), seconds=time.perf_counter() - t0)


def _data_input(data: Dataset, data_path, cert_path: Path) -> Path:
    """The .npz file the certificate names: `data_path` if it holds exactly this data,
    otherwise a copy written next to the certificate (`CERT.data.npz`)."""
    if data_path is not None:
        from ._io import load_npz

        p = Path(data_path)
        if p.suffix.lower() == ".npz" and p.is_file():
            z = load_npz(p)
            X, y = z.get("X"), z.get("y")
            if (X is not None and y is not None and X.shape == data.X.shape and y.shape == data.y.shape
                    and np.array_equal(X.astype(np.float64), data.X) and np.array_equal(y.astype(np.float64), data.y)):
                return p
    name = cert_path.name[:-5] if cert_path.name.lower().endswith(".json") else cert_path.name
    return save_dataset(cert_path.with_name(name + ".data.npz"), data)


def certify_separability(data: Dataset, out: str | os.PathLike, *, bias: bool = False,
                         data_path: str | os.PathLike | None = None,
                         result: MarginResult | None = None) -> Path:
    """Write the separability (or, if the data is not separable, the non-separability)
    certificate of `data` to `out` (JSON, atomically).

    Args:
        data: the dataset.
        out: certificate path (`.json`).
        bias: the bias trick (a parameter the checker applies itself).
        data_path: an `.npz` holding exactly this data to reference; otherwise the data is
            written next to the certificate as `<out stem>.data.npz`.
        result: a `max_margin(data, bias)` result to reuse.

    Returns:
        The path written.
    """
    from ._certificate import claim, input_entry, make_certificate, rational, rational_list, write_certificate

    out = Path(out)
    if result is None:
        result = max_margin(data, bias)
    elif result.bias != bias or result.n != data.n:
        raise InputError("certify_separability: result was computed for other data or another bias setting")
    out.parent.mkdir(parents=True, exist_ok=True)
    dpath = _data_input(data, data_path, out)
    inputs = [input_entry("data", dpath, out.parent)]
    params = {"bias": bias, "formulation": "homogeneous hard margin: max_{‖w‖≤1} min_i y_i<w,x_i>"}
    lam = {"index": [int(i) for i in result.lam_index], "value": [rational(v) for v in result.lam]}
    info = {"n": result.n, "d": result.d, "solver": result.solver, "seconds": result.seconds,
            "source": data.source}
    if result.separable:
        claims = [claim("margin_lower", ">=", result.lower, "primal: min_i y_i<w,x_i>/||w||"),
                  claim("margin_upper", "<=", result.upper, "dual: ||sum_i lambda_i y_i x_i||")]
        w = [rational(v) for v in result.w_exact] if result.w_exact is not None else rational_list(result.w)
        witness = {"w": w, "lambda": lam}
        info |= {"relative_gap": result.gap, "support_size": len(result.lam_index)}
        cert = make_certificate("separability", inputs, params, claims, witness, info)
    else:
        claims = [claim("margin_upper", "<=", 0.0, "Gordan: sum_i lambda_i y_i x_i = 0 exactly")]
        cert = make_certificate("non-separability", inputs, params, claims, {"lambda": lam}, info)
    return write_certificate(out, cert)
