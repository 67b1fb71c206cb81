"""Checker for `convergence` certificates (Theorem 1, THEORY.md §2), re-derived independently.

This module is the one sanctioned duplicate of Theorem 1's formula: it imports nothing
from the rest of `verify` and recomputes everything from the run file (`input "run"`) in
exact rationals or python-flint arb balls.

From the run file: data `X, y`, leak α, step η (from the stored config), k, the initial
and final weights, the reference w_ref used for the recorded alignment, and the per-step
arrays `step_idx, step_z, step_g, step_s, step_norm2, step_align`. From the witness: the
direction `w` (any nonzero vector) whose margin enters the bound.

**The bound (claims `S_star`, `S_T`).** With `ρ = ‖w‖²`, `γ_r = min_i y_i⟨w,x_i⟩ > 0`,
`R² = max_i ‖x_i‖²`, `a_r = ⟨θ₀, Θ_w⟩`, `B² = ‖θ₀‖²`, `A_T = ⟨θ_T, Θ_w⟩`, `N_T = ‖θ_T‖²`
(all exact), `g_t = 1/(1+e^{z_t})` of the recorded `z_t`, `s_t` the exact slope sum
`n₁ + α(m − n₁)` (n₁ active neurons, read off the recorded `s_t`), `S = Σg_t`,
`S' = Σg_t s_t`, and the effective constants

    a″ = min(a_r, A_T − ηγ_r S'),   B″² = max(B², N_T − 2ηΣg_t z_t − η²R² S'),

L1 and L2 summed over the run hold *by construction* with (a″, B″) in place of (a_r, B),
for the recorded numbers, whatever the rounding in the run. Then Cauchy–Schwarz
`A_T² ≤ 2kρ N_T`, L3 (Jensen, exact for the recorded z) and `S' ∈ [2kαS, 2kS]` give
`S ≤ S*`, the largest root of `F_ρ(S) = (a″ + c_r S)² − ρ(2kB″² + 4kη S log(T/S − 1) +
4k²αη²R² S)`, `c_r = 2kαγ_rη` (ρ times THEORY.md's F), provided `S* ≤ T/2` and
`a″² ≤ 2kρB″²`. A claimed `U` is accepted for `S_star` when `0 < U ≤ T/2` and
`F_ρ(U) > 0` is certified (F_ρ convex with `F_ρ(0⁺) ≤ 0`).

**Per-step invariants (claims `L1_excess`, `L2_excess`).** For each step the residuals

    res1_t = a_{t+1} − a_t − η g_t y⟨w_ref, x⟩ s_t
    res2_t = r_{t+1} − r_t − 2η g_t z_t − η² g_t² ‖x‖² Σσ'²

(recorded alignment a, squared norm r, recorded g; `a_T, r_T` exact from the final
weights) are zero in exact arithmetic; the claim is `max_t (|res_t| − tol_t) ≤ 0` with a
tolerance derived from IEEE double rounding (u = 2⁻⁵³, γ_n = nu/(1 − nu)):

* recorded sums of `n ≤ d + m + 2` products: `|r_t − ‖θ_t‖²| ≤ γ_n r_t/(1 − γ_n)`,
  `|a_t − ⟨θ_t,Θ_ref⟩| ≤ γ_n ‖θ_t‖ √(mρ_ref)`;
* the update `θ_e ← fl(θ_e + fl(fl(fl(ηg)·σ')·x))` differs from the exact step `v` by
  `‖e‖ ≤ γ₃‖v‖ + u/(1−u)‖θ_{t+1}‖`, `‖v‖ = ηg‖x‖√Σσ'²`;
* the computed margin: `|z_t − y⟨θ_t, ∇N⟩| ≤ γ_{d+m+1} √m ‖θ_t‖ ‖x‖`;
* `‖θ'‖² − ‖θ‖² − 2⟨θ,v⟩ − ‖v‖² = 2⟨θ',e⟩ − ‖e‖²`.

Hence `tol2 = e_r(t) + e_r(t+1) + 2ηg γ_{d+m+1}√m‖θ_t‖‖x‖ + 2‖θ_{t+1}‖‖e‖ + ‖e‖²` and
`tol1 = e_a(t) + e_a(t+1) + ‖e‖√(mρ_ref)` with `‖θ_t‖ ≤ √(r_t/(1 − γ_n))`.

Counts and sums (`count_loss_gt_eps`, `sum_loss`) are recounted from `step_z` with arb
(`ℓ(z) > ε ⇔ z < −log(e^ε − 1)`); theorem quantities `corollary1_count` (`S*/(1−e^{−ε})`)
and `corollary2_bound` (at `S̄ = S*`'s upper end, needs `S̄ ≤ 0.2178·T`) likewise.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np

from .._core import Enclosure, Verdict
from .._exact import Q, Q_vec, Reject, arb_lower, arb_upper, dot, norm2

_PREC = 160
_U = Fraction(1, 2**53)
_COROLLARY2_CONSTANT = Fraction(2178, 10000)


def _gam(n: int) -> Fraction:
    return n * _U / (1 - n * _U)


def _A(q):
    import flint

    if isinstance(q, flint.arb):
        return q
    q = Q(q)
    return flint.arb(flint.fmpq(q.numerator, q.denominator))


def _af(x: float):
    import flint

    return flint.arb(float(x))


class _Run:
    """The numbers of the run file, exact."""

    def __init__(self, cert: dict, ctx):
        z = ctx.arrays("run")
        for key in ("X", "y", "W_pos", "W_neg", "init_W_pos", "init_W_neg", "alpha", "meta",
                    "step_idx", "step_z", "step_g", "step_s", "step_norm2"):
            if key not in z:
                raise Reject(f"run file has no array {key!r} (train with per-step recording)")
        try:
            meta = json.loads(str(np.asarray(z["meta"])[()]))
            config = meta["config"]
        except (ValueError, KeyError, TypeError):
            raise Reject("run file has an unreadable meta record") from None
        if int(config.get("batch", 1)) != 1:
            raise Reject("Theorem 1 is checked for batch-1 SGD only")
        self.X = ctx.array("run", "X")
        self.y = ctx.array("run", "y")
        if self.X.ndim != 2 or self.y.shape != (self.X.shape[0],) or not np.all(np.abs(self.y) == 1):
            raise Reject("run data: X must be n×d and y in {−1,+1}ⁿ")
        self.n, self.d = self.X.shape
        self.Wp = ctx.array("run", "W_pos")
        self.Wn = ctx.array("run", "W_neg")
        self.Ip = ctx.array("run", "init_W_pos")
        self.In = ctx.array("run", "init_W_neg")
        self.k = self.Wp.shape[0]
        if not (self.Wp.shape == self.Wn.shape == self.Ip.shape == self.In.shape == (self.k, self.d)) or self.k < 1:
            raise Reject("run weights must be k×d per sign, the same k for both signs")
        self.m = 2 * self.k
        self.alpha = Q(float(ctx.array("run", "alpha").reshape(-1)[0]))
        if not (0 < self.alpha < 1):
            raise Reject("alpha must lie in (0, 1)")
        self.eta = Q(float(config["lr"]))
        if not self.eta > 0:
            raise Reject("step size must be > 0")
        self.idx = ctx.array("run", "step_idx", dtype=None).astype(np.int64)
        self.z = ctx.array("run", "step_z")
        self.g = ctx.array("run", "step_g")
        self.s = ctx.array("run", "step_s")
        self.r = ctx.array("run", "step_norm2")
        self.T = int(self.z.shape[0])
        if self.T < 1 or any(a.shape != (self.T,) for a in (self.idx, self.g, self.s, self.r)):
            raise Reject("per-step arrays must all have length T ≥ 1")
        if int(config.get("steps", self.T)) != self.T:
            raise Reject("per-step arrays do not cover the run's steps")
        if np.any(self.idx < 0) or np.any(self.idx >= self.n):
            raise Reject("a recorded sample index is out of range")
        self.align = ctx.array("run", "step_align") if "step_align" in z else None
        self.ref = ctx.array("run", "reference").reshape(-1) if "reference" in z else None
        self._n1 = self._active_counts()

    def _active_counts(self) -> np.ndarray:
        a, m = float(self.alpha), self.m
        if not (1 - a > 4 * m * m * 2.0**-52):
            raise Reject("alpha too close to 1 to read the active-neuron count off s_t")
        n1 = np.rint((self.s - a * m) / (1 - a))
        back = n1 + a * (m - n1)
        if np.any(n1 < 0) or np.any(n1 > m) or np.any(np.abs(self.s - back) > m * m * 2.0**-52):
            raise Reject("recorded s_t is not a sum of m slopes in {α, 1}")
        return n1.astype(np.int64)

    def slope_sum(self, n1: int) -> Fraction:
        return n1 + self.alpha * (self.m - n1)

    def slope_sq_sum(self, n1: int) -> Fraction:
        return n1 + self.alpha**2 * (self.m - n1)

    def align_exact(self, Wp, Wn, w: list[Fraction]) -> Fraction:
        return sum((dot(Q_vec(row), w) for row in Wp), Fraction(0)) - sum((dot(Q_vec(row), w) for row in Wn), Fraction(0))

    def norm_exact(self, Wp, Wn) -> Fraction:
        return sum((norm2(Q_vec(row)) for row in Wp), Fraction(0)) + sum((norm2(Q_vec(row)) for row in Wn), Fraction(0))


def _sums(run: _Run, eps: Fraction):
    """arb: S, S', Σ g z, Σ ℓ with g, ℓ of the recorded z; count of ℓ > ε as (lo, hi)."""
    import flint

    e = _A(eps)
    zeta = -(e.expm1().log())  # ℓ(z) > ε ⇔ z < ζ
    S = flint.arb(0)
    Sp = flint.arb(0)
    Sgz = flint.arb(0)
    Sl = flint.arb(0)
    lo = hi = 0
    slopes = [_A(run.slope_sum(j)) for j in range(run.m + 1)]
    for t in range(run.T):
        zt = _af(run.z[t])
        gt = 1 / (1 + zt.exp())
        S += gt
        Sp += gt * slopes[run._n1[t]]
        Sgz += gt * zt
        Sl += (-zt).exp().log1p()
        if zt < zeta:
            lo += 1
            hi += 1
        elif not (zt >= zeta):
            hi += 1
    return S, Sp, Sgz, Sl, (lo, hi)


