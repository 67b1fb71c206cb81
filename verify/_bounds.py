"""Theorem 1's bounds, evaluated and certified (THEORY.md §2).

For SGD on the paper-form network (k neurons per sign, leak α, step η, T steps) on data
with margin γ along a unit w* and radius R, from θ₀ with `B = ‖θ₀‖`, `a0 = ⟨θ₀, Θ*⟩`:

    S_T = Σ_{t<T} g_t  ≤  S*,  the largest root in (0, T) of the convex
    F(S) = (a0 + cS)² − 2kB² − 4kη·S·log(T/S − 1) − 4k²αη²R²·S,   c = 2kαγη,

valid when S* ≤ T/2 (otherwise the bound is *vacuous* and reported as such, never as a
number). Corollary 1: at most `S*/(1 − e^{−ε})` steps have sampled loss above ε.
Corollary 2: `Σ ℓ_t ≤ (2log2 + kηR² + log(T/S* − 1))·S* + (2kB² − a0₊²)/(4kη)` when
`S* ≤ 0.2178·T`.

Every expression is the sympy one of `verify.symbolic`, lambdified onto python-flint arb
balls; `S*` is enclosed by bisection in which a step is taken only when the sign of `F` at
the midpoint is certified (F convex with F(0⁺) = a0² − 2kB² ≤ 0, so `F(S) > 0` means
`S > S*` and `F(S) < 0` means `S < S*`). The returned `S_star` is the upper end, a float
at which `F > 0` is certified.

Two corrections to THEORY.md §2 (derived in `verify.symbolic._expressions`): the
`S* ≤ T/2` proviso is needed for the Combine step (lemma `combine_root`), and the closed
form at `s0 = S0` can exceed `S*` by far more than 0.5% (the zero-initialization
Lambert-W form is reported beside it, and is tighter when `log T` dominates).
"""

from __future__ import annotations

import math
from fractions import Fraction

from ._errors import InputError

__all__ = ["convergence_bound", "largest_root", "validate_parameters"]

_PREC = 200


def _arb(x):
    import flint

    if isinstance(x, flint.arb):
        return x
    if isinstance(x, Fraction):
        return flint.arb(flint.fmpq(x.numerator, x.denominator))
    if isinstance(x, int):
        return flint.arb(x)
    return flint.arb(float(x))


def _finite(x) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError, OverflowError):
        return False


def validate_parameters(gamma, radius, alpha, width, lr, steps, init_norm=0.0, init_align=0.0, eps=None) -> None:
    """Raise `InputError` (one line) for parameters outside Theorem 1's hypotheses."""
    if not (_finite(gamma) and float(gamma) > 0):
        raise InputError(f"gamma (margin) must be finite and > 0, got {gamma}")
    if not (_finite(radius) and float(radius) > 0):
        raise InputError(f"radius R must be finite and > 0, got {radius}")
    if not (float(gamma) <= float(radius)):
        raise InputError(f"the margin gamma={gamma} cannot exceed the radius R={radius}")
    if not (_finite(alpha) and 0 < float(alpha) < 1):
        raise InputError(f"alpha must lie in (0, 1), got {alpha}")
    if not (isinstance(width, int) and width >= 1):
        raise InputError(f"width k must be an integer ≥ 1, got {width}")
    if not (_finite(lr) and float(lr) > 0):
        raise InputError(f"lr (step size η) must be finite and > 0, got {lr}")
    if not (isinstance(steps, int) and steps >= 1):
        raise InputError(f"steps T must be an integer ≥ 1, got {steps}")
    if not (_finite(init_norm) and float(init_norm) >= 0):
        raise InputError(f"init_norm B must be finite and ≥ 0, got {init_norm}")
    if not _finite(init_align):
        raise InputError(f"init_align a0 must be finite, got {init_align}")
    # Cauchy–Schwarz: |⟨θ₀, Θ*⟩| ≤ ‖θ₀‖·‖Θ*‖ = B·√(2k); checked exactly
    a = Fraction(init_align) if not isinstance(init_align, Fraction) else init_align
    b = Fraction(init_norm) if not isinstance(init_norm, Fraction) else init_norm
    if a * a > 2 * width * b * b:
        raise InputError(f"init_align a0={float(a):.6g} violates |a0| ≤ √(2k)·B = {math.sqrt(2 * width) * float(b):.6g}")
    if eps is not None and not (_finite(eps) and float(eps) > 0):
        raise InputError(f"eps must be finite and > 0, got {eps}")


def largest_root(params: tuple, steps: int, max_iter: int = 400) -> tuple[float, float] | None:
    """Certified enclosure `(lo, hi)` of the largest root S* of F in (0, T/2], or None
    when `F(T/2) > 0` cannot be certified (S* ≥ T/2: the bound is vacuous).

    Args:
        params: `(T, k, α, γ, η, R, B, a0)` as arb balls (any ball width: the sign tests
            hold for every value inside).
        steps: T as an int (sets the search interval).

    Returns:
        floats with `F(hi) > 0` certified and, unless lo = 0, `F(lo) < 0` certified.
    """
    import flint

    from .symbolic._numeric import F_arb

    old = flint.ctx.prec
    flint.ctx.prec = _PREC
    try:
        hi = steps / 2.0
        if not F_arb(flint.arb(hi), *params) > 0:
            return None
        lo = 0.0
        for _ in range(max_iter):
            mid = 0.5 * (lo + hi)
            # stop at 2⁻⁵⁰ relative width: far below the 1e-6 a certificate is judged at
            if not (lo < mid < hi) or hi - lo <= hi * 2.0**-50:
                break
            v = F_arb(flint.arb(mid), *params)
            if v > 0:
                hi = mid
            elif v < 0:
                lo = mid
            else:
                break  # the ball straddles 0: no finer certified statement
        return lo, hi
    finally:
        flint.ctx.prec = old


