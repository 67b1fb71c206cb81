"""Exact worst-case disagreement with the linear classifier, certified (THEORY.md §6).

For a unit direction `v` (default: `(w̄ − ū)/‖w̄ − ū‖`, the mean centers of THEORY.md §3):

    β⁺ = max{⟨v,x⟩ : ‖x‖_∞ ≤ 1, N(x) ≤ 0},   β⁻ = max{−⟨v,x⟩ : ‖x‖_∞ ≤ 1, N(x) ≥ 0}.

For a bias-free net `x = 0` is feasible, so `β± ≥ 0`, and `β± = 0` on both sides means the
network *is* the linear classifier `sign⟨v,x⟩` on the box, hence everywhere by positive
homogeneity. For a net with `input_bias` the last coordinate is the constant 1 (it is fixed
to 1, not boxed), so β± measure the disagreement with the affine classifier there.

Formulation (refinements of THEORY.md §6, found by derivation):

* THEORY.md states one binary per neuron. Only half are needed: `N(x) ≤ 0` reads
  `Σσ(⟨w_i,x⟩) ≤ Σσ(⟨u_j,x⟩)`, and the left side is convex, so `t_i ≥ ⟨w_i,x⟩`,
  `t_i ≥ α⟨w_i,x⟩`, `Σt_i ≤ …` is exact without binaries. Only the k₋ neurons on the right
  (k₊ for β⁻) need phases.
* The big-M constants are not `‖w‖₁` but bounds on `⟨u_j,x⟩` over the box *cut by*
  `⟨v,x⟩ ≥ U`, `U` the best value already attained (points below it cannot beat it): the
  Lagrangian bound `min_{λ≥0} Σ_i |u_ji + λv_i| − λU` is the exact LP value over that region;
  LP bound tightening over the root relaxation then shrinks them further (each bound an LP
  dual certificate).
* For a bias-free net `β± ≥ 0` always (x = 0 is feasible), so "β± ≤ 0" means `β± = 0`, and it
  is a statement about exact rationals: neurons that are float-rounded multiples of v are in
  general *not* exactly parallel to v, and then `β±` is a tiny positive number, which is
  what gets certified.
* For a net with `input_bias` the box is on the free coordinates and the constant input is
  1 (THEORY.md's `‖x‖_∞ ≤ 1` would let the bias input range over [−1, 1], which is not the
  network's input space); "everywhere by homogeneity" holds only without bias.

Search: unfixed neurons are relaxed by the chord of σ over `[l_j, h_j]` and branched on
(`⟨u_j,x⟩ ≥ 0` / `≤ 0`), the neuron whose chord costs the LP bound most first, best bound first.
Each child re-derives the bounds of every unfixed neuron over its own region: one tiny LP per
bound, `max ±⟨u_k,x⟩` over the box, `⟨v,x⟩ ≥ U`, the region rows of all neurons fixed on its
path and a linearization of `N(x) ≤ 0` at the parent's LP point (the convex side at its slopes
there, the unfixed neurons at their chords), solved by a compiled dual simplex (`_cell_lp`,
microseconds each). The LP multipliers are the certificate's cut, and each cut states the bound
`b` it proves: a float shown to lie above the exact value of its combination by rounding-error
analysis (`_cell_lp.proven_bounds`; the one inexact row, the linearization, carries entrywise
error bounds). The checker re-derives every cut's value exactly and takes `b` only if it is
proven, so the search and the checker decide phases and empty nodes on the same floats, and the
search does no exact arithmetic per cut (before, each cut was replayed in exact integers as it
was made: about half of the search's time). Each leaf's exact bound is taken, with the checker's
code, when the node becomes a leaf: the time limit covers the certificate. The two sides are
independent searches: with `workers=2` (the default where two cores are usable) β⁻ runs in a
forked process while β⁺ runs here, each with the whole time limit. Witnesses come from a
convex–concave local search (fix every right-side slope at the current point's phase: the
resulting convex set contains the point and lies inside the feasible set), started from the best
feasible points among 40 000 seeded random directions (N is positively homogeneous, so a
direction is feasible or not along its whole ray).

Measured (`benchmarks/bench_exact.py --ds 10 --time-limit 30 --no-baseline`, certificate
included; README "Exact worst-case disagreement" has the table, against the search without these
node bounds run on the same machine): the noisy clustered family (`±v + 0.3·N(0,I)`, mean-center
direction) closes k = 16 in 2.0 s (11.3 s before, 2 391 LPs instead of 11 031); at k = 32 and 64
the 30 s limit leaves proven intervals about 0.035 and 0.11 wide (0.11–0.13 and 0.21 before):
the 10 s target at k = 64 is not met for this family. Trained nets close k = 64 in 2.6 s
(4.0 s). With stated cut bounds and the sides in two processes (README, same command with
`--workers 1|2` against the previous commit): clustered k = 16 in 1.05 s, the 30 s intervals at
k = 32 and 64 about 0.015 and 0.086 wide, k = 32 closes in 88 s; trained k = 64 in 1.5 s.
Closing counts grow about ×2.5 per 4 neurons per sign (k = 20…32), so the k = 64 target is out
of reach of constant factors: the constraint is a linear term plus a difference of two
zonotopes' support functions (zonotope containment is coNP-complete). LP bound tightening over
the node's full relaxation, prototyped on top of the tiny-LP cuts, cut branchings 3.4–8× at the
same growth rate; not kept (each bound would be a leaf-sized dual vector for the checker, and it
needs warm-started LPs to pay off). Tried and dropped, measured on clustered k = 16 / 32 with
the optimum known: splitting the input box (coordinate bisection at the midpoint or at the LP
point, alone, alternating with phase splits, or in the top 6 levels: 5× slower or not closing;
each box split shrinks every neuron's range by only about 1/d), LP bound tightening of every
unfixed neuron over the node's full relaxation (at every node: fewest nodes, but 2k extra LPs
per node outweigh them; in the top 3–6 levels only: no gain), bounds from the parent's dual
multipliers before the child's LP (caught 3 of ~330 children that close), a second linearization
row at the grandparent's LP point and the branching score `min(h_j, −l_j)` (no gain beyond
noise).

Every LP bound (HiGHS via highspy; node LPs of up to `_DENSE_ROWS` rows by the compiled
dense dual simplex of `_cell_lp`, which skips HiGHS's per-call setup) becomes a certificate
leaf: the dual multipliers, as floats, combine the leaf's rows; the checker forms the
combination exactly and absorbs the residual that rounding leaves with the variable box
(Neumaier–Shcherbina), so no tolerance is trusted. When the best value is 0 (the exactly linear case) the leaf multipliers are
repaired exactly: the dual system is solved in rationals on the LP's support
(python-flint), so `β ≤ 0` is proven, not `β ≤ 10⁻¹²`; that case keeps the single-row cuts
(`_child`). If the node or time budget runs out, the open nodes become leaves at their LP
bounds: the certificate then states the interval `[lower, upper]` that is proven, never an
unproven point value.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ._errors import InputError
from ._network import Network, load_network, network_direction

__all__ = ["DisagreementResult", "SideResult", "default_direction", "exact_disagreement", "certify_disagreement"]

_CUT_GAIN = 1e-2      # a node bound becomes a cut when it shrinks the neuron's interval by this fraction
_DENSE_ROWS = 120     # node LPs with at most this many rows go to the compiled dense solver
_SAMPLES = 40000      # random directions tried for witnesses before the search
_STARTS = 16          # the best feasible ones start a local search each


def default_direction(net: Network) -> np.ndarray:
    """The unit direction `verify audit` reports, `(W − U)/‖W − U‖` (`network_direction`;
    for k₊ = k₋ the mean-center direction of THEORY.md §3). `InputError` when W = U."""
    return network_direction(net)


def _check_direction(net: Network, v) -> np.ndarray:
    if v is None:
        return default_direction(net)
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    if v.shape[0] != net.d:
        extra = " (the constant bias input included)" if net.input_bias else ""
        raise InputError(f"direction has {v.shape[0]} entries but the network has {net.d} inputs{extra}")
    if not np.all(np.isfinite(v)):
        raise InputError("direction contains NaN or inf")
    if not (np.abs(v).max() > 0):
        raise InputError("direction is the zero vector")
    return v


def _quiet_highs(highspy):
    """A Highs object without its banner: HiGHS prints it to fd 1 on first construction,
    which would corrupt `--json` output, so fd 1 points at /dev/null meanwhile."""
    import os
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)
    return h


class _LP:
    """HiGHS (highspy) on `min obj·z s.t. A z ≤ b, lo ≤ z ≤ hi`, one solver object reused.

    `solve` returns (status, value, z, y) with y ≥ 0 the multipliers of the rows, such that
    `Σ y_r a_r ≈ −obj` up to the reduced costs of the variable bounds (the checker absorbs
    those with the box); status is "optimal", "infeasible" or "failed".
    """

    def __init__(self):
        import highspy

        self.hs = highspy
        self.h = _quiet_highs(highspy)
        # the LPs are small and solved by the thousand: presolve costs more than it saves
        self.h.setOptionValue("presolve", "off")
        self.calls = 0
        self.dense = False  # set by the search where the compiled solver is used

    def solve(self, obj, A, b, lo, hi):
        hs = self.hs
        self.calls += 1
        m, n = A.shape
        if self.dense and m <= _DENSE_ROWS:
            # small LPs: a compiled dense dual simplex, without HiGHS's per-call setup;
            # anything but a clean optimum goes to HiGHS
            from ._cell_lp import lp_max

            status, y, z = lp_max(-obj, -A, -b, lo, hi)
            if status == 0:
                return "optimal", float(obj @ z), z, y
        lp = hs.HighsLp()
        lp.num_col_, lp.num_row_ = n, m
        lp.col_cost_ = np.asarray(obj, dtype=np.float64)
        lp.col_lower_ = np.asarray(lo, dtype=np.float64)
        lp.col_upper_ = np.asarray(hi, dtype=np.float64)
        lp.row_lower_ = np.full(m, -hs.kHighsInf)
        lp.row_upper_ = np.asarray(b, dtype=np.float64)
        nzr, nzc = np.nonzero(A)
        lp.a_matrix_.format_ = hs.MatrixFormat.kRowwise
        lp.a_matrix_.start_ = np.r_[0, np.cumsum(np.bincount(nzr, minlength=m))].astype(np.int32)
        lp.a_matrix_.index_ = nzc.astype(np.int32)
        lp.a_matrix_.value_ = A[nzr, nzc]
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n, m
        self.h.passModel(lp)
        self.h.run()
        st = self.h.getModelStatus()
        if st == hs.HighsModelStatus.kOptimal:
            sol = self.h.getSolution()
            y = np.maximum(-np.asarray(sol.row_dual), 0.0)
            return "optimal", float(self.h.getInfo().objective_function_value), np.asarray(sol.col_value), y
        if st == hs.HighsModelStatus.kInfeasible:
            return "infeasible", None, None, None
        return "failed", None, None, None


@dataclass
class _Node:
    fixed: dict
    value: float = -np.inf          # LP bound on ⟨c,x⟩ over the node (−inf: empty)
    x: np.ndarray | None = None
    s: np.ndarray | None = None
    y: dict | None = None           # leaf multipliers (row key → float or Fraction)
    y0: float | Fraction = 1.0
    split: int | None = None
    children: tuple | None = None   # (active, inactive)
    exact: bool = False             # multipliers repaired exactly
    state: tuple | None = None      # float (h, l, phase) valid in this node
    ex: tuple | None = None         # the same, exact (what the checker derives)
    cuts: list = field(default_factory=list)
    lin: dict | None = None         # the linearized row the cuts use (slopes of the P-neurons)
    empty: bool = False             # the cuts prove no point of H lies here


@dataclass
class SideResult:
    """One side (β⁺ or β⁻): proven interval, witness and the branch-and-bound tree."""

    lower: float | None
    upper: float
    witness: np.ndarray | None
    threshold: float
    lam_hi: list
    lam_lo: list
    tighten: list
    tree_data: dict | None
    nodes: int
    unfixed_root: int
    complete: bool
    tree_text: str | None = None    # the tree as compact JSON (what a worker process sends back)

    @property
    def tree(self) -> dict:
        """The branch-and-bound tree (nested split/leaf objects, the certificate's form)."""
        if self.tree_data is None and self.tree_text is not None:
            import json

            self.tree_data = json.loads(self.tree_text)
        return self.tree_data

    def tree_json(self) -> str:
        """The tree as compact JSON; a worker process sends this instead of the objects, which
        take seconds to unpickle for a tree of tens of thousands of nodes."""
        if self.tree_text is None:
            import json

            self.tree_text = json.dumps(self.tree_data, separators=(",", ":"))
        return self.tree_text


@dataclass
class DisagreementResult:
    """Result of `exact_disagreement`; `to_dict()` is the audit's `exact` record."""

    direction: np.ndarray
    plus: SideResult
    minus: SideResult
    seconds: float
    input_bias: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def nodes(self) -> int:
        return self.plus.nodes + self.minus.nodes

    @property
    def exactly_linear(self) -> bool:
        return self.plus.upper <= 0 and self.minus.upper <= 0

    @staticmethod
    def _point(side: SideResult) -> float | None:
        # a point value only when the proven interval has closed to the solver's precision
        if side.lower is None or not side.complete:
            return None
        return side.lower if side.upper - side.lower <= _gap_tol(side.lower) * 2 else None

    def to_dict(self) -> dict:
        return {
            "beta_plus": self._point(self.plus),
            "beta_minus": self._point(self.minus),
            "certified_interval": {"plus": [self.plus.lower, self.plus.upper],
                                   "minus": [self.minus.lower, self.minus.upper]},
            "nodes": self.nodes,
            "seconds": self.seconds,
            "exactly_linear": self.exactly_linear,
            "complete": self.plus.complete and self.minus.complete,
        }


def _gap_tol(value: float) -> float:
    """Optimality gap at which a node is closed: absolute 1e-9 plus relative 1e-8."""
    return 1e-9 + 1e-8 * abs(value)


class _SideSolver:
    """Branch and bound for max ⟨c,x⟩ over x ∈ box with Σσ(Px) ≤ Σσ(Mx)."""

    def __init__(self, P, M, alpha, c, lo, hi, deadline, max_nodes):
        self.P, self.M = np.asarray(P, float), np.asarray(M, float)
        self.alpha, self.c = float(alpha), np.asarray(c, float)
        self.lo, self.hi = np.asarray(lo, float), np.asarray(hi, float)
        self.kP, self.kM, self.d = self.P.shape[0], self.M.shape[0], self.c.shape[0]
        self.homogeneous = bool(np.all(self.lo == -1) and np.all(self.hi == 1))
        self.deadline, self.max_nodes = deadline, max_nodes
        rad = np.maximum(np.abs(self.lo), np.abs(self.hi))
        self.tb = np.abs(self.P) @ rad
        self.nodes = 0
        self.best_val = -np.inf
        self.best_x = None
        self.best_exact = None
        self.lp = _LP()

    # ---- the side's function -------------------------------------------------------
    def f(self, x) -> float:
        a = self.alpha
        zp, zm = self.P @ x, self.M @ x
        return float(np.where(zp > 0, zp, a * zp).sum() - np.where(zm > 0, zm, a * zm).sum())

    def exact_ok(self, x) -> Fraction | None:
        """⟨c,x⟩ exactly if x is in the box and satisfies the constraint exactly, else None."""
        if not (np.all(x >= self.lo) and np.all(x <= self.hi)):
            return None
        a = Fraction(self.alpha)
        xq = [Fraction(float(t)) for t in x]

        def sig(row):
            z = sum((Fraction(float(p)) * xi for p, xi in zip(row, xq)), Fraction(0))
            return z if z > 0 else a * z

        val = sum((sig(p) for p in self.P), Fraction(0)) - sum((sig(m) for m in self.M), Fraction(0))
        if not (val <= 0):
            return None
        return sum((Fraction(float(ci)) * xi for ci, xi in zip(self.c, xq)), Fraction(0))

    def offer(self, x) -> None:
        """Try x (and tiny pushes into the feasible side) as a witness."""
        if x is None:
            return
        x = np.clip(np.asarray(x, float), self.lo, self.hi)
        v = float(self.c @ x)
        if not (v > self.best_val + _gap_tol(self.best_val) * 0.01) and self.best_x is not None:
            return
        a = self.alpha
        zp, zm = self.P @ x, self.M @ x
        grad = (np.where(zp > 0, 1.0, a) @ self.P) - (np.where(zm > 0, 1.0, a) @ self.M)
        gn = float(grad @ grad)
        free = self.lo < self.hi
        # tiny pushes down the gradient of N move a boundary point of the LP onto the
        # feasible side in exact arithmetic (costing ~1e-12 of the objective)
        for step in (0.0, 1e-14, 1e-12, 1e-10):
            xt = x
            if step and gn > 0:
                xt = np.clip(x - step * (1 + abs(v)) * np.where(free, grad, 0.0) / np.sqrt(gn), self.lo, self.hi)
            if self.f(xt) > 1e-9 * (1 + abs(v)):
                continue  # clearly infeasible: not worth an exact check
            q = self.exact_ok(xt)
            if q is not None:
                if self.best_x is None or q > self.best_exact:
                    self.best_exact, self.best_x, self.best_val = q, xt.copy(), float(q)
                return

    # ---- bounds --------------------------------------------------------------------
    def _lagrange(self, V: np.ndarray, U: float) -> tuple[np.ndarray, np.ndarray]:
        """Per row V_k: the λ ≥ 0 minimizing max_box⟨V_k + λc, x⟩ − λU, and that value.

        The function is convex and piecewise linear in λ; its minimum is at 0 or at a
        breakpoint −V_ki/c_i."""
        with np.errstate(divide="ignore", invalid="ignore"):
            br = -V / self.c[None, :]
        br = np.where(np.isfinite(br) & (br > 0), br, 0.0)
        cand = np.hstack([np.zeros((V.shape[0], 1)), br])
        coef = V[:, None, :] + cand[:, :, None] * self.c[None, None, :]
        phi = np.maximum(coef * self.lo, coef * self.hi).sum(axis=2) - cand * U
        idx = np.argmin(phi, axis=1)
        rows = np.arange(V.shape[0])
        return cand[rows, idx], phi[rows, idx]

    def lambdas(self, U: float) -> tuple[np.ndarray, np.ndarray]:
        """Minimizing λ ≥ 0 of the Lagrangian bounds on ±⟨m_j,x⟩ over box ∩ {⟨c,x⟩ ≥ U}."""
        return self._lagrange(self.M, U)[0], self._lagrange(-self.M, U)[0]

    def set_bounds(self, U: float) -> None:
        # phases are fixed by the exact bounds, the same rule the checker applies
        self.U = float(U)
        self.lam_hi, self.lam_lo = self.lambdas(self.U)
        side = self._exact_side({"threshold": self.U, "lam_hi": self.lam_hi.tolist(), "lam_lo": self.lam_lo.tolist()})
        side.bounds()
        self.exact_side = side
        self.tighten_steps = []
        self._sync()

    def _load(self, node: _Node) -> None:
        """Make the node's bounds the current ones (float, and exact where kept)."""
        if node.state is None:
            return
        self.h, self.l, self.phase = node.state
        if node.ex is not None:
            self.exact_side.h, self.exact_side.l, self.exact_side.phase = node.ex

    def _snapshot(self, node: _Node, exact: bool = True) -> None:
        node.state = (self.h, self.l, self.phase)
        ex = self.exact_side
        node.ex = (ex.h, ex.l, ex.phase) if exact else None

    def _sync(self) -> None:
        side = self.exact_side
        self.h = np.array([float(q) for q in side.h])
        self.l = np.array([float(q) for q in side.l])
        self.phase = list(side.phase)

    def obbt(self, rounds: int, min_gain: float = 0.01) -> None:
        """LP bound tightening on every unfixed ⟨m_j,x⟩ over the root relaxation ∩ {⟨c,x⟩ ≥ U}.

        Each bound is an LP dual certificate replayed exactly (the checker replays the same
        steps in the same order); rounds stop when the root bound improves by < min_gain.
        """
        prev = None
        for _ in range(rounds):
            if time.perf_counter() > self.deadline or self.exact_side.empty:
                return
            for j in range(self.kM):
                for sense, sign in (("hi", 1.0), ("lo", -1.0)):
                    if self.phase[j] is not None:
                        continue
                    A, b, (blo, bhi), keys, _ = self._lp({}, thr=True)
                    obj = np.zeros(A.shape[1]); obj[:self.d] = -sign * self.M[j]
                    self.nodes += 1
                    st, _, _, y = self.lp.solve(obj, A, b, blo, bhi)
                    if st != "optimal":
                        continue
                    step = {"j": j, "sense": sense, "y0": 1.0, "y": {k: float(v) for k, v in zip(keys, y) if v > 0}}
                    before = (self.exact_side.h[j], self.exact_side.l[j])
                    self.exact_side.tighten(step)
                    if (self.exact_side.h[j], self.exact_side.l[j]) != before or self.exact_side.empty:
                        self.tighten_steps.append(step)
                    self._sync()
                    if self.exact_side.empty:
                        return
            root = _Node({})
            self.solve(root)
            if prev is not None and prev - root.value < min_gain * max(abs(prev), 1e-9):
                return
            prev = root.value

    def ccp(self, x, iters: int = 30) -> None:
        """Convex–concave local search from x: fix every M-neuron's slope at x's phase, solve.

        `Σσ(⟨m_j,x⟩) = max over slope patterns`, so for the pattern s(x) the set
        `{Σσ(Px) ≤ Σ_j s_j⟨m_j,x⟩}` is convex, contains x, and lies inside the feasible set:
        its LP optimum is feasible and at least as good as x. Repeat until no gain.
        """
        if x is None:
            return
        d, kP, a = self.d, self.kP, self.alpha
        n = d + kP
        A = np.zeros((2 * kP + 1, n))
        A[:kP, :d] = self.P
        A[kP:2 * kP, :d] = a * self.P
        A[np.arange(kP), d + np.arange(kP)] = -1.0
        A[kP + np.arange(kP), d + np.arange(kP)] = -1.0
        A[-1, d:] = 1.0
        obj = np.zeros(n); obj[:d] = -self.c
        blo, bhi = np.r_[self.lo, -self.tb], np.r_[self.hi, self.tb]
        b = np.zeros(A.shape[0])
        last = -np.inf
        for _ in range(iters):
            if time.perf_counter() > self.deadline:
                return
            slope = np.where(self.M @ x >= 0, 1.0, a)
            A[-1, :d] = -(slope @ self.M)
            self.nodes += 1
            st, val, z, _ = self.lp.solve(obj, A, b, blo, bhi)
            if st != "optimal":
                return
            x = z[:d]
            self.offer(x)
            if -val <= last + 1e-12 * (1 + abs(last)):
                return
            last = -val

    def _exact_side(self, wit):
        from .check._exact import Q_vec
        from .check.kinds.disagreement import _Side

        return _Side([Q_vec(r) for r in self.P], [Q_vec(r) for r in self.M], Fraction(self.alpha),
                     Q_vec(self.c), Q_vec(self.lo), Q_vec(self.hi), wit, "side")

    # ---- LPs -----------------------------------------------------------------------
    def _lp(self, fixed: dict, thr: bool = False):
        """The node's LP rows (keys as the checker names them), right sides and variable box."""
        d, kP, a = self.d, self.kP, self.alpha
        unf = [j for j in range(self.kM) if self.phase[j] is None and j not in fixed]
        ns, nf = len(unf), len(fixed)
        n = d + kP + ns
        m = 2 * kP + 1 + nf + ns + (1 if thr else 0)
        A = np.zeros((m, n))
        A[:kP, :d] = self.P
        A[kP:2 * kP, :d] = a * self.P
        A[np.arange(2 * kP), d + np.r_[np.arange(kP), np.arange(kP)]] = -1.0
        r = 2 * kP  # the sum row
        A[r, d:d + kP] = 1.0
        slope = np.zeros(self.kM)
        for j in range(self.kM):
            ph = self.phase[j] if self.phase[j] is not None else fixed.get(j)
            if ph is not None:
                slope[j] = 1.0 if ph == 1 else a
        A[r, :d] = -(slope @ self.M)
        A[r, d + kP:] = -1.0
        fj = list(fixed)
        if nf:
            sg = np.array([-1.0 if fixed[j] == 1 else 1.0 for j in fj])
            A[r + 1:r + 1 + nf, :d] = sg[:, None] * self.M[fj]
        b = np.zeros(m)
        if ns:
            h, l_ = self.h[unf], self.l[unf]
            rc = r + 1 + nf
            A[rc:rc + ns, :d] = -(h - a * l_)[:, None] * self.M[unf]
            A[rc + np.arange(ns), d + kP + np.arange(ns)] = h - l_
            b[rc:rc + ns] = -(1 - a) * h * l_
        keys = ([f"p1:{i}" for i in range(kP)] + [f"p2:{i}" for i in range(kP)] + ["sum"]
                + [f"reg:{j}" for j in fj] + [f"chord:{j}" for j in unf])
        if thr:
            A[-1, :d] = -self.c
            b[-1] = -self.U
            keys.append("thr")
        blo = np.concatenate([self.lo, -self.tb, a * self.l[unf]])
        bhi = np.concatenate([self.hi, self.tb, self.h[unf]])
        return A, b, (blo, bhi), keys, unf

    def solve(self, node: _Node) -> None:
        self.nodes += 1
        self._load(node)
        A, b, (blo, bhi), keys, unf = self._lp(node.fixed)
        obj = np.zeros(A.shape[1]); obj[:self.d] = -self.c
        st, val, z, y = self.lp.solve(obj, A, b, blo, bhi)
        if st == "optimal":
            node.value = -val
            node.x = z[:self.d].copy()
            node.s = dict(zip(unf, z[self.d + self.kP:]))
            node.y = {k: float(v) for k, v in zip(keys, y) if v > 0}
            node.y0 = 1.0
            return
        if st == "infeasible":
            # minimize a uniform slack; its duals are Farkas multipliers (y0 = 0)
            m, n = A.shape
            A2 = np.hstack([A, -np.ones((m, 1))])
            obj2 = np.zeros(n + 1); obj2[-1] = 1.0
            st2, val2, _, y2 = self.lp.solve(obj2, A2, b, np.r_[blo, 0.0], np.r_[bhi, np.inf])
            if st2 == "optimal" and val2 > 0:
                node.value, node.x, node.s = -np.inf, None, {}
                node.y = {k: float(v) for k, v in zip(keys, y2) if v > 0}
                node.y0 = 0.0
                return
        raise RuntimeError(f"LP solver failed at a node ({st})")

    def leaf_bound(self, node: _Node) -> Fraction | None:
        """The exact bound the checker will derive for this node as a leaf."""
        self._load(node)
        return self.exact_side._leaf({"y0": _num(node.y0), "y": {k: _num(v) for k, v in node.y.items()}}, node.fixed)

    # ---- exact repair for the exactly linear case ----------------------------------------
    def repair(self, node: _Node) -> bool:
        """Replace float multipliers by exact ones with zero residual (bound exactly ≤ 0)."""
        import flint
        from scipy.linalg import qr

        if node.y is None or node.y0 == 0 or node.empty:
            return False
        self._load(node)
        A, _, _, keys, unf = self._lp(node.fixed)
        yv = np.array([node.y.get(k, 0.0) for k in keys])
        ymax = yv.max() if yv.size else 0.0
        supp = [i for i, k in enumerate(keys) if yv[i] > 1e-12 * ymax and not k.startswith("chord")]
        if not supp:
            return False
        target = np.zeros(A.shape[1]); target[:self.d] = self.c
        As = A[supp].T  # equations × unknowns
        _, R, piv = qr(As, pivoting=True, mode="economic")
        diag = np.abs(np.diag(R))
        rank = int((diag > 1e-10 * max(diag.max(), 1e-300)).sum())
        cols = sorted(piv[:rank])
        _, R2, piv2 = qr(As[:, cols].T, pivoting=True, mode="economic")
        eqs = sorted(piv2[:rank])
        Ax = self._exact_rows(node.fixed, unf, [supp[c] for c in cols], keys)
        tq = [Fraction(float(t)) for t in target]
        Msq = flint.fmpq_mat(rank, rank, [flint.fmpq(Ax[c][e].numerator, Ax[c][e].denominator) for e in eqs for c in range(rank)])
        rhs = flint.fmpq_mat(rank, 1, [flint.fmpq(tq[e].numerator, tq[e].denominator) for e in eqs])
        try:
            sol = Msq.solve(rhs)
        except ZeroDivisionError:
            return False
        ys = [Fraction(int(sol[i, 0].p), int(sol[i, 0].q)) for i in range(rank)]
        if any(q < 0 for q in ys):
            return False
        for e in range(A.shape[1]):  # every equation exactly, not only the chosen ones
            if sum((ys[c] * Ax[c][e] for c in range(rank)), Fraction(0)) != tq[e]:
                return False
        newy = {keys[supp[c]]: ys[c] for c in range(rank) if ys[c] != 0}
        old = node.y
        node.y, node.y0, node.exact = newy, Fraction(1), True
        b = self.leaf_bound(node)
        if b is None or b > 0:
            node.y, node.y0, node.exact = old, 1.0, False
            return False
        return True

    def _exact_rows(self, fixed, unf, idx, keys):
        """Exact rational coefficient vectors of the LP rows `idx` (same layout as `_lp`)."""
        d, kP = self.d, self.kP
        a = Fraction(self.alpha)
        n = d + kP + len(unf)
        P = [[Fraction(float(t)) for t in r] for r in self.P]
        M = [[Fraction(float(t)) for t in r] for r in self.M]
        out = []
        for i in idx:
            key = keys[i]
            r = [Fraction(0)] * n
            kind, _, j = key.partition(":")
            if kind in ("p1", "p2"):
                j = int(j)
                f = Fraction(1) if kind == "p1" else a
                r[:d] = [f * t for t in P[j]]
                r[d + j] = Fraction(-1)
            elif kind == "sum":
                for jj in range(kP):
                    r[d + jj] = Fraction(1)
                for m in range(self.kM):
                    ph = self.phase[m] if self.phase[m] is not None else fixed.get(m)
                    if ph is not None:
                        f = Fraction(1) if ph == 1 else a
                        for e in range(d):
                            r[e] -= f * M[m][e]
                for col in range(len(unf)):
                    r[d + kP + col] = Fraction(-1)
            elif kind == "reg":
                j = int(j)
                r[:d] = [-t for t in M[j]] if fixed[j] == 1 else list(M[j])
            out.append(r)
        return out

    # ---- search --------------------------------------------------------------------
    def _branch_var(self, node: _Node):
        """The unfixed neuron whose chord costs the LP bound most: relaxation gap at the LP
        point times its chord row's multiplier (a chord with zero multiplier does not bind);
        the plain gap breaks ties."""
        self._load(node)
        a = self.alpha
        best, bj = (-1.0, -1.0), None
        for j, s in node.s.items():
            z = float(self.M[j] @ node.x)
            gap = s - (z if z > 0 else a * z)
            score = (node.y.get(f"chord:{j}", 0.0) * (self.h[j] - self.l[j]) * gap, gap)
            if score > best:
                best, bj = score, j
        return bj

    def _child(self, node: _Node, j: int, ph: int) -> _Node:
        """The child fixing neuron j to phase ph, with node-local cuts from j's region row:
        clustered neurons move together, so `s⟨m_j,x⟩ ≥ 0` pins down `⟨m_k,x⟩` for k ≈ j."""
        self._load(node)
        child = _Node({**node.fixed, j: ph})
        ex = self.exact_side
        ex.h, ex.l, ex.phase = list(ex.h), list(ex.l), list(ex.phase)
        unf = [k for k in range(self.kM) if ex.phase[k] is None and k not in child.fixed]
        if unf:
            mj = self.M[j]
            sgn = 1.0 if ph == 1 else -1.0
            proj = (self.M[unf] @ mj) / max(float(mj @ mj), 1e-300)
            cur_h = np.array([float(ex.h[k]) for k in unf])
            cur_l = np.array([float(ex.l[k]) for k in unf])
            width = cur_h - cur_l
            mu_hi = np.maximum(0.0, -sgn * proj)
            mu_lo = np.maximum(0.0, sgn * proj)
            lam_hi, val_hi = self._lagrange(self.M[unf] + (sgn * mu_hi)[:, None] * mj, self.U)
            lam_lo, val_lo = self._lagrange(-self.M[unf] + (sgn * mu_lo)[:, None] * mj, self.U)
            for i, k in enumerate(unf):
                for sense, mu, lam, new, cur in (("hi", mu_hi[i], lam_hi[i], val_hi[i], cur_h[i]),
                                                 ("lo", mu_lo[i], lam_lo[i], -val_lo[i], cur_l[i])):
                    gain = (cur - new) if sense == "hi" else (new - cur)
                    if mu == 0 or not gain > 1e-3 * width[i]:
                        continue  # no region row involved or too small to matter
                    if ex.phase[k] is not None:
                        break
                    step = {"cut": int(k), "sense": sense, "row": int(j), "mu": float(mu), "lam": float(lam)}
                    ex.cut(step, child.fixed)
                    child.cuts.append(step)
                    if ex.h[k] < ex.l[k]:
                        child.empty = True
                        break
                if child.empty:
                    break
        self.h = np.array([float(q) for q in ex.h])
        self.l = np.array([float(q) for q in ex.l])
        self.phase = list(ex.phase)
        self._snapshot(child)
        return child

    def _cell_child(self, node: _Node, j: int, ph: int) -> _Node:
        """The child fixing neuron j to phase ph, every unfixed bound re-derived over its region.

        For each unfixed k, `±⟨m_k,x⟩` is maximized over the box, the threshold row
        `⟨c,x⟩ ≥ U`, the region rows of all neurons fixed on the path and the linearization
        of `N(x) ≤ 0` at the parent's LP point (slopes of the P-neurons there, chords of the
        unfixed M-neurons): one tiny LP each (`_cell_lp`), whose multipliers are the cut.
        A bound becomes a cut when it shrinks the interval by more than `_CUT_GAIN` of its
        width (judged in floats). Each cut states its new bound `b`, proven above the exact
        value of its multipliers by rounding-error analysis (`proven_bounds`); the checker takes
        the same `b` once it has derived that value exactly, so phases and empty nodes are
        decided on the same floats here and there.
        """
        from ._cell_lp import _gamma, cell_bounds, proven_bounds

        self._load(node)
        child = _Node({**node.fixed, j: ph})
        fixed = child.fixed
        unf = [k for k in range(self.kM) if self.phase[k] is None and k not in fixed]
        ex = self.exact_side
        ex.h, ex.l, ex.phase = list(ex.h), list(ex.l), list(ex.phase)
        if unf:
            a, h, l_ = self.alpha, self.h, self.l
            fj = [int(q) for q in fixed]
            side = np.array([1.0 if fixed[q] == 1 else -1.0 for q in fj])
            rows, rhs = [self.c[None, :], side[:, None] * self.M[fj]], [np.array([self.U]), np.zeros(len(fj))]
            # every row but the linearized one is exact in floats (c, ±m_j, U, 0)
            errs, rhs_errs = [np.zeros((1 + len(fj), self.d))], [np.zeros(1 + len(fj))]
            lin = None
            if node.x is not None:
                # Σ a_i⟨p_i,x⟩ − Σ_fixed slope⟨m,x⟩ − Σ_unfixed κ⟨m,x⟩ ≤ Σ_unfixed e, as a row "≥";
                # κ is the checker's (the exact chord slope rounded to nearest), the row and
                # e are floats with proven error bounds
                act = self.P @ node.x > 0
                # fixed neurons at their slopes, unfixed ones (phase None, not on the path) at κ
                pq = [self.phase[q] if self.phase[q] is not None else fixed.get(q) for q in range(self.kM)]
                w = np.array([1.0 if ph_ == 1 else a for ph_ in pq])
                kap = _kappas(ex.h, ex.l, self.alpha, unf)
                w[unf] = kap
                hu, lu = h[unf], l_[unf]
                e = float(np.maximum(a * lu - kap * lu, hu - kap * hu).sum())
                e_err = 2 * _gamma(len(unf) + 2) * float((np.abs(lu) * (a + np.abs(kap)) + np.abs(hu) * (1 + np.abs(kap))).sum())
                sp = np.where(act, 1.0, a)
                rows.append(-(sp @ self.P - w @ self.M)[None, :])
                errs.append(2 * _gamma(self.kP + self.kM + 2) * (sp @ np.abs(self.P) + np.abs(w) @ np.abs(self.M))[None, :])
                rhs.append(np.array([-e]))
                rhs_errs.append(np.array([e_err]))
                lin = {"p_slope1": [int(i) for i in np.flatnonzero(act)]}
            A, b = np.vstack(rows), np.concatenate(rhs)
            W = np.vstack([self.M[unf], -self.M[unf]])
            val, theta, status = cell_bounds(W, A, b, self.lo, self.hi)
            n = len(unf)
            if not (status == 1).any():  # an empty region: the node's own LP closes it
                width = h[unf] - l_[unf]
                take_hi = h[unf] - val[:n] > _CUT_GAIN * width
                take_lo = (val[n:] + l_[unf] < -_CUT_GAIN * width) & (val[:n] > 0)
                sel = np.flatnonzero(np.concatenate([take_hi, take_lo]))
                sel = sel[np.argsort(sel % n, kind="stable")]  # by neuron, hi before lo
                if sel.size:
                    # the multipliers rounded to 6 significant digits (a cut's text is about a
                    # third shorter; its bound, proven from the rounded values, weaker by ~1e-6)
                    sub = theta[sel]
                    pos = sub > 0
                    sub[pos] = [float(f"{t:.6g}") for t in sub[pos].tolist()]
                    proven = proven_bounds(W[sel], sub, A, b, np.vstack(errs), np.concatenate(rhs_errs),
                                           self.lo, self.hi)
                    nz_r, nz_c = np.nonzero(sub[:, 1:1 + len(fj)] > 0)
                    cols = np.split(nz_c, np.searchsorted(nz_r, np.arange(1, len(sel))))
                    sub = sub.tolist()
                    uses_lin = False
                    for r, th, c_, bound in zip(sel.tolist(), sub, cols, proven.tolist()):
                        k = unf[r % n]
                        if ex.phase[k] is not None:
                            continue  # fixed by its other cut: the checker takes no further cut on it
                        hi_sense = r < n
                        new = bound if hi_sense else -bound
                        if (new >= ex.h[k]) if hi_sense else (new <= ex.l[k]):
                            continue  # no gain once rounding is accounted for
                        cut = _cut_record(k, "hi" if hi_sense else "lo", th, c_.tolist(), fj, lin is not None)
                        cut["b"] = new
                        uses_lin |= "lin" in cut
                        if hi_sense:
                            ex.h[k] = new
                        else:
                            ex.l[k] = new
                        ex.phase[k] = 1 if ex.l[k] >= 0 else (0 if ex.h[k] <= 0 else None)
                        child.cuts.append(cut)
                        if ex.h[k] < ex.l[k]:
                            child.empty = True
                            break
                    if uses_lin:
                        child.lin = lin
        self._sync()
        self._snapshot(child)
        return child

    def _children(self, node: _Node):
        j = self._branch_var(node)
        node.split = j
        make = self._cell_child if self.cell else self._child
        kids = (make(node, j, 1), make(node, j, 0))
        node.children = kids
        for k in kids:
            if k.empty:
                k.value, k.y, k.y0 = -np.inf, {}, 0.0
                continue
            self.solve(k)
            self.offer(k.x)
        return kids

    def sample(self, rng, n: int = _SAMPLES, keep: int = _STARTS) -> list:
        """The `keep` best feasible points among n random ones (starting points for `ccp`).

        Half the directions are Gaussian, half c plus Gaussian noise of a random scale. For a
        bias-free net N is positively homogeneous, so a direction u is feasible iff u/‖u‖_∞
        is, and that point is the best on its ray; with a bias input the points are clipped
        into the box instead."""
        d, a = self.d, self.alpha
        X = rng.standard_normal((n, d))
        half = n // 2
        scale = rng.choice(np.array([0.25, 0.5, 1.0, 2.0]), size=half)
        X[:half] = self.c / np.linalg.norm(self.c) + scale[:, None] * X[:half] / np.sqrt(d)
        fixed = self.lo == self.hi
        if self.homogeneous:
            X /= np.maximum(np.abs(X).max(axis=1, keepdims=True), 1e-300)
        else:
            X = np.clip(X, self.lo, self.hi)
            X[:, fixed] = self.lo[fixed]
        zp, zm = X @ self.P.T, X @ self.M.T
        f = np.where(zp > 0, zp, a * zp).sum(axis=1) - np.where(zm > 0, zm, a * zm).sum(axis=1)
        val = np.where(f <= 0, X @ self.c, -np.inf)
        top = np.argsort(-val)[:keep]
        return [X[i] for i in top if np.isfinite(val[i])]

    def run(self, seed: int = 0, obbt_rounds: int = 3) -> SideResult:
        start_U = 0.0 if self.homogeneous else float(np.minimum(self.c * self.lo, self.c * self.hi).sum())
        if self.homogeneous:
            self.offer(np.zeros(self.d))
        self.set_bounds(start_U)
        # primal: local search from the root LP point, from c's own direction and from the
        # best feasible points among seeded random directions
        root = _Node({})
        self.solve(root)
        rng = np.random.default_rng(seed)
        starts = [root.x, np.clip(np.sign(self.c), self.lo, self.hi)] + self.sample(rng)
        for x0 in starts:
            self.ccp(x0)
        if self.best_x is not None and self.best_val > start_U:
            # the threshold may only be a value already attained: anything better lies above it
            self.set_bounds(_round_down(self.best_exact))
        if obbt_rounds:
            self.obbt(obbt_rounds)
        root = _Node({})
        self._snapshot(root)
        self.solve(root)
        self.offer(root.x)
        unfixed_root = sum(1 for p in self.phase if p is None)
        heap = [(-root.value, 0, root)]
        counter = 1
        complete = True
        exact_mode = self.homogeneous and self.U == 0.0
        # the exactly linear case repairs leaves to exact rationals, which needs the exact
        # bounds of every node: it keeps the single-row cuts replayed exactly
        self.cell = not exact_mode
        self.lp.dense = self.cell  # exact repairs want HiGHS's vertex solutions
        branched = 0
        # the upper bound is max(U, leaves), each leaf's bound derived exactly (the checker's
        # code) when the node becomes a leaf, so the time limit covers the certificate too
        self.upper_exact = Fraction(self.U)
        self.leaf_time = [0.0, 0]   # seconds and size units (P-neurons + unfixed + 1) of exact leaf bounds
        heap_units = self.kP + len(root.s or ()) + 1  # the same units over the open nodes
        if self.exact_side.empty:
            heap = []  # the root relaxation of H is empty: nothing lies above U
        while heap:
            negv, _, node = heapq.heappop(heap)
            heap_units -= self.kP + len(node.s or ()) + 1
            value = -negv
            inc = max(self.best_val, self.U)
            if value == -np.inf or (value <= inc + _gap_tol(inc) and (
                    # closed; in the exactly linear case only an exact repair closes it to ≤ 0
                    not exact_mode or node.exact or self.repair(node) or not node.s)):
                self._leaf_done(node)
                continue
            if not node.s:
                self._leaf_done(node)  # exact LP over a full phase pattern: its point was offered
                continue
            # the open nodes become leaves when time runs out: an exact leaf bound takes time
            # about proportional to its rows, measured so far (with a margin)
            reserve = 1.5 * heap_units * self.leaf_time[0] / max(self.leaf_time[1], 1)
            if self.nodes >= self.max_nodes or time.perf_counter() + reserve > self.deadline:
                complete = False
                for nd in [node] + [t[2] for t in heap]:  # the open nodes are leaves
                    self._leaf_done(nd)
                break
            if branched % 8 == 0:  # local search from the LP point now and then
                self.ccp(node.x, iters=3)
            if branched % 32 == 0 and not node.empty:
                # best-first closes nodes only at the end, so the cost of an exact leaf bound
                # (the reserve above) is measured on an open node now and then
                t = time.perf_counter()
                self.leaf_bound(node)
                self.leaf_time[0] += time.perf_counter() - t
                self.leaf_time[1] += self.kP + len(node.s or ()) + 1
            branched += 1
            for k in self._children(node):
                heapq.heappush(heap, (-k.value, counter, k))
                heap_units += self.kP + len(k.s or ()) + 1
                counter += 1
        tree = _tree_json(root)
        lower = None
        if self.best_x is not None:
            lower = max(self.best_exact, Fraction(0)) if self.homogeneous else self.best_exact
            if lower > self.upper_exact:
                raise RuntimeError("the witness exceeds the proven upper bound (inconsistent search)")
        return SideResult(lower=None if lower is None else _round_down(lower), upper=_round_up(self.upper_exact),
                          witness=self.best_x, threshold=self.U,
                          lam_hi=self.lam_hi.tolist(), lam_lo=self.lam_lo.tolist(),
                          tighten=self.tighten_steps, tree_data=tree,
                          nodes=self.nodes, unfixed_root=unfixed_root, complete=complete)

    def _leaf_done(self, node: _Node) -> None:
        """Fold a leaf's exact bound (None: empty) into the upper bound."""
        if node.empty:
            return  # its cuts prove it empty; the checker reads no leaf there
        t = time.perf_counter()
        b = self.leaf_bound(node)
        if b is not None and b > self.upper_exact:
            self.upper_exact = b
        self.leaf_time[0] += time.perf_counter() - t
        self.leaf_time[1] += self.kP + len(node.s or ()) + 1


def _kappas(h: list, l: list, alpha: float, idx: list) -> np.ndarray:
    """The chord slopes of the neurons `idx`, rounded as the checker rounds them."""
    from .check.kinds.disagreement import chord_slope

    an, ad = float(alpha).as_integer_ratio()
    return np.array([chord_slope(h[j], l[j], an, ad) for j in idx], dtype=np.float64)


def _cut_record(k: int, sense: str, theta: list, nz: list, fj: list, with_lin: bool) -> dict:
    """A cut in the certificate's form from cell-LP multipliers `[thr, region rows of fj…, lin]`
    (a list of floats; `nz` the positions of the positive region multipliers): the largest
    region row is `row`/`mu` (a zero multiplier on the path's first row if none), the others
    `rows`."""
    if nz:
        p = max(nz, key=lambda q: theta[1 + q])
        cut = {"cut": k, "sense": sense, "row": fj[p], "mu": theta[1 + p], "lam": theta[0]}
        if len(nz) > 1:
            cut["rows"] = [[fj[q], theta[1 + q]] for q in nz if q != p]
    else:
        cut = {"cut": k, "sense": sense, "row": fj[0], "mu": 0.0, "lam": theta[0]}
    if with_lin and theta[-1] > 0:
        cut["lin"] = theta[-1]
    return cut


def _num(v):
    return v if isinstance(v, Fraction) else float(v)


def _json_num(v):
    if isinstance(v, Fraction):
        return f"{v.numerator}/{v.denominator}"
    return float(v)


def _tree_json(node: _Node) -> dict:
    """Nested split/leaf objects (iterative: trees can be deep)."""
    out: dict = {}
    stack = [(node, out)]
    while stack:
        nd, dst = stack.pop()
        if nd.cuts:
            dst["cuts"] = nd.cuts
            if nd.lin is not None:
                dst["lin"] = nd.lin
        if nd.children is None:
            dst["leaf"] = {"y0": _json_num(nd.y0), "y": {k: _json_num(v) for k, v in (nd.y or {}).items()}}
        else:
            act, ina = {}, {}
            dst["split"] = int(nd.split)
            dst["active"], dst["inactive"] = act, ina
            stack.append((nd.children[0], act))
            stack.append((nd.children[1], ina))
    return out


def _round_down(q: Fraction) -> float:
    import math

    f = float(q)
    return f if Fraction(f) <= q else math.nextafter(f, -math.inf)


def _round_up(q: Fraction) -> float:
    import math

    f = float(q)
    return f if Fraction(f) >= q else math.nextafter(f, math.inf)


def _side_witness(side: SideResult, tree) -> dict:
    w = {"threshold": side.threshold, "lam_hi": side.lam_hi, "lam_lo": side.lam_lo,
         "tighten": side.tighten, "tree": tree}
    if side.witness is not None:
        w["x"] = [float(t) for t in side.witness]
    return w


def _side_job(P, M, alpha, c, lo, hi, deadline, nodes, seed, obbt_rounds, forked=False) -> SideResult:
    """One side's search (module level, so a worker process can run it)."""
    if forked:
        # a forked child inherits HiGHS's thread scheduler without its threads
        try:
            import highspy

            highspy.Highs.resetGlobalScheduler(True)
        except (ImportError, AttributeError):
            pass
    solver = _SideSolver(P, M, alpha, c, lo, hi, deadline, nodes)
    res = solver.run(seed=seed, obbt_rounds=obbt_rounds)
    if forked:
        res.tree_json()
        res.tree_data = None
    return res


def _default_workers() -> int:
    """2 when this process may fork a second one onto a second core, else 1."""
    import multiprocessing
    import os
    import threading

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    if cores < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    # forking a process that runs other threads (a Dask worker, a notebook kernel's
    # helpers) can copy a lock mid-use: then the sides run one after the other
    return 2 if threading.active_count() == 1 else 1


def exact_disagreement(net: Network, v=None, *, time_limit: float = 60.0, max_nodes: int = 200000,
                       obbt_rounds: int = 3, seed: int = 0, workers: int | None = None) -> DisagreementResult:
    """Certified β⁺ and β⁻ of `net` for direction `v` (THEORY.md §6).

    Args:
        net: the network (paper form). With `input_bias` the last coordinate is fixed to 1.
        v: direction in the network's input space (default: the unit mean-center direction).
            β± refer to this exact float vector; it need not be exactly unit.
        time_limit: wall-clock seconds for both sides together; when it runs out the result
            is the proven interval, not a point.
        max_nodes: LP budget for both sides together (half each when they run in parallel).
        obbt_rounds: rounds of LP bound tightening at the root (0: only the Lagrangian bounds).
        seed: seeds the random starting points of the local search.
        workers: 2 runs the β⁻ search in a forked process while this one runs β⁺, each
            with the whole time limit; 1 runs them one after the other (β⁺ may spend half the
            time, β⁻ the rest). Default: 2 where fork is available, two cores are usable
            and this process runs no other thread.

    Returns:
        `DisagreementResult`; its bounds are the exact values the checker derives from the
        tree (computed with the checker's code as the tree grows; lower rounded down, upper
        rounded up to float).
    """
    if not isinstance(net, Network):
        raise InputError("exact_disagreement needs a Network")
    v = _check_direction(net, v)
    if workers is None:
        workers = _default_workers()
    if workers not in (1, 2):
        raise InputError(f"workers must be 1 or 2, not {workers!r}")
    d = net.d
    lo, hi = -np.ones(d), np.ones(d)
    if net.input_bias:
        lo[-1] = hi[-1] = 1.0
    t0 = time.perf_counter()
    jobs = {"plus": (net.W_pos, net.W_neg, net.alpha, v, lo, hi),
            "minus": (net.W_neg, net.W_pos, net.alpha, -v, lo, hi)}
    sides = {}
    if workers == 2:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # perf_counter is CLOCK_MONOTONIC, one clock for both processes
        deadline = t0 + time_limit
        half = max(max_nodes // 2, 1)
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork")) as pool:
            fut = pool.submit(_side_job, *jobs["minus"], deadline, max(max_nodes - half, 1), seed, obbt_rounds, True)
            sides["plus"] = _side_job(*jobs["plus"], deadline, half, seed, obbt_rounds)
            if not fut.done():
                sides["plus"].tree_json()  # the certificate's text, while the worker writes its own
            sides["minus"] = fut.result()
    else:
        used = 0
        for name in ("plus", "minus"):
            # the plus side may spend half the budget; the minus side the rest
            deadline = t0 + (time_limit / 2 if name == "plus" else time_limit)
            nodes = max(max_nodes // 2 if name == "plus" else max_nodes - used, 1)
            sides[name] = _side_job(*jobs[name], deadline, nodes, seed, obbt_rounds)
            used += sides[name].nodes
    return DisagreementResult(direction=v, plus=sides["plus"], minus=sides["minus"],
                              seconds=time.perf_counter() - t0, input_bias=net.input_bias)


def certify_disagreement(net_path, out_dir, *, alpha=None, v=None, time_limit: float = 60.0,
                         max_nodes: int = 200000, obbt_rounds: int = 3, name: str = "disagreement.json",
                         workers: int | None = None) -> Path:
    """Solve β± for the network at `net_path` and write a `disagreement` certificate.

    The network is copied in paper form next to the certificate (`<name>.net.npz`), so the
    checker reads a pickle-free file whatever the original format (.pt, .safetensors, run).

    Args:
        net_path: network file (`load_network` formats).
        out_dir: folder for the certificate and the network copy.
        alpha: LeakyReLU slope, needed for state dicts.
        v: direction (array or path to a `.npy`); default the unit mean-center direction.
        time_limit, max_nodes, obbt_rounds, workers: search budget, root tightening and
            processes (see `exact_disagreement`).
        name: certificate file name.

    Returns:
        Path of the certificate written.
    """
    import json

    from ._certificate import claim, input_entry, make_certificate, to_jsonable
    from ._io import atomic_write_text
    from ._network import save_network

    net = load_network(net_path, alpha=alpha)
    if v is not None and isinstance(v, (str, Path)):
        vp = Path(v)
        if not vp.is_file():
            raise InputError(f"{vp}: no such file")
        try:
            v = np.load(vp, allow_pickle=False)
        except Exception as exc:
            raise InputError(f"{vp}: not a readable .npy array ({exc})") from None
    res = exact_disagreement(net, v, time_limit=time_limit, max_nodes=max_nodes, obbt_rounds=obbt_rounds,
                             workers=workers)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(name).stem
    net_copy = save_network(out_dir / f"{stem}.net.npz", net)
    import uuid

    marks = {side: f"tree-{side}-{uuid.uuid4().hex}" for side in ("plus", "minus")}
    claims = []
    for side in ("plus", "minus"):
        s = getattr(res, side)
        claims.append(claim(f"beta_{side}_upper", "<=", s.upper,
                            note="proven by the branch-and-bound tree" + ("" if s.complete else " (budget ran out: interval)")))
        if s.lower is not None:
            claims.append(claim(f"beta_{side}_lower", ">=", s.lower, note="attained by the witness x"))
    if res.exactly_linear:
        claims.append(claim("exactly_linear", "==", 1, note="β⁺ ≤ 0 and β⁻ ≤ 0"))
    cert = make_certificate(
        "disagreement",
        inputs=[input_entry("network", net_copy, out_dir)],
        parameters={"direction": [float(t) for t in res.direction], "alpha": net.alpha,
                    "input_bias": net.input_bias, "source": str(net_path)},
        claims=claims,
        # the trees go in as JSON text (a worker's tree arrives as text): placeholders first
        witness={side: _side_witness(getattr(res, side), marks[side]) for side in ("plus", "minus")},
        info=to_jsonable(res.to_dict() | {"unfixed_at_root": {"plus": res.plus.unfixed_root, "minus": res.minus.unfixed_root}}),
    )
    # compact JSON: the tree runs to tens of megabytes, which indentation would quadruple and
    # Python's indenting encoder would take seconds to write
    text = json.dumps(cert, separators=(",", ":"))
    for side in ("plus", "minus"):
        mark = json.dumps(marks[side])
        if text.count(mark) != 1:
            raise RuntimeError("certificate placeholder not unique")
        text = text.replace(mark, getattr(res, side).tree_json())
    return atomic_write_text(out_dir / name, text + "\n")
