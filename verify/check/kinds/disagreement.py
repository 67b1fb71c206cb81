"""Checker for kind `disagreement`: exact worst-case disagreement with the linear classifier
(THEORY.md §6, "Exact worst-case disagreement").

For the stored direction `v` (its exact binary value) and the box `B` (`‖x‖_∞ ≤ 1`; for a net
with `input_bias` the last coordinate is fixed to 1):

    β⁺ = max{⟨v,x⟩ : x ∈ B, N(x) ≤ 0},   β⁻ = max{−⟨v,x⟩ : x ∈ B, N(x) ≥ 0}.

β⁻ is β⁺ of the net with the two signs swapped (`N' = −N`) and direction `−v`, so both sides
are one problem: max `⟨c,x⟩` over `x ∈ B` with `Σσ(⟨p_i,x⟩) ≤ Σσ(⟨m_j,x⟩)` ("P" the convex
side, "M" the side that needs phases).

**Lower bound.** A witness `x` is re-checked exactly: `x ∈ B` and `N(x) ≤ 0` (resp. `≥ 0`) in
rationals; the bound is `⟨c,x⟩`. Without a witness a bias-free net still has `x = 0`.

**Upper bound.** A threshold `U` restricts attention to `H = B ∩ {⟨c,x⟩ ≥ U}` (points below
`U` are below the claim anyway). For each M-neuron the certificate gives `λ, λ' ≥ 0`, and the
checker derives by Lagrangian weak duality the bounds
`h_j = Σ_i max_{x_i∈[lo_i,hi_i]} (m_ji + λc_i)x_i − λU ≥ ⟨m_j,x⟩` and likewise `l_j ≤ ⟨m_j,x⟩`
on `H`; `h_j ≤ 0` fixes neuron j inactive, `l_j ≥ 0` active. Optional root `tighten` steps
then bound `±⟨m_j,x⟩` by LP duality over the root rows below plus `thr` (one at a time, in
order, each using the bounds before it). The remaining neurons are split by a binary tree
(`⟨m_j,x⟩ ≥ 0` / `≤ 0`), so the leaves cover `H`. A tree node may carry `cuts`: with j fixed on
the path (`s⟨m_j,x⟩ ≥ 0`, s = ±1) and `μ, λ ≥ 0`,
`⟨m_k,x⟩ ≤ max_B⟨m_k + μs·m_j + λc, x⟩ − λU` (and the mirror image for a lower bound) holds in
the node's subtree; a cut may combine several such region rows (`rows`, further pairs j, μ).
A node may also state a linearization of `N(x) ≤ 0` (`lin`): with slopes `a_i ∈ {α, 1}` on the
P-neurons (1 for the listed ones), the fixed M-neurons at their slopes and, for each unfixed one,
the affine majorant `κ_j z + e_j ≥ σ(z)` on `[l_j, h_j]` (the bounds on entering the node;
`κ_j` the chord slope rounded to a float, `e_j = max(σ(l_j) − κ_j l_j, σ(h_j) − κ_j h_j)`),
every point of the node with `N(x) ≤ 0` satisfies

    Σ a_i⟨p_i,x⟩ − Σ_{fixed} slope_j⟨m_j,x⟩ − Σ_{unfixed} κ_j⟨m_j,x⟩ ≤ Σ_{unfixed} e_j,

since `Σ a_i⟨p_i,x⟩ ≤ Σσ(⟨p_i,x⟩) ≤ Σσ(⟨m_j,x⟩)`; a cut adds it with a multiplier `ν ≥ 0`
(`lin`). A cut may state its bound (`b`: the new `h_k`, or `l_k` for sense lo); the checker
takes it only if the combination's exact value proves it, else the cut's own value rounded
outward. A node whose cut makes `h_k < l_k` contains no point of `H` with `N(x) ≤ 0`. In a leaf,
with `t_i = σ(⟨p_i,x⟩)` and `s_j = σ(⟨m_j,x⟩)` for the still unfixed j, every point of the leaf
satisfies the linear rows

    p1:i   ⟨p_i,x⟩ − t_i ≤ 0          p2:i  α⟨p_i,x⟩ − t_i ≤ 0
    sum    Σt_i − Σ_{active}⟨m_j,x⟩ − αΣ_{inactive}⟨m_j,x⟩ − Σ_{unfixed} s_j ≤ 0
    reg:j  ∓⟨m_j,x⟩ ≤ 0 (neurons fixed by the tree)
    chord:j (h_j−l_j)s_j − (h_j−αl_j)⟨m_j,x⟩ ≤ −(1−α)h_j l_j   (σ convex: below its chord)
    thr    −⟨c,x⟩ ≤ −U

and the variable box `x ∈ B`, `|t_i| ≤ Σ_k|p_ik|·max(|lo_k|,|hi_k|)`, `s_j ∈ [αl_j, h_j]`.
For multipliers `y ≥ 0`, `y₀ ≥ 0` let `g = Σ y_r a_r − y₀(c,0,0)` and `μ = min_box g·z`
(exact, a sum of endpoint products). Then every leaf point has
`y₀⟨c,x⟩ ≤ Σ y_r b_r − μ`: with `y₀ > 0` the leaf is bounded by `(Σy_r b_r − μ)/y₀`; with
`y₀ = 0` and `Σy_r b_r − μ < 0` it is empty (Farkas). Floats rounded from an LP solver need
not satisfy `g = 0`; the box absorbs the residual (Neumaier–Shcherbina), so no tolerance is
ever used. The derived upper bound is `max(U, max over leaves)`.

All arithmetic is exact: floats are dyadic rationals; a leaf's sums of products are formed
as Python integers over explicit common denominators. Derived bounds `h_j, l_j` are rounded
outward to floats (looser, still valid) so that numbers do not grow from step to step, and
are held as Python floats (each is exactly its dyadic rational; comparisons are exact).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from .._core import Enclosure, Verdict
from .._exact import Q, Q_vec, Reject

SIDES = ("plus", "minus")
MAX_DEPTH = 4096


def _as_int_matrix(rows: list[list[Fraction]]) -> tuple[np.ndarray, int]:
    """Rows of rationals as an object array of Python ints over one common denominator."""
    den = 1
    for r in rows:
        for q in r:
            den = math.lcm(den, q.denominator)
    out = np.empty((len(rows), len(rows[0]) if rows else 0), dtype=object)
    for a, r in enumerate(rows):
        for b, q in enumerate(r):
            out[a, b] = q.numerator * (den // q.denominator)
    return out, den


def _ints(qs: list[Fraction]) -> tuple[list[int], int]:
    """Numerators over one common denominator."""
    den = 1
    for q in qs:
        if den % q.denominator:
            den = math.lcm(den, q.denominator)
    return [q.numerator * (den // q.denominator) for q in qs], den


def _ratio(x) -> tuple[int, int]:
    """`Q(x)` as (numerator, denominator > 0); a float goes straight to its exact ratio."""
    if type(x) is float:
        if not math.isfinite(x):
            raise Reject(f"non-finite number {x!r}")
        return x.as_integer_ratio()
    q = Q(x)
    return q.numerator, q.denominator


def _ints_p(qs: list[tuple[int, int]]) -> tuple[list[int], int]:
    """`_ints` for (numerator, denominator) pairs."""
    den = 1
    for _, b in qs:
        if den % b:
            den = math.lcm(den, b)
    return [a * (den // b) for a, b in qs], den


def _float_up(q: Fraction) -> float:
    """The least float ≥ q: bounds stay 53-bit numbers, so the exact arithmetic of later
    steps does not grow (rounding a bound outward only loosens it). A float is an exact
    dyadic rational, so the bounds are kept as floats and compared exactly."""
    f = float(q)
    if Fraction(f) < q:
        f = math.nextafter(f, math.inf)
    return f


def _float_up_p(num: int, den: int) -> float:
    """`_float_up(num/den)` for den > 0 without forming the fraction (int division rounds
    correctly, so at most one step up is needed)."""
    f = num / den
    fn, fd = f.as_integer_ratio()
    if fn * den < num * fd:
        f = math.nextafter(f, math.inf)
    return f


def chord_slope(h: float, l: float, an: int, ad: int) -> float:
    """The chord slope `(h − αl)/(h − l)` of σ on `[l, h]` (α = an/ad), rounded to the nearest
    float: exact integers and one correctly rounded division. The linearized row's κ; the
    search forms its rows with this same function."""
    (hn, hd), (ln, ld) = h.as_integer_ratio(), l.as_integer_ratio()
    return (hn * ad * ld - an * ln * hd) / (ad * (hn * ld - ln * hd))


def _float_down(q: Fraction) -> float:
    return -_float_up(-q)


class _Side:
    """One side's exact data: P (convex side), M (phase side), objective c, box, bounds."""

    def __init__(self, P, M, alpha: Fraction, c, lo, hi, wit: dict, name: str):
        self.name = name
        self.P, self.M, self.alpha, self.c = P, M, alpha, c
        self.lo, self.hi = lo, hi
        self.kP, self.kM, self.d = len(P), len(M), len(c)
        if not isinstance(wit, dict):
            raise Reject(f"{name}: witness must be an object")
        self.wit = wit
        self.lin = None  # the current node's linearized row (ints, den, rhs)

    # ---- lower bound -------------------------------------------------------------
    def lower(self, homogeneous: bool) -> Fraction | None:
        x = self.wit.get("x")
        if x is None:
            return Fraction(0) if homogeneous else None
        if not isinstance(x, list) or len(x) != self.d:
            raise Reject(f"{self.name}: witness x must list {self.d} numbers")
        xq = [Q(v) for v in x]
        for i, (xi, a, b) in enumerate(zip(xq, self.lo, self.hi)):
            if not (a <= xi <= b):
                raise Reject(f"{self.name}: witness x[{i}] = {float(xi)} lies outside the box")
        sig = self._sigma
        val = sum((sig(_dot(p, xq)) for p in self.P), Fraction(0)) - sum((sig(_dot(m, xq)) for m in self.M), Fraction(0))
        if not (val <= 0):
            raise Reject(f"{self.name}: the witness does not satisfy the side's constraint exactly (value {float(val):.3g})")
        out = _dot(self.c, xq)
        return max(out, Fraction(0)) if homogeneous else out

    def _sigma(self, z: Fraction) -> Fraction:
        return z if z > 0 else self.alpha * z

    # ---- bounds on ⟨m_j, x⟩ over B ∩ {⟨c,x⟩ ≥ U} ------------------------------------
    def _lagrange_max(self, terms: list[tuple[int, Fraction]], lam: Fraction) -> Fraction:
        """`max_B ⟨m + λc, x⟩ − λU` for `m = Σ q·M[j]` over `terms = [(j, q), …]`."""
        num, den = self._lagrange_bound([(j, (q.numerator, q.denominator)) for j, q in terms],
                                        (lam.numerator, lam.denominator))
        return Fraction(num, den)

    def _lagrange_bound(self, terms: list, lam: tuple[int, int], nu: tuple[int, int] | None = None) -> tuple[int, int]:
        """`max_B ⟨m + λc − ν·a, x⟩ − λU + ν·e` as (numerator, denominator), for
        `m = Σ q·M[j]` over `terms = [(j, q), …]`, with `⟨a,x⟩ ≤ e` the node's linearized row
        (only when `nu` is given); rationals as (numerator, denominator > 0) pairs.

        Integer arithmetic over one common denominator (the rows of [P; M; c] are integers
        over `mat_den`, the linearized row over `mat_den·lin_den`); the box is integer, so the
        maximum is a sum of endpoint products.
        """
        use_lin = nu is not None and nu[0] != 0
        nums, den = _ints_p([q for _, q in terms] + [lam] + ([nu] if use_lin else []))
        rows = [self.mat_rows[self.kP + j] for j, _ in terms] + [self.mat_rows[-1]]
        lam_n = nums[len(terms)]
        if use_lin:
            lin_ints, lin_den, (e_n, e_d) = self.lin
            nu_n = nums[-1]
            nums = nums[:-1]
        else:
            lin_den, e_n, e_d, nu_n = 1, 0, 1, 0
        g = [0] * self.d
        for n, r in zip(nums, rows):
            if n:
                g = [gi + n * ri for gi, ri in zip(g, r)]
        if use_lin:
            g = [gi * lin_den - nu_n * li for gi, li in zip(g, lin_ints)]
        tot = 0
        for gi, a, b in zip(g, self.lo_i, self.hi_i):
            tot += gi * b if gi > 0 else gi * a
        # tot/(den·md·ld) − (λ/den)·U + (ν/den)·e over den·md·ld·U_d·e_d
        md = self.mat_den * lin_den
        u_n, u_d = self.U_p
        return (tot * u_d * e_d - lam_n * u_n * md * e_d + nu_n * e_n * md * u_d), den * md * u_d * e_d

    def linearized(self, spec, fixed: dict) -> None:
        """The node's linearized row `⟨a,x⟩ ≤ e` (see the module docstring), from the current bounds."""
        if not isinstance(spec, dict) or not isinstance(spec.get("p_slope1"), list):
            raise Reject(f"{self.name}: lin must be an object with the list p_slope1")
        ones = spec["p_slope1"]
        for i in ones:
            if isinstance(i, bool) or not isinstance(i, int) or not (0 <= i < self.kP):
                raise Reject(f"{self.name}: lin names an unknown P-neuron {i!r}")
        if len(set(ones)) != len(ones):
            raise Reject(f"{self.name}: lin lists a P-neuron twice")
        an, ad = self.alpha.numerator, self.alpha.denominator
        act = set(ones)
        q = [(1, 1) if i in act else (an, ad) for i in range(self.kP)]
        e_n, e_d = 0, 1
        for j in range(self.kM):
            ph = self.phase[j] if self.phase[j] is not None else fixed.get(j)
            if ph is not None:
                q.append((-1, 1) if ph == 1 else (-an, ad))
                continue
            # unfixed, so l < 0 < h
            (hn, hd), (ln, ld) = self.h[j].as_integer_ratio(), self.l[j].as_integer_ratio()
            kn, kd = chord_slope(self.h[j], self.l[j], an, ad).as_integer_ratio()
            # e = max(σ(l) − κl, σ(h) − κh) = max(l(α − κ), h(1 − κ))
            a1n, a1d = ln * (an * kd - kn * ad), ld * ad * kd
            a2n, a2d = hn * (kd - kn), hd * kd
            tn, td = (a1n, a1d) if a1n * a2d >= a2n * a1d else (a2n, a2d)
            e_n, e_d = e_n * td + tn * e_d, e_d * td
            q.append((-kn, kd))
        nums, den = _ints_p(q)
        rows = self.mat_rows[:self.kP + self.kM]
        ints = []
        for i in range(self.d):
            g = 0
            for n, r in zip(nums, rows):
                if n:
                    g += n * r[i]
            ints.append(g)
        gcd = math.gcd(e_n, e_d)
        self.lin = (ints, den, (e_n // gcd, e_d // gcd))

    def bounds(self) -> None:
        self.U = Q(self.wit.get("threshold"))
        self.U_p = (self.U.numerator, self.U.denominator)
        lam_hi, lam_lo = self.wit.get("lam_hi"), self.wit.get("lam_lo")
        if not (isinstance(lam_hi, list) and isinstance(lam_lo, list) and len(lam_hi) == len(lam_lo) == self.kM):
            raise Reject(f"{self.name}: lam_hi and lam_lo must list {self.kM} multipliers")
        if any(q.denominator != 1 for q in self.lo + self.hi):
            raise Reject(f"{self.name}: the box must have integer bounds")
        self.lo_i, self.hi_i = [int(q) for q in self.lo], [int(q) for q in self.hi]
        # integer matrix [P; M; c] for fast exact combinations
        self.mat, self.mat_den = _as_int_matrix(self.P + self.M + [self.c])
        self.mat_rows = self.mat.tolist()
        self.h, self.l, self.phase = [], [], []
        one = Fraction(1)
        for j in range(self.kM):
            a, b = Q(lam_hi[j]), Q(lam_lo[j])
            if a < 0 or b < 0:
                raise Reject(f"{self.name}: negative Lagrange multiplier for neuron {j}")
            h = _float_up(self._lagrange_max([(j, one)], a))
            l_ = _float_down(-self._lagrange_max([(j, -one)], b))
            self.h.append(h)
            self.l.append(l_)
            # 1 active, 0 inactive, None undetermined
            self.phase.append(1 if l_ >= 0 else (0 if h <= 0 else None))
        self.empty = False
        # |t_i| ≤ ‖p_i‖ weighted by the box
        rad = [max(abs(a), abs(b)) for a, b in zip(self.lo, self.hi)]
        self.tb = [sum((abs(p_k) * r for p_k, r in zip(p, rad)), Fraction(0)) for p in self.P]
        self.tb_i, self.tb_den = _ints(self.tb)
        steps = self.wit.get("tighten", [])
        if not isinstance(steps, list):
            raise Reject(f"{self.name}: tighten must be a list")
        for step in steps:
            self.tighten(step)

    def tighten(self, step: dict) -> None:
        """One LP-dual bound on ±⟨m_j,x⟩ over the root relaxation ∩ H, applied in order."""
        if self.empty:
            return
        if not isinstance(step, dict):
            raise Reject(f"{self.name}: a tightening step must be an object")
        j, sense = step.get("j"), step.get("sense")
        if isinstance(j, bool) or not isinstance(j, int) or not (0 <= j < self.kM) or sense not in ("hi", "lo"):
            raise Reject(f"{self.name}: a tightening step needs j in range and sense hi/lo")
        if self.phase[j] is not None:
            raise Reject(f"{self.name}: tightening neuron {j}, whose phase is already fixed")
        b = self._leaf(step, {}, (j, 1 if sense == "hi" else -1))
        if b is None:  # the relaxation of H is empty: nothing lies above U
            self.empty = True
            return
        if sense == "hi":
            self.h[j] = min(self.h[j], _float_up(b))
        else:
            self.l[j] = max(self.l[j], _float_down(-b))
        if self.l[j] >= 0:
            self.phase[j] = 1
        elif self.h[j] <= 0:
            self.phase[j] = 0

    def cut(self, step: dict, fixed: dict) -> None:
        """A node-local bound on ±⟨m_k,x⟩ from region rows of neurons fixed on the path.

        With `s_j = ±1` the side of j (`s_j⟨m_j,x⟩ ≥ 0` in the node) and `⟨c,x⟩ ≥ U` on H, for
        `μ_j, λ ≥ 0`: `⟨m_k,x⟩ ≤ max_B ⟨m_k + Σ μ_j s_j·m_j + λc, x⟩ − λU` and
        `⟨m_k,x⟩ ≥ −(max_B ⟨−m_k + Σ μ_j s_j·m_j + λc, x⟩ − λU)`; the pairs are `row`/`mu` and
        the optional list `rows`. With `lin` = ν the node's linearized row `⟨a,x⟩ ≤ e` enters
        too: `− ν·a` inside the maximum, `+ ν·e` outside. Applied to self.h/l/phase in place.
        """
        if not isinstance(step, dict):
            raise Reject(f"{self.name}: a cut must be an object")
        k, sense = step.get("cut"), step.get("sense")
        extra = step.get("rows", [])
        if not isinstance(extra, list) or not all(isinstance(p, list) and len(p) == 2 for p in extra):
            raise Reject(f"{self.name}: a cut's rows must be a list of [neuron, multiplier] pairs")
        pairs = [(step.get("row"), step.get("mu"))] + [tuple(p) for p in extra]
        for idx in [k] + [j for j, _ in pairs]:
            if type(idx) is not int or not (0 <= idx < self.kM):
                raise Reject(f"{self.name}: a cut names an unknown neuron {idx!r}")
        if sense not in ("hi", "lo"):
            raise Reject(f"{self.name}: a cut's sense is hi or lo")
        for j, _ in pairs:
            if j not in fixed:
                raise Reject(f"{self.name}: a cut uses the row of neuron {j}, which is not fixed on this path")
        if k in fixed or self.phase[k] is not None:
            raise Reject(f"{self.name}: a cut on neuron {k}, whose phase is already fixed")
        lam = _ratio(step.get("lam"))
        mus = [_ratio(mu) for _, mu in pairs]
        nu = _ratio(step["lin"]) if "lin" in step else None
        if lam[0] < 0 or any(mu[0] < 0 for mu in mus) or (nu is not None and nu[0] < 0):
            raise Reject(f"{self.name}: negative multiplier in a cut")
        if nu is not None and self.lin is None:
            raise Reject(f"{self.name}: a cut uses the linearized row of a node that states none")
        terms = [(k, (1 if sense == "hi" else -1, 1))]
        terms += [(j, mu if fixed[j] == 1 else (-mu[0], mu[1])) for (j, _), mu in zip(pairs, mus)]
        num, den = self._lagrange_bound(terms, lam, nu)
        if "b" in step:
            # the stated bound, taken only if the combination proves it: value ≤ b (hi),
            # value ≤ −b (lo), value = num/den with den > 0
            bn, bd = _ratio(step["b"])
            if sense == "lo":
                bn = -bn
            if num * bd > bn * den:
                raise Reject(f"{self.name}: a cut on neuron {k} states a bound its multipliers do not prove")
            bound = _float_up_p(bn, bd)
        else:
            bound = _float_up_p(num, den)
        if sense == "hi":
            self.h[k] = min(self.h[k], bound)
        else:
            self.l[k] = max(self.l[k], -bound)
        if self.l[k] >= 0:
            self.phase[k] = 1
        elif self.h[k] <= 0:
            self.phase[k] = 0

    def enter(self, node: dict, fixed: dict, state: tuple) -> tuple | None:
        """Apply a node's cuts to a copy of the path state; None if the node is empty."""
        cuts = node.get("cuts")
        self.lin = None
        if cuts is None:
            if "lin" in node:
                raise Reject(f"{self.name}: a node states a linearized row but no cuts")
            self.h, self.l, self.phase = state
            return state
        if not isinstance(cuts, list):
            raise Reject(f"{self.name}: cuts must be a list")
        self.h, self.l, self.phase = list(state[0]), list(state[1]), list(state[2])
        if "lin" in node:
            self.linearized(node["lin"], fixed)
        for step in cuts:
            self.cut(step, fixed)
            k = step["cut"]
            if self.h[k] < self.l[k]:  # no point of H lies in this node
                return None
        return (self.h, self.l, self.phase)

    # ---- the tree -----------------------------------------------------------------
    def upper(self) -> tuple[Fraction, int]:
        self.bounds()
        best = self.U
        leaves = 0
        if self.empty:
            return best, leaves
        tree = self.wit.get("tree")
        stack = [(tree, {}, 0, (self.h, self.l, self.phase))]
        while stack:
            node, fixed, depth, state = stack.pop()
            if depth > MAX_DEPTH:
                raise Reject(f"{self.name}: tree too deep")
            if not isinstance(node, dict):
                raise Reject(f"{self.name}: a tree node must be an object")
            state = self.enter(node, fixed, state)
            if state is None:
                leaves += 1
                continue
            if "split" in node:
                j = node["split"]
                if isinstance(j, bool) or not isinstance(j, int) or not (0 <= j < self.kM):
                    raise Reject(f"{self.name}: split on an unknown neuron {j!r}")
                if self.phase[j] is not None or j in fixed:
                    raise Reject(f"{self.name}: split on neuron {j}, whose phase is already fixed")
                stack.append((node.get("active"), {**fixed, j: 1}, depth + 1, state))
                stack.append((node.get("inactive"), {**fixed, j: 0}, depth + 1, state))
            elif "leaf" in node:
                leaves += 1
                b = self._leaf(node["leaf"], fixed)
                if b is not None and b > best:
                    best = b
            else:
                raise Reject(f"{self.name}: a tree node is a split or a leaf")
        return best, leaves

    def _leaf(self, leaf: dict, fixed: dict, obj: tuple[int, int] | None = None) -> Fraction | None:
        """Exact bound on the objective over the leaf (None: the leaf is empty).

        The objective is ⟨c,x⟩, or `sign·⟨m_j,x⟩` for `obj = (j, sign)` (bound tightening).
        """
        if not isinstance(leaf, dict) or not isinstance(leaf.get("y"), dict):
            raise Reject(f"{self.name}: a leaf needs multipliers y")
        y0 = Q(leaf.get("y0", 0))
        if y0 < 0:
            raise Reject(f"{self.name}: negative objective multiplier")
        alpha = self.alpha
        zero = (0, 1)
        y1 = [zero] * self.kP
        y2 = [zero] * self.kP
        ysum = zero
        ythr = zero
        yreg: dict[int, tuple[int, int]] = {}
        ychord: dict[int, tuple[int, int]] = {}
        for key, val in leaf["y"].items():
            q = _ratio(val)  # (numerator, denominator > 0)
            if q[0] < 0:
                raise Reject(f"{self.name}: negative multiplier on row {key}")
            kind, _, idx = str(key).partition(":")
            if kind == "sum" and not idx:
                ysum = q
                continue
            if kind == "thr" and not idx:  # −⟨c,x⟩ ≤ −U: every point of H satisfies it
                ythr = q
                continue
            try:
                i = int(idx)
            except ValueError:
                raise Reject(f"{self.name}: unknown row {key!r}") from None
            if kind in ("p1", "p2") and 0 <= i < self.kP:
                (y1 if kind == "p1" else y2)[i] = q
            elif kind == "reg" and i in fixed:
                yreg[i] = q
            elif kind == "chord" and 0 <= i < self.kM and self.phase[i] is None and i not in fixed:
                ychord[i] = q
            else:
                raise Reject(f"{self.name}: row {key!r} does not exist in this leaf")
        # Everything below is integer arithmetic over explicit common denominators: the
        # same sums as with Fractions, without a gcd per operation.
        unf = [j for j in range(self.kM) if self.phase[j] is None and j not in fixed]
        regs = sorted(yreg)
        Y, Dy = _ints_p(y1 + y2 + [ysum, ythr, (y0.numerator, y0.denominator)] + [yreg[j] for j in regs]
                        + [ychord.get(j, zero) for j in unf])
        kP = self.kP
        Y1, Y2 = Y[:kP], Y[kP:2 * kP]
        Ysum, Ythr, Y0 = Y[2 * kP:2 * kP + 3]
        Yreg = dict(zip(regs, Y[2 * kP + 3:2 * kP + 3 + len(regs)]))
        YC = dict(zip(unf, Y[2 * kP + 3 + len(regs):]))
        HL, Dh = _ints_p([self.h[j].as_integer_ratio() for j in unf] + [self.l[j].as_integer_ratio() for j in unf])
        Hn = dict(zip(unf, HL[:len(unf)]))
        Ln = dict(zip(unf, HL[len(unf):]))
        an, ad = alpha.numerator, alpha.denominator
        # x part: coefficients on the rows of [P; M; c], over Dy·ad·Dh
        coef = [(Y1[i] * ad + an * Y2[i]) * Dh for i in range(kP)]
        for j in range(self.kM):
            if j in YC:  # unfixed: enters the sum row through s_j and has a chord row
                coef.append(-YC[j] * (Hn[j] * ad - an * Ln[j]))
            else:
                ph = self.phase[j] if self.phase[j] is not None else fixed[j]
                cj = -Ysum * (ad if ph == 1 else an) * Dh
                if j in Yreg:  # region row: active −⟨m,x⟩ ≤ 0, inactive ⟨m,x⟩ ≤ 0
                    cj += (-Yreg[j] if ph == 1 else Yreg[j]) * ad * Dh
                coef.append(cj)
        coef.append(-Ythr * ad * Dh)
        if obj is None:
            coef[-1] -= Y0 * ad * Dh
        else:
            j, sign = obj
            coef[kP + j] -= sign * Y0 * ad * Dh
        gx = np.array(coef, dtype=object).dot(self.mat)
        mu_x = sum((min(int(g) * a, int(g) * b) for g, a, b in zip(gx, self.lo_i, self.hi_i)), 0)
        # t part over Dy·Dtb; s part over Dy·ad·Dh²
        mu_t = sum((-abs(Ysum - Y1[i] - Y2[i]) * self.tb_i[i] for i in range(kP)), 0)
        mu_s = 0
        rhs_c = 0
        for j in unf:
            gs = -Ysum * Dh + YC[j] * (Hn[j] - Ln[j])
            mu_s += min(gs * an * Ln[j], gs * ad * Hn[j])
            rhs_c += -YC[j] * (ad - an) * Hn[j] * Ln[j]
        rhs = Fraction(rhs_c, Dy * ad * Dh * Dh) - Fraction(Ythr, Dy) * self.U
        mu = (Fraction(mu_x, Dy * ad * Dh * self.mat_den) + Fraction(mu_t, Dy * self.tb_den)
              + Fraction(mu_s, Dy * ad * Dh * Dh))
        slack = rhs - mu  # y0·objective ≤ slack on the leaf
        if y0 > 0:
            return slack / y0
        if slack < 0:
            return None
        raise Reject(f"{self.name}: a leaf's multipliers prove nothing (y0 = 0 without a contradiction)")


def _dot(u, v) -> Fraction:
    return sum((a * b for a, b in zip(u, v)), Fraction(0))


def _box(d: int, bias: bool) -> tuple[list[Fraction], list[Fraction]]:
    lo, hi = [Fraction(-1)] * d, [Fraction(1)] * d
    if bias:  # the constant input stands for the biases: it is 1, not a free coordinate
        lo[-1] = hi[-1] = Fraction(1)
    return lo, hi


def side_enclosure(W_pos, W_neg, alpha, input_bias: bool, direction, side: str, witness: dict):
    """Exact `(lower or None, upper)` proven by one side's witness (`side` is plus/minus).

    Raises `Reject` when the witness is malformed or proves nothing.
    """
    Pq = [Q_vec(np.asarray(r, dtype=np.float64)) for r in np.asarray(W_pos, dtype=np.float64)]
    Mq = [Q_vec(np.asarray(r, dtype=np.float64)) for r in np.asarray(W_neg, dtype=np.float64)]
    vq = [Q(q) for q in direction]
    a = Q(alpha)
    lo, hi = _box(len(vq), input_bias)
    if side == "plus":
        s = _Side(Pq, Mq, a, vq, lo, hi, witness, "plus")
    elif side == "minus":
        s = _Side(Mq, Pq, a, [-q for q in vq], lo, hi, witness, "minus")
    else:
        raise Reject(f"unknown side {side!r}")
    up, _ = s.upper()
    lower = s.lower(homogeneous=not input_bias)
    if lower is not None and lower > up:
        raise Reject(f"{side}: the witness exceeds the proven upper bound (inconsistent certificate)")
    return lower, up


def derive(cert: dict, ctx) -> dict:
    """Re-derive `beta_{plus,minus}_{lower,upper}` and `exactly_linear`."""
    W_pos, W_neg, alpha, bias = ctx.network()
    d = W_pos.shape[1]
    v = cert.get("parameters", {}).get("direction")
    if not isinstance(v, list) or len(v) != d:
        raise Reject(f"parameters.direction must list {d} numbers")
    wit = cert.get("witness", {})
    if not isinstance(wit, dict):
        raise Reject("witness must be an object")
    out = {}
    uppers = {}
    for side in SIDES:
        if side not in wit:
            continue
        lower, up = side_enclosure(W_pos, W_neg, alpha, bias, v, side, wit[side])
        uppers[side] = up
        out[f"beta_{side}_upper"] = Enclosure(up if lower is None else lower, up)
        if lower is not None:
            out[f"beta_{side}_lower"] = Enclosure(lower, up)
    if len(uppers) == 2:
        ok = uppers["plus"] <= 0 and uppers["minus"] <= 0
        out["exactly_linear"] = Verdict(ok, "β⁺ ≤ 0 and β⁻ ≤ 0: sign N(x) = sign⟨v,x⟩ on the box" if ok
                                        else f"upper bounds {float(uppers['plus']):.3g}, {float(uppers['minus']):.3g} are not both ≤ 0")
    return out