def _upper(x) -> float:
    """Smallest float ≥ every point of the arb ball x."""
    if not x.is_finite():
        return math.inf
    m, r = x.mid(), x.rad()
    q = _arf_q(m) + _arf_q(r)
    f = float(q)
    return f if Fraction(f) >= q else math.nextafter(f, math.inf)


def _arf_q(a) -> Fraction:
    man, exp = a.man_exp()
    man, exp = int(man), int(exp)
    return Fraction(man * (1 << exp)) if exp >= 0 else Fraction(man, 1 << (-exp))


def convergence_bound(gamma, radius, alpha, width, lr, steps, init_norm=0.0, init_align=0.0, eps=None) -> dict:
    """Theorem 1 and its corollaries at the given parameters.

    Args:
        gamma: margin γ > 0 of a unit w* (y_i⟨w*,x_i⟩ ≥ γ).
        radius: R ≥ max_i ‖x_i‖.
        alpha: leak α ∈ (0, 1).
        width: k, neurons per output sign (m = 2k).
        lr: step size η > 0.
        steps: T ≥ 1.
        init_norm: B = ‖θ₀‖.
        init_align: a0 = ⟨θ₀, Θ*⟩ (any sign; |a0| ≤ √(2k)·B).
        eps: loss level ε for Corollary 1 (optional).

    Returns:
        dict with `S_star` (certified upper bound on S_T, None when vacuous),
        `S_star_interval`, `vacuous`, `closed_form` (None when ≥ T/2), `closed_form_s0`,
        `zero_init`, `zero_init_closed_form` and `lambert_w` (zero initialization only),
        `eps_count` (Corollary 1, None without ε or when vacuous), `loss_bound`
        (Corollary 2, None unless S* ≤ 0.2178·T), `asymptotic` (log T/(kα²γ²η)), and the
        parameters.

    Raises:
        InputError: parameters outside the theorem's hypotheses.
    """
    import flint

    from .symbolic import _expressions as E
    from .symbolic._numeric import (closed_form_arb, closed_form_S0_arb, corollary1_arb, corollary2_arb,
                                    lambert_arb, zero_init_arb)

    if isinstance(width, float) and width.is_integer():
        width = int(width)
    if isinstance(steps, float) and steps.is_integer():
        steps = int(steps)
    validate_parameters(gamma, radius, alpha, width, lr, steps, init_norm, init_align, eps)
    old = flint.ctx.prec
    flint.ctx.prec = _PREC
    try:
        params = tuple(_arb(v) for v in (steps, width, alpha, gamma, lr, radius, init_norm, init_align))
        root = largest_root(params, steps)
        T = steps
        out: dict = {
            "parameters": {"gamma": float(gamma), "radius": float(radius), "alpha": float(alpha), "width": width,
                           "lr": float(lr), "steps": steps, "init_norm": float(init_norm),
                           "init_align": float(init_align), "eps": None if eps is None else float(eps)},
            "half_T": T / 2,
        }
        out["vacuous"] = root is None
        out["S_star"] = None if root is None else root[1]
        out["S_star_interval"] = None if root is None else list(root)
        s0 = closed_form_S0_arb(*params)
        cf = closed_form_arb(s0, *params) if s0 < T else None
        cf_up = _upper(cf) if cf is not None else math.inf
        out["closed_form_s0"] = _upper(s0)
        out["closed_form"] = cf_up if cf_up < T / 2 else None
        zero = float(init_norm) == 0.0 and float(init_align) == 0.0
        out["zero_init"] = zero
        if zero:
            zi = zero_init_arb(*params[:6])
            lw = lambert_arb(*params[:6])
            out["zero_init_closed_form"] = _upper(zi) if zi.is_finite() and _upper(zi) < T / 2 else None
            out["lambert_w"] = _upper(lw) if lw.is_finite() and _upper(lw) < T / 2 else None
        gk = _arb(gamma)
        out["asymptotic"] = _upper(_arb(T).log() / (_arb(width) * _arb(alpha) ** 2 * gk**2 * _arb(lr)))
        out["eps_count"] = None
        out["eps_count_real"] = None
        if eps is not None and root is not None:
            cnt = corollary1_arb(flint.arb(root[1]), _arb(eps))
            out["eps_count_real"] = _upper(cnt)
            out["eps_count"] = int(math.floor(out["eps_count_real"]))
        out["loss_bound"] = None
        cst = E.U_STAR_CONSTANT
        if root is not None and Fraction(root[1]) <= Fraction(cst.p, cst.q) * T:
            out["loss_bound"] = _upper(corollary2_arb(flint.arb(root[1]), *params))
        return out
    finally:
        flint.ctx.prec = old
