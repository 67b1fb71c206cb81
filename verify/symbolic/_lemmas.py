"""The lemmas of THEORY.md §1–2 as objects, each with its proof and its falsifier.

Derivation chain (Theorem 1, global convergence of SGD for the paper-form network):

1. `homogeneity`   σ'(z)·z = σ(z) (σ'(0) = α)                         — case split on sign z
2. `slope_square`  σ'² ≤ σ'                                           — case split, α(1−α) ≥ 0
3. `g_loss`        g = 1 − e^{−ℓ}                                     — simplification
4. `psi_identity`  g·z = ψ(g)                                          — simplification
5. `psi_concave`   ψ'' < 0 on (0,1)                                     — sign of ψ''
6. `loss_le_g`     ℓ(z) ≤ g(z)(2 log 2 + (−z)₊)                         — interval cover
7. `L1`            ⟨θ_{t+1}−θ_t, Θ*⟩ ≥ ηγ g_t s_t                      — identity + signs
8. `L2`            ‖θ_{t+1}‖² ≤ ‖θ_t‖² + 2ηg_t z_t + η²R² g_t s_t      — identity + signs
9. `L3`            Σ ψ(g_t) ≤ S log(T/S − 1)                           — Jensen (5) + identity
10. `combine_root` a0 + cS* ≥ κ/2 at the largest root S* ≤ T/2 of F    — factorization
11. `F_convex`     F'' > 0 on (0,T)                                     — sign of F''
12. `closed_form`  S* ≤ max(s0, p/2 + √(p²/4+q)) for every s0          — identity + monotone log
13. `zero_init`    the closed form at a0 = B = 0, s0 = S0                — simplification
14. `lambert_w`    a·W(T e^{b/a}/a) ≥ S* for zero init                  — Lambert-W identity
15. `corollary1`   #{ℓ_t > ε} ≤ S_T/(1 − e^{−ε})                          — case split
16. `corollary2_constant` S log(T/S−1) increases on (0, 0.2178T]       — interval cover
17. `corollary2`   Σℓ_t ≤ (2log2 + kηR² + log(T/S̄−1))S̄ + (2kB²−a0₊²)/(4kη) — from 6, 8, 9, 16

See `verify.symbolic._expressions` for the corrections to THEORY.md §2 (the Combine step
needs `S* ≤ T/2`; the closed form is not within 0.5% of S* in general).
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from . import _expressions as E
from ._lemma import Lemma, interval_cover, lambdify_arb, positive_on

__all__ = ["LEMMAS", "lemma", "false_variants", "root_of_F"]

z, alpha, gamma, R, eta, k, T, S, B, a0, eps, s0, Sbar, g, u = (
    E.z, E.alpha, E.gamma, E.R, E.eta, E.k, E.T, E.S, E.B, E.a0, E.eps, E.s0, E.Sbar, E.g, E.u)
LOG2 = sp.log(2)


def _zero(expr) -> bool:
    return sp.simplify(expr) == 0


# --- samplers -------------------------------------------------------------------------

def _sample_params(rng: np.random.Generator, zero_init: bool = False) -> dict:
    """Theorem-1 parameters over many orders of magnitude; a0 obeys a0² ≤ 2kB²."""
    kk = int(rng.integers(1, 50))
    p = {"k": float(kk), "alpha": float(rng.uniform(0.01, 0.99)), "gamma": float(10 ** rng.uniform(-3, 0)),
         "R": float(10 ** rng.uniform(-0.5, 1)), "eta": float(10 ** rng.uniform(-4, 0)),
         "T": float(10 ** rng.uniform(2, 9))}
    p["gamma"] = min(p["gamma"], p["R"])
    if zero_init:
        p["B"], p["a0"] = 0.0, 0.0
    else:
        p["B"] = float(10 ** rng.uniform(-4, 1)) * float(rng.integers(0, 2))
        p["a0"] = float(math.sqrt(2 * kk) * p["B"] * rng.uniform(-1, 1))
    return p


def root_of_F(p: dict, dps: int = 40):
    """The largest root of F in (0, T) at parameters `p` (mpmath bisection), or None when
    it is not below T/2. Used by the falsifiers, which must not trust `verify._bounds`."""
    import mpmath

    with mpmath.workdps(dps):
        kk, al, ga, RR, et, TT, BB, aa = (mpmath.mpf(p[n]) for n in ("k", "alpha", "gamma", "R", "eta", "T", "B", "a0"))
        cc = 2 * kk * al * ga * et

        def F(s):
            return (aa + cc * s) ** 2 - 2 * kk * BB**2 - 4 * kk * et * s * (mpmath.log(TT - s) - mpmath.log(s)) \
                - 4 * kk**2 * al * et**2 * RR**2 * s

        hi = TT / 2
        if F(hi) <= 0:
            return None
        lo = mpmath.mpf(0)
        for _ in range(110):
            mid = (lo + hi) / 2
            if F(mid) > 0:
                hi = mid
            else:
                lo = mid
        return hi


_MP_CACHE: dict = {}


def _mp_eval(expr, point: dict):
    import mpmath

    if expr not in _MP_CACHE:
        syms = sorted(expr.free_symbols, key=lambda s: s.name)
        _MP_CACHE[expr] = (syms, sp.lambdify(syms, expr, modules="mpmath"))
    syms, f = _MP_CACHE[expr]
    with mpmath.workdps(50):
        return f(*[mpmath.mpf(point[s.name]) for s in syms])


# --- 1-5: the activation and the loss --------------------------------------------------

def _d_homogeneity(lem):
    steps = []
    for name, val in (("z > 0", sp.Symbol("zp", positive=True)), ("z < 0", sp.Symbol("zn", negative=True)),
                      ("z = 0", sp.Integer(0))):
        ok = _zero(lem.obligation.subs(z, val))
        steps.append(f"case {name}: σ'(z)z − σ(z) simplifies to 0: {ok}")
        if not ok:
            return False, "sympy", steps
    return True, "sympy", steps


def _d_slope_square(lem):
    zp, zn = sp.Symbol("zp", positive=True), sp.Symbol("zn", nonpositive=True)
    e_pos = sp.simplify(lem.obligation.subs(z, zp))
    e_neg = sp.simplify(lem.obligation.subs(z, zn))
    ok_pos = e_pos.is_nonnegative is True or positive_on(e_pos, {alpha: (0, 1)})
    ok_neg = positive_on(e_neg, {alpha: (0, 1)})
    return ok_pos and ok_neg, "sympy", [f"case z > 0: obligation = {e_pos} ≥ 0: {ok_pos}",
                                        f"case z ≤ 0: obligation = {sp.factor(e_neg)} ≥ 0 on 0<α<1: {ok_neg}"]


def _d_identity(lem):
    ok = _zero(lem.obligation)
    return ok, "sympy", [f"obligation simplifies to 0: {ok}"]


def _d_psi_concave(lem):
    e = sp.simplify(lem.obligation)
    ok = positive_on(e, {g: (0, 1)}, strict=True)
    return ok, "sympy", [f"−ψ''(g) = {e} > 0 on 0<g<1 (substitution g = t/(1+t)): {ok}"]


def _sample_z(rng):
    return {"z": float(rng.choice([0.0, rng.normal(0, 3), rng.normal(0, 40)])), "alpha": float(rng.uniform(0, 1))}


def _sample_g(rng):
    return {"g": float(rng.choice([rng.uniform(0, 1), 10 ** rng.uniform(-12, 0), 1 - 10 ** rng.uniform(-12, -0.3)]))}


# --- 6: ℓ ≤ g(2 log 2 + (−z)₊) (interval cover) ----------------------------------------

def _cover_positive(expr, var, lo, hi, steps, what):
    f = lambdify_arb([var], expr)
    ok, boxes = interval_cover(f, lo, hi)
    steps.append(f"{what} > 0 on [{lo:.12g}, {hi:.12g}]: {ok} ({boxes} arb boxes)")
    return ok


def _d_loss_le_g(lem):
    steps: list[str] = []
    zg = sp.log(1 / g - 1)  # z as a function of g = g(z), a bijection (0,1) → ℝ
    # branch z ≥ 0 ⇔ g ≤ 1/2: (−z)₊ = 0
    phi1 = 2 * LOG2 * g + sp.log(1 - g)
    ok = _zero(E.gfun(zg) - g) and _zero(sp.exp(E.loss(zg)) * (1 - g) - 1)
    steps.append(f"z = log(1/g − 1): g(z) = g and ℓ(z) = −log(1−g) (sympy): {ok}")
    if not ok:
        return False, "interval cover", steps
    d = 2.0 ** -10
    dphi1 = sp.diff(phi1, g)
    ok = (_zero(phi1.subs(g, 0)) and _zero(phi1.subs(g, sp.Rational(1, 2)))
          and _cover_positive(dphi1, g, 0.0, d, steps, "φ₁'(g) = 2log2 − 1/(1−g)")
          and _cover_positive(phi1, g, d, 0.5 - d, steps, "φ₁(g) = 2log2·g + log(1−g)")
          and _cover_positive(-dphi1, g, 0.5 - d, 0.5, steps, "−φ₁'(g)"))
    steps.append("branch z ≥ 0 (g ≤ 1/2): φ₁(0) = φ₁(1/2) = 0 exactly, φ₁ increasing after 0, "
                 f"decreasing before 1/2, positive between: {ok}")
    if not ok:
        return False, "interval cover", steps
    # branch z < 0 ⇔ g > 1/2: (−z)₊ = log(g/(1−g))
    phi2 = g * (2 * LOG2 + sp.log(g) - sp.log(1 - g)) + sp.log(1 - g)
    dphi2 = sp.simplify(sp.diff(phi2, g))
    tail = 1 - 2.0 ** -30
    ok = (_zero(phi2.subs(g, sp.Rational(1, 2)))
          and _cover_positive(dphi2, g, 0.5, tail, steps, f"φ₂'(g) = {dphi2}"))
    # on [tail, 1): log g ≥ log(tail) and −log(1−g) ≥ 30 log 2, so φ₂' ≥ the number below
    import flint

    bound = 2 * flint.arb(2).log() + flint.arb(tail).log() + 30 * flint.arb(2).log()
    ok = ok and bool(bound > 0)
    steps.append(f"φ₂' on [1−2⁻³⁰, 1) ≥ 2log2 + log(1−2⁻³⁰) + 30log2 = {bound.mid()} > 0: {bool(bound > 0)}")
    steps.append(f"branch z < 0 (g > 1/2): φ₂(1/2) = 0 and φ₂ increasing: {ok}")
    return ok, "interval cover", steps


# --- 7-9: L1, L2, L3 ---------------------------------------------------------------------

_D = 3
_w = sp.Matrix(sp.symbols("w0:3", real=True))
_uu = sp.Matrix(sp.symbols("u0:3", real=True))
_x = sp.Matrix(sp.symbols("x0:3", real=True))
_ws = sp.Matrix(sp.symbols("ws0:3", real=True))
_y = sp.Symbol("y", real=True)
_sw, _su = sp.symbols("sw su", positive=True)
_delta = sp.Symbol("delta", nonnegative=True)
_gs = sp.Symbol("g", positive=True)


def _L1_parts():
    dw = eta * _gs * _y * _sw * _x
    du = -eta * _gs * _y * _su * _x
    lhs = dw.dot(_ws) + du.dot(-_ws)
    identity = lhs - eta * _gs * _y * _x.dot(_ws) * (_sw + _su)
    return lhs, identity


_L1_lhs, _L1_identity = _L1_parts()


def _d_L1(lem):
    ok1 = _zero(sp.expand(_L1_identity))
    # y⟨w*,x⟩ = γ + δ with δ ≥ 0 (the margin hypothesis)
    rest = sp.factor(eta * _gs * (_sw + _su) * (gamma + _delta) - eta * gamma * _gs * (_sw + _su))
    ok2 = bool(rest.is_nonnegative)
    return ok1 and ok2, "sympy", [
        "one positive neuron w and one negative neuron u (the k-neuron sum is termwise):",
        f"⟨Δθ, Θ*⟩ − ηg·y⟨w*,x⟩·(σ'_w + σ'_u) expands to 0: {ok1}",
        f"with y⟨w*,x⟩ = γ + δ, δ ≥ 0: ⟨Δθ,Θ*⟩ − ηγ g s = {rest} ≥ 0: {ok2}"]


def _sample_L1(rng):
    v = {f"w{i}": rng.normal() for i in range(_D)} | {f"u{i}": rng.normal() for i in range(_D)}
    x = rng.normal(size=_D)
    ws = rng.normal(size=_D)
    ws /= np.linalg.norm(ws)
    y = 1.0 if x @ ws > 0 else -1.0
    v |= {f"x{i}": x[i] for i in range(_D)} | {f"ws{i}": ws[i] for i in range(_D)}
    al = rng.uniform(0, 1)
    v |= {"y": y, "eta": 10 ** rng.uniform(-3, 0), "g": rng.uniform(0, 1),
          "sw": rng.choice([al, 1.0]), "su": rng.choice([al, 1.0]), "gamma": y * (x @ ws) * rng.uniform(0, 1)}
    return v


def _eval_L1(p):
    expr = _L1_lhs - eta * gamma * _gs * (_sw + _su)
    return _mp_eval(expr, p)


def _L2_parts():
    w1 = _w + eta * _gs * _y * _sw * _x
    u1 = _uu - eta * _gs * _y * _su * _x
    zz = _y * (_sw * _w.dot(_x) - _su * _uu.dot(_x))  # homogeneity: σ(p) = σ'(p)·p
    growth = (w1.dot(w1) + u1.dot(u1)) - (_w.dot(_w) + _uu.dot(_uu)) - 2 * eta * _gs * zz
    identity = growth - eta**2 * _gs**2 * _x.dot(_x) * (_sw**2 + _su**2)
    return growth, identity


_L2_growth, _L2_identity = _L2_parts()


def _d_L2(lem):
    steps = []
    ok = _zero(sp.expand(_L2_identity).subs(_y**2, 1))
    steps.append(f"‖θ'‖² − ‖θ‖² − 2ηgz − η²g²‖x‖²Σσ'² expands to 0 (z via homogeneity, y² = 1): {ok}")
    xx = sp.Symbol("xx", positive=True)
    r = sp.Symbol("r", nonnegative=True)
    for sw in (sp.Integer(1), alpha):
        for su in (sp.Integer(1), alpha):
            # R² = ‖x‖² + r with r ≥ 0; g ∈ (0, 1]
            slack = eta**2 * (xx + r) * _gs * (sw + su) - eta**2 * _gs**2 * xx * (sw**2 + su**2)
            good = positive_on(slack, {_gs: (0, 1), alpha: (0, 1)})
            steps.append(f"σ' = ({sw}, {su}): η²R²g s − η²g²‖x‖²Σσ'² ≥ 0 for g ∈ (0,1], ‖x‖ ≤ R: {good}")
            ok = ok and good
    return ok, "sympy", steps


def _sample_L2(rng):
    v = _sample_L1(rng)
    xn = math.sqrt(sum(v[f"x{i}"] ** 2 for i in range(_D)))
    v["R"] = xn * (1 + rng.choice([0.0, rng.uniform(0, 1)]))
    v["alpha"] = min(v["sw"], v["su"]) if min(v["sw"], v["su"]) < 1 else rng.uniform(0, 1)
    return v


def _eval_L2(p):
    expr = eta**2 * R**2 * _gs * (_sw + _su) - _L2_growth
    return _mp_eval(expr, p)


_gt = sp.IndexedBase("g")
_t = sp.Symbol("t", integer=True)


def _d_L3(lem):
    ok = _zero(T * E.psi(S / T) - E.h(S))
    return ok, "sympy", ["ψ concave (psi_concave) ⇒ Jensen: Σ_{t<T} ψ(g_t) ≤ T·ψ(S/T) with S = Σ g_t",
                         f"T·ψ(S/T) − S·log(T/S − 1) simplifies to 0: {ok}"]


def _sample_L3(rng):
    n = int(rng.integers(1, 40))
    return {"gs": rng.uniform(0, 1, size=n) ** rng.uniform(0.2, 5)}


def _eval_L3(p):
    import mpmath

    with mpmath.workdps(50):
        gs = [mpmath.mpf(float(v)) for v in p["gs"]]
        TT = len(gs)
        SS = sum(gs)
        return SS * mpmath.log(TT / SS - 1) - sum(x * mpmath.log(1 / x - 1) for x in gs)


# --- 10-14: combine, convexity, closed forms ---------------------------------------------

_A = sp.Symbol("A", real=True)


def _d_combine_root(lem):
    steps = []
    ok1 = _zero(E.F - E.F_true_terms(a0 + E.c * S))
    steps.append(f"F(S) = G(a0 + cS) − 2kB² − 4kη h(S) with G(A) = A² − κ(A − a0), κ = 2kηR²/γ: {ok1}")
    ok2 = _zero(sp.expand((_A - E.kappa / 2) ** 2 - (E.kappa / 2 - a0) ** 2 - (_A - a0) * (_A + a0 - E.kappa)))
    steps.append(f"(A − κ/2)² − (κ/2 − a0)² = (A − a0)(A + a0 − κ): {ok2}")
    steps.append("F(S*) = 0, h(S*) ≥ 0 (S* ≤ T/2) and 2kB² ≥ a0² give (A* − κ/2)² ≥ (κ/2 − a0)²; with "
                 "A* − a0 = cS* > 0 this forces A* ≥ κ − a0, and A* > a0, so A* ≥ κ/2")
    dG = sp.diff(_A**2 - E.kappa * (_A - a0), _A)
    ok3 = positive_on(dG.subs(_A, E.kappa / 2 + _delta), {})  # A = κ/2 + δ, δ ≥ 0
    steps.append(f"G'(A) = {dG} ≥ 0 for A ≥ κ/2, so min over A ∈ [a0+cS, a0+cS/α] of G is at a0 + cS "
                 f"for S ≥ S*: F_true = F there: {ok3}")
    return ok1 and ok2 and ok3, "sympy", steps


def _sample_theorem(rng, zero_init=False):
    for _ in range(100):
        p = _sample_params(rng, zero_init)
        r = root_of_F(p, dps=30)
        if r is not None:
            p["_root"] = r
            return p
    return p | {"_root": None}


def _eval_combine_root(p):
    import mpmath

    if p["_root"] is None:
        return 0.0
    with mpmath.workdps(40):
        cc = 2 * p["k"] * p["alpha"] * p["gamma"] * p["eta"]
        A = mpmath.mpf(p["a0"]) + cc * p["_root"]
        kap = 2 * mpmath.mpf(p["k"]) * p["eta"] * p["R"] ** 2 / p["gamma"]
        # relative: the root is known to 2⁻¹¹⁰ only
        return (A - kap / 2) / (abs(A) + kap) + mpmath.mpf(2) ** -100


def _d_F_convex(lem):
    e = sp.simplify(lem.obligation)
    ok = positive_on(e, {S: (0, T)}, strict=True)
    return ok, "sympy", [f"F''(S) = {e}", f"> 0 on 0 < S < T (substitution S = T·t/(1+t)): {ok}"]


def _sample_convex(rng):
    p = _sample_params(rng)
    p["S"] = p["T"] * float(rng.uniform(0, 1))
    return p


_p_s0, _q_s0 = E._pq(sp.log(T / s0 - 1))


def _d_closed_form(lem):
    steps = []
    gap = E.F - E.c**2 * (S**2 - _p_s0 * S - _q_s0) - 4 * k * eta * S * (sp.log(T / s0 - 1) - sp.log(T / S - 1))
    ok1 = _zero(sp.expand(gap))
    steps.append(f"F(S) − c²(S² − pS − q) = 4kηS·(log(T/s0 − 1) − log(T/S − 1)): {ok1}")
    dlog = sp.simplify(-sp.diff(sp.log(T / S - 1), S))
    ok2 = positive_on(dlog, {S: (0, T)}, strict=True)
    steps.append(f"−d/dS log(T/S − 1) = {dlog} > 0: log(T/S−1) decreases, so F ≥ c²(S² − pS − q) for S ≥ s0: {ok2}")
    steps.append("if S* > s0 then 0 = F(S*) ≥ c²(S*² − pS* − q), so S* ≤ p/2 + √(p²/4 + q); q ≥ 0 by Cauchy–Schwarz")
    return ok1 and ok2, "sympy", steps


def _sample_closed(rng):
    p = _sample_theorem(rng)
    p["s0"] = p["T"] * float(rng.uniform(0, 0.999))
    return p


def _relative_excess(expr):
    """Falsifier value `(bound − S*)/S*` of a closed-form upper bound on the root of F."""
    def evaluate(p):
        if p["_root"] is None:
            return 0.0
        pt = {kk: v for kk, v in p.items() if not kk.startswith("_")}
        return (_mp_eval(expr, pt) - p["_root"]) / p["_root"]
    return evaluate


_eval_closed = _relative_excess(E.closed_form)


def _d_zero_init(lem):
    sub = {a0: 0, B: 0}
    S0 = sp.simplify(E.closed_form_S0.subs(sub))
    steps = [f"S0 at a0 = B = 0 simplifies to {S0}"]
    # hypothesis S0 ≤ T/2 written as T = S0·(2 + τ), τ > 0, so that log(T/S0 − 1) > 0
    tau = sp.Symbol("tau", positive=True)
    root = E._root(sp.log(T / s0 - 1)).subs(sub).subs(s0, S0).subs(T, S0 * (2 + tau))
    ok1 = _zero(root - S0 - sp.log(1 + tau) / (k * alpha**2 * gamma**2 * eta))
    steps.append(f"root − S0 = log(T/S0 − 1)/(kα²γ²η) ≥ 0 when S0 ≤ T/2, so the max is the root: {ok1}")
    ok2 = _zero(root - E.zero_init_closed_form.subs(T, S0 * (2 + tau)))
    steps.append(f"root equals log(Tαγ²/R² − 1)/(kα²γ²η) + R²/(αγ²): {ok2}")
    return ok1 and ok2, "sympy", steps


def _sample_zero(rng):
    p = _sample_params(rng, zero_init=True)
    S0 = p["R"] ** 2 / (p["alpha"] * p["gamma"] ** 2)
    p["T"] = max(p["T"], 2 * S0 * (1 + float(rng.uniform(0, 100))))
    p["s0"] = S0
    return p


_S0_zero = R**2 / (alpha * gamma**2)


def _eval_zero(p):
    v1 = _mp_eval(E.closed_form.subs({a0: 0, B: 0}).subs(s0, _S0_zero), p)
    v2 = _mp_eval(E.zero_init_closed_form, p)
    return (v1 - v2) / v2


_la = 1 / (k * alpha**2 * gamma**2 * eta)
_lb = R**2 / (alpha * gamma**2)


def _d_lambert(lem):
    x = T / _la * sp.exp(_lb / _la)
    W = sp.LambertW(x)
    e = sp.expand_log(E.lambert_zero_init - _la * sp.log(T / E.lambert_zero_init) - _lb, force=True)
    e = sp.expand_log(e.subs(sp.log(W), sp.log(x) - W), force=True)  # W(x)·e^{W(x)} = x
    ok1 = _zero(e)
    steps = [f"S_W = a·W(T e^(b/a)/a) solves S = a·log(T/S) + b (log W(x) = log x − W(x)): {ok1}"]
    steps.append("S − a·log(T/S − 1) − b ≥ S − a·log(T/S) − b, both increasing in S; the zero-init F(S)/(c²S) "
                 "is the former, so its root S* ≤ S_W")
    ok2 = _zero(E.F.subs({a0: 0, B: 0}) / (E.c**2 * S) - (S - _la * sp.log(T / S - 1) - _lb))
    steps.append(f"F(S)/(c²S) at a0 = B = 0 equals S − a·log(T/S − 1) − b: {ok2}")
    return ok1 and ok2, "sympy", steps


def _sample_lambert(rng):
    return _sample_theorem(rng, zero_init=True)


_eval_lambert = _relative_excess(E.lambert_zero_init)


# --- 15-17: corollaries ---------------------------------------------------------------------

def _d_corollary1(lem):
    d = sp.Symbol("d", positive=True)
    above = sp.simplify(lem.obligation.subs(g, 1 - sp.exp(-eps) + d))
    ok = bool(above.is_positive)
    return ok, "sympy", [f"g > 1 − e^(−ε), g = 1 − e^(−ε) + d: g − (1 − e^(−ε)) = {above} > 0: {ok}",
                         "g ≤ 1 − e^(−ε): the obligation is g > 0",
                         "sum over t: (1 − e^(−ε))·#{ℓ_t > ε} ≤ Σ g_t = S_T (ℓ > ε ⇔ g > 1 − e^(−ε) by g_loss)"]


def _sample_cor1(rng):
    return {"g": float(rng.uniform(0, 1)), "epsilon": float(10 ** rng.uniform(-4, 1))}


def _d_cor2_constant(lem):
    steps = []
    d2 = sp.simplify(-sp.diff(lem.obligation, u))
    ok1 = positive_on(d2, {u: (0, 1)}, strict=True)
    steps.append(f"−d/du[log(1/u − 1) − 1/(1 − u)] = {d2} > 0: the obligation decreases on (0,1): {ok1}")
    lo = 2.0 ** -20
    ok2 = _cover_positive(lem.obligation, u, lo, float(E.U_STAR_CONSTANT), steps, "log(1/u − 1) − 1/(1 − u)")
    steps.append("on (0, 2⁻²⁰] it is ≥ its value at 2⁻²⁰ > 0 (decreasing); so (d/du)[u log(1/u − 1)] > 0 "
                 f"on (0, {E.U_STAR_CONSTANT}]: S log(T/S − 1) increases on (0, 0.2178·T]")
    return ok1 and ok2, "interval cover", steps


def _sample_cor2_constant(rng, c=E.U_STAR_CONSTANT):
    cf = float(c)
    return {"u": float(rng.choice([cf, cf * (1 - 1e-9), rng.uniform(0, cf), 10 ** rng.uniform(-9, math.log10(cf))]))}


_Sp = sp.Symbol("Splus", positive=True)
_apos = sp.Symbol("apos", nonnegative=True)


def _cor2_obligation(C=E.U_STAR_CONSTANT):
    rhs = E.corollary2.subs(sp.Max(a0, 0), _apos)
    chain = 2 * LOG2 * S + E.h(_Sp) + (2 * k * B**2 - _apos**2) / (4 * k * eta) + k * eta * R**2 * S
    return rhs - chain


def _d_cor2(lem):
    diff = sp.simplify(lem.obligation - ((2 * LOG2 + k * eta * R**2) * (Sbar - S) + E.h(Sbar) - E.h(_Sp)))
    ok = diff == 0
    return ok, "sympy", [
        "Σℓ_t ≤ 2log2·S_T + Σ_t g_t(−z_t)₊ (loss_le_g); Σ g(−z)₊ = Σ_{z≥0} ψ(g_t) − Σ_t g_t z_t",
        "Σ_{z≥0} ψ(g_t) ≤ h(S⁺) with S⁺ = Σ_{z≥0} g_t ≤ S_T (Jensen, as in L3)",
        "−Σ g_t z_t ≤ (2kB² − a0₊²)/(4kη) + kηR²S_T (L2 summed, ‖θ_T‖² ≥ a0₊²/(2k) by L1 + Cauchy–Schwarz)",
        f"RHS − chain = (2log2 + kηR²)(S̄ − S) + h(S̄) − h(S⁺): {ok}",
        "≥ 0 for S⁺ ≤ S ≤ S̄ ≤ 0.2178·T since h increases there (corollary2_constant)"]


def _sample_cor2(rng, C=E.U_STAR_CONSTANT):
    p = _sample_params(rng)
    cf = float(C)
    sbar = p["T"] * cf * float(rng.choice([1.0, rng.uniform(0, 1)]))
    s = sbar * float(rng.choice([1.0, rng.uniform(0, 1)]))
    sp_ = s * float(rng.choice([1.0, rng.uniform(0, 1), 0.8]))
    return p | {"Sbar": sbar, "S": s, "Splus": sp_, "apos": max(p["a0"], 0.0)}


# --- the registry -----------------------------------------------------------------------------

def _build() -> list[Lemma]:
    L = []
    L.append(Lemma("homogeneity", "positive homogeneity of the leaky ReLU", "THEORY.md §1",
                   sp.Eq(sp.Symbol("sigma'(z)") * z, sp.Symbol("sigma(z)")), (0 < alpha, alpha < 1),
                   E.dsigma(z) * z - E.sigma(z), "identity", _d_homogeneity, _sample_z))
    L.append(Lemma("slope_square", "σ'² ≤ σ' (slopes lie in [α, 1])", "THEORY.md §1",
                   sp.Le(sp.Symbol("sigma'(z)") ** 2, sp.Symbol("sigma'(z)")), (0 < alpha, alpha < 1),
                   E.dsigma(z) - E.dsigma(z) ** 2, "nonneg", _d_slope_square, _sample_z))
    L.append(Lemma("g_loss", "g = 1 − e^{−ℓ}", "THEORY.md §1",
                   sp.Eq(E.gfun(z), 1 - sp.exp(-E.loss(z))), (), E.gfun(z) - (1 - sp.exp(-E.loss(z))),
                   "identity", _d_identity, _sample_z))
    L.append(Lemma("psi_identity", "g·z = ψ(g)", "THEORY.md §1",
                   sp.Eq(E.gfun(z) * z, E.psi(E.gfun(z))), (), E.gfun(z) * z - E.psi(E.gfun(z)),
                   "identity", _d_identity, _sample_z))
    L.append(Lemma("psi_concave", "ψ is concave on (0,1)", "THEORY.md §1",
                   sp.Lt(sp.diff(E.psi(g), g, 2), 0), (0 < g, g < 1), -sp.diff(E.psi(g), g, 2),
                   "nonneg", _d_psi_concave, _sample_g))
    L.append(Lemma("loss_le_g", "ℓ(z) ≤ g(z)(2 log 2 + (−z)₊)", "THEORY.md §1",
                   sp.Le(E.loss(z), E.gfun(z) * (2 * LOG2 + sp.Max(-z, 0))), (),
                   E.gfun(z) * (2 * LOG2 + sp.Max(-z, 0)) - E.loss(z), "nonneg", _d_loss_le_g, _sample_z))
    L.append(Lemma("L1", "alignment grows: ⟨θ_{t+1} − θ_t, Θ*⟩ ≥ ηγ g_t s_t", "THEORY.md §2 L1",
                   sp.Ge(sp.Symbol("<theta_{t+1}-theta_t, Theta*>"), eta * gamma * _gs * sp.Symbol("s_t")),
                   (sp.Ge(_y * _x.dot(_ws), gamma),), _L1_lhs - eta * gamma * _gs * (_sw + _su), "nonneg",
                   _d_L1, _sample_L1, _eval_L1, ("homogeneity",)))
    L.append(Lemma("L2", "norm: ‖θ_{t+1}‖² ≤ ‖θ_t‖² + 2ηg_t z_t + η²R² g_t s_t", "THEORY.md §2 L2",
                   sp.Le(sp.Symbol("|theta_{t+1}|^2"), sp.Symbol("|theta_t|^2") + 2 * eta * _gs * sp.Symbol("z_t")
                         + eta**2 * R**2 * _gs * sp.Symbol("s_t")),
                   (_gs <= 1, sp.Le(sp.sqrt(_x.dot(_x)), R)), eta**2 * R**2 * _gs * (_sw + _su) - _L2_growth,
                   "nonneg", _d_L2, _sample_L2, _eval_L2, ("homogeneity", "slope_square")))
    L.append(Lemma("L3", "Σ_t g_t z_t = Σ_t ψ(g_t) ≤ S·log(T/S − 1)", "THEORY.md §2 L3",
                   sp.Le(sp.Sum(E.psi(_gt[_t]), (_t, 0, T - 1)), E.h(S)), (sp.Eq(S, sp.Sum(_gt[_t], (_t, 0, T - 1))),),
                   E.h(S) - sp.Sum(E.psi(_gt[_t]), (_t, 0, T - 1)), "nonneg", _d_L3, _sample_L3, _eval_L3,
                   ("psi_identity", "psi_concave")))
    L.append(Lemma("combine_root", "at the largest root S* ≤ T/2 of F, a0 + cS* ≥ κ/2, so F = F_true beyond S*",
                   "THEORY.md §2 Combine (corrected)",
                   sp.Ge(a0 + E.c * sp.Symbol("S*"), E.kappa / 2),
                   (sp.Le(a0**2, 2 * k * B**2), sp.Le(sp.Symbol("S*"), T / 2)),
                   a0 + E.c * sp.Symbol("S*") - E.kappa / 2, "nonneg", _d_combine_root,
                   _sample_theorem, _eval_combine_root, ("L1", "L2", "L3")))
    L.append(Lemma("F_convex", "F is convex on (0, T)", "THEORY.md §2 Combine",
                   sp.Gt(sp.diff(E.F, S, 2), 0), (0 < S, S < T), sp.diff(E.F, S, 2), "nonneg",
                   _d_F_convex, _sample_convex, None, ("psi_concave",)))
    L.append(Lemma("closed_form", "S* ≤ max(s0, p/2 + √(p²/4 + q)) for every s0 ∈ (0, T)", "THEORY.md §2 Closed form",
                   sp.Le(sp.Symbol("S*"), E.closed_form), (0 < s0, s0 < T), E.closed_form - sp.Symbol("S*"),
                   "nonneg", _d_closed_form, _sample_closed, _eval_closed, ("F_convex",)))
    L.append(Lemma("zero_init", "zero initialization: the closed form at s0 = S0", "THEORY.md §2 Closed form",
                   sp.Eq(E.closed_form.subs({a0: 0, B: 0, s0: sp.Symbol("S0")}), E.zero_init_closed_form),
                   (sp.Le(R**2 / (alpha * gamma**2), T / 2),),
                   E.closed_form.subs({a0: 0, B: 0}) - E.zero_init_closed_form, "identity", _d_zero_init,
                   _sample_zero, _eval_zero, ("closed_form",)))
    L.append(Lemma("lambert_w", "zero initialization: S* ≤ a·W(T e^{b/a}/a), a = 1/(kα²γ²η), b = R²/(αγ²)",
                   "THEORY.md §2 Closed form (Lambert-W form)",
                   sp.Le(sp.Symbol("S*"), E.lambert_zero_init), (sp.Eq(a0, 0), sp.Eq(B, 0)),
                   E.lambert_zero_init - sp.Symbol("S*"), "nonneg", _d_lambert, _sample_lambert, _eval_lambert,
                   ("F_convex",)))
    L.append(Lemma("corollary1", "at most S_T/(1 − e^{−ε}) steps have sampled loss > ε", "THEORY.md §2 Corollary 1",
                   sp.Le(sp.Symbol("#{l_t > eps}"), E.corollary1),
                   (0 < g, g < 1), sp.Piecewise((g - (1 - sp.exp(-eps)), g > 1 - sp.exp(-eps)), (g, True)),
                   "nonneg", _d_corollary1, _sample_cor1, None, ("g_loss",)))
    L.append(Lemma("corollary2_constant", "S·log(T/S − 1) increases on (0, 0.2178·T]", "THEORY.md §2 Corollary 2",
                   sp.Gt(sp.diff(u * sp.log(1 / u - 1), u), 0), (0 < u, u <= E.U_STAR_CONSTANT),
                   sp.log(1 / u - 1) - 1 / (1 - u), "nonneg", _d_cor2_constant, _sample_cor2_constant))
    L.append(Lemma("corollary2", "Σ_{t<T} ℓ_t ≤ (2log2 + kηR² + log(T/S̄ − 1))·S̄ + (2kB² − a0₊²)/(4kη)",
                   "THEORY.md §2 Corollary 2",
                   sp.Le(sp.Sum(sp.Symbol("l_t"), (_t, 0, T - 1)), E.corollary2),
                   (0 < _Sp, _Sp <= S, S <= Sbar, Sbar <= E.U_STAR_CONSTANT * T), _cor2_obligation(), "nonneg",
                   _d_cor2, _sample_cor2, None, ("loss_le_g", "L1", "L2", "L3", "corollary2_constant")))
    return L


LEMMAS: list[Lemma] = _build()


def lemma(name: str) -> Lemma:
    """The lemma called `name`."""
    for lem in LEMMAS:
        if lem.name == name:
            return lem
    raise KeyError(name)


def false_variants() -> dict[str, Lemma]:
    """Deliberately false versions of three lemmas (a dropped factor, a flipped inequality,
    a constant past its true value); each must be caught by its falsifier and fail its proof."""
    from dataclasses import replace

    base = lemma("loss_le_g")
    drop2 = replace(base, name="loss_le_g[false: log 2 for 2 log 2]",
                    statement=sp.Le(E.loss(z), E.gfun(z) * (LOG2 + sp.Max(-z, 0))),
                    obligation=E.gfun(z) * (LOG2 + sp.Max(-z, 0)) - E.loss(z),
                    discharge=_false_loss_discharge)
    conc = lemma("psi_concave")
    convex = replace(conc, name="psi_concave[false: ψ convex]", statement=sp.Gt(sp.diff(E.psi(g), g, 2), 0),
                     obligation=sp.diff(E.psi(g), g, 2))
    C = sp.Rational(2179, 10000)
    cst = lemma("corollary2_constant")
    past = replace(cst, name="corollary2_constant[false: 0.2179]", hypotheses=(0 < u, u <= C),
                   discharge=lambda lem: _cover_only(lem, C), sample=lambda rng: _sample_cor2_constant(rng, C))
    return {v.name: v for v in (drop2, convex, past)}


def _false_loss_discharge(lem):
    # the same route as the true lemma: the branch z ≥ 0 in the g-parametrization
    steps: list[str] = []
    phi1 = LOG2 * g + sp.log(1 - g)
    ok = _cover_positive(phi1, g, 2.0 ** -10, 0.5, steps, "log2·g + log(1−g)")
    return ok, "interval cover", steps


def _cover_only(lem, C):
    steps: list[str] = []
    ok = _cover_positive(lem.obligation, u, 2.0 ** -20, float(C), steps, "log(1/u − 1) − 1/(1 − u)")
    return ok, "interval cover", steps