def _F(S, T, k, alpha, gam_r, eta, R2, rho, a_eff, B2_eff):
    import flint

    S = _A(S) if not isinstance(S, flint.arb) else S
    T_a = _A(T)
    h = S * ((T_a - S).log() - S.log())
    c_r = 2 * k * alpha * gam_r * eta
    return (a_eff + c_r * S) ** 2 - rho * (2 * k * B2_eff + 4 * k * eta * h + 4 * k * k * alpha * eta * eta * R2 * S)


def _per_step(run: _Run):
    """max_t (|res_t| − tol_t) for L1 (None without alignment records) and L2, as arb."""
    import flint

    d, m, T = run.d, run.m, run.T
    u = _A(_U)
    gN = _A(_gam(d + m + 2))
    gz = _A(_gam(d + m + 1))
    g3 = _A(_gam(3))
    one = flint.arb(1)
    sqrt_m = flint.arb(m).sqrt()
    eta = _A(run.eta)
    # per data point: ‖x‖², ‖x‖ and y⟨w_ref,x⟩, exact then as balls
    used = np.unique(run.idx)
    xx = {}
    xn = {}
    yr = {}
    ref = Q_vec(run.ref) if (run.ref is not None and run.align is not None) else None
    for i in used:
        row = Q_vec(run.X[i])
        q = norm2(row)
        xx[i] = _A(q)
        xn[i] = xx[i].sqrt()
        if ref is not None:
            yr[i] = _A(Q(float(run.y[i])) * dot(row, ref))
    rho_ref = _A(norm2(ref)) if ref is not None else None
    sqrt_mrho = (m * rho_ref).sqrt() if ref is not None else None
    NT = _A(run.norm_exact(run.Wp, run.Wn))
    AT = _A(run.align_exact(run.Wp, run.Wn, ref)) if ref is not None else None
    slopes = [_A(run.slope_sum(j)) for j in range(m + 1)]
    sqs = [_A(run.slope_sq_sum(j)) for j in range(m + 1)]
    e_rel = gN / (1 - gN)
    best1 = None
    best2 = None

    def theta_norm(t):
        return NT.sqrt() if t == T else (_af(run.r[t]) / (1 - gN)).sqrt()

    def r_at(t):
        return NT if t == T else _af(run.r[t])

    def er(t):
        return flint.arb(0) if t == T else e_rel * _af(run.r[t])

    def a_at(t):
        return AT if t == T else _af(run.align[t])

    tn_next = theta_norm(0)
    for t in range(T):
        i = int(run.idx[t])
        g = _af(run.g[t])
        zt = _af(run.z[t])
        n1 = int(run._n1[t])
        tn = tn_next
        tn_next = theta_norm(t + 1)
        vnorm = eta * g * xn[i] * sqs[n1].sqrt()
        enorm = g3 * vnorm + u / (one - u) * tn_next
        res2 = r_at(t + 1) - r_at(t) - 2 * eta * g * zt - eta * eta * g * g * xx[i] * sqs[n1]
        tol2 = er(t) + er(t + 1) + 2 * eta * g * gz * sqrt_m * tn * xn[i] + 2 * tn_next * enorm + enorm * enorm
        ex2 = abs(res2) - tol2
        best2 = ex2 if best2 is None else best2.max(ex2)
        if ref is not None:
            res1 = a_at(t + 1) - a_at(t) - eta * g * yr[i] * slopes[n1]
            ea_t = gN * tn * sqrt_mrho
            ea_n = flint.arb(0) if t + 1 == T else gN * tn_next * sqrt_mrho
            tol1 = ea_t + ea_n + enorm * sqrt_mrho
            ex1 = abs(res1) - tol1
            best1 = ex1 if best1 is None else best1.max(ex1)
    return best1, best2


def derive(cert: dict, ctx) -> dict:
    import flint

    old = flint.ctx.prec
    flint.ctx.prec = _PREC
    try:
        return _derive(cert, ctx)
    finally:
        flint.ctx.prec = old


def _derive(cert: dict, ctx) -> dict:
    import flint

    P = cert["parameters"]
    W = cert["witness"]
    run = _Run(cert, ctx)
    # the certificate's parameters must be the run's
    for name, have in (("alpha", run.alpha), ("lr", run.eta), ("width", Fraction(run.k)), ("steps", Fraction(run.T))):
        if name not in P or Q(P[name]) != have:
            raise Reject(f"parameter {name} does not match the run file")
    eps = Q(P.get("eps", 0.1))
    if not eps > 0:
        raise Reject("eps must be > 0")
    names = {c["name"]: c for c in cert["claims"]}
    out: dict = {}

    # exact data quantities along the witness direction
    w = Q_vec(W.get("direction", []))
    if len(w) != run.d:
        raise Reject("witness direction has the wrong length")
    rho = norm2(w)
    if rho == 0:
        raise Reject("witness direction is zero")
    gam_r = min(Q(float(run.y[i])) * dot(Q_vec(run.X[i]), w) for i in range(run.n))
    if not gam_r > 0:
        raise Reject("the witness direction does not separate the training data (min y<w,x> ≤ 0)")
    R2 = max(norm2(Q_vec(run.X[i])) for i in range(run.n))
    a_r = run.align_exact(run.Ip, run.In, w)
    B2 = run.norm_exact(run.Ip, run.In)
    A_T = run.align_exact(run.Wp, run.Wn, w)
    N_T = run.norm_exact(run.Wp, run.Wn)

    S, Sp, Sgz, Sl, (cnt_lo, cnt_hi) = _sums(run, eps)
    k, T, alpha, eta = run.k, run.T, _A(run.alpha), _A(run.eta)
    sigma1 = _A(A_T) - eta * _A(gam_r) * Sp
    sigma2 = _A(N_T) - 2 * eta * Sgz - eta * eta * _A(R2) * Sp
    a_eff = min(a_r, arb_lower(sigma1))
    B2_eff = max(B2, arb_upper(sigma2))
    if a_eff * a_eff > 2 * k * rho * B2_eff:
        raise Reject("effective initial alignment violates Cauchy–Schwarz; the bound cannot be applied")
    args = (T, k, alpha, _A(gam_r), eta, _A(R2), _A(rho), _A(a_eff), _A(B2_eff))

    if "S_T" in names:
        out["S_T"] = Enclosure(arb_lower(S), arb_upper(S))
    if "count_loss_gt_eps" in names:
        out["count_loss_gt_eps"] = Enclosure(Fraction(cnt_lo), Fraction(cnt_hi))
    if "sum_loss" in names:
        out["sum_loss"] = Enclosure(arb_lower(Sl), arb_upper(Sl))

    # S*: enclosed by bisection in (0, U] when the claimed U is certified above the root
    # (F(U) > 0), otherwise in (0, T/2]; F convex with F(0⁺) ≤ 0 makes each step sound
    star = None
    half = Fraction(T, 2)
    U = Q(names["S_star"]["value"]) if "S_star" in names else None
    if U is not None and 0 < U <= half and _F(U, *args) > 0:
        top = U
    elif _F(half, *args) > 0:
        top = half
    else:
        top = None
    if top is None:
        if "S_star" in names:
            out["S_star"] = Verdict(False, "F(T/2) > 0 cannot be certified: S* ≥ T/2, the bound is vacuous")
    else:
        lo, hi = Fraction(0), top
        for _ in range(80):
            mid = (lo + hi) / 2
            v = _F(_A(mid), *args)
            if v > 0:
                hi = mid
            elif v < 0:
                lo = mid
            else:
                break
        star = (lo, hi)
        if "S_star" in names:
            out["S_star"] = Enclosure(lo, hi)
    if star is not None:
        q = _A(eps).expm1() / _A(eps).exp()  # 1 − e^{−ε}
        c1_hi = arb_upper(_A(star[1]) / q)
        if "corollary1_count" in names:
            out["corollary1_count"] = Enclosure(arb_lower(_A(star[0]) / q), c1_hi)
        # observed ≤ bound, each side taken at its rigorous extreme
        if "S_T_within_bound" in names:
            s_hi = arb_upper(S)
            out["S_T_within_bound"] = Verdict(s_hi <= star[1], f"S_T ≤ {float(s_hi):.17g}, S* ≤ {float(star[1]):.17g}")
        if "count_within_corollary1" in names:
            out["count_within_corollary1"] = Verdict(cnt_hi <= c1_hi, f"count ≤ {cnt_hi}, Corollary 1 bound {float(c1_hi):.17g}")
        if "corollary2_bound" in names:
            Sbar = star[1]
            if not (Sbar <= _COROLLARY2_CONSTANT * T):
                out["corollary2_bound"] = Verdict(False, "S* exceeds 0.2178·T: Corollary 2 does not apply")
            else:
                a_pos2 = max(a_eff, Fraction(0)) ** 2 / rho
                sb = _A(Sbar)
                kk = _A(k)
                val = ((2 * flint.arb(2).log() + kk * eta * _A(R2) + ((_A(T) - sb).log() - sb.log())) * sb
                       + (2 * kk * _A(B2_eff) - _A(a_pos2)) / (4 * kk * eta))
                out["corollary2_bound"] = Enclosure(Fraction(0), arb_upper(val))
                if "sum_loss_within_corollary2" in names:
                    sl_hi, c2_hi = arb_upper(Sl), arb_upper(val)
                    out["sum_loss_within_corollary2"] = Verdict(
                        sl_hi <= c2_hi, f"Σℓ ≤ {float(sl_hi):.17g}, Corollary 2 bound {float(c2_hi):.17g}")
    if "L1_excess" in names or "L2_excess" in names:
        if "L1_excess" in names and (run.align is None or run.ref is None):
            out["L1_excess"] = Verdict(False, "run file has no recorded alignment / reference")
        b1, b2 = _per_step(run)
        if b1 is not None and "L1_excess" in names:
            out["L1_excess"] = Enclosure(arb_lower(b1), arb_upper(b1))
        if "L2_excess" in names:
            out["L2_excess"] = Enclosure(arb_lower(b2), arb_upper(b2))
    return out
