"""The sympy expressions of THEORY.md §0–2: activation, loss, Theorem 1's bound and its corollaries.

Every numeric bound in `verify` is evaluated from these expressions (lambdified onto
numpy, mpmath or python-flint arb); no formula is re-typed elsewhere. The only sanctioned
duplicate is the independent checker (`verify.check.kinds.convergence`).

Symbols (all positive unless noted): leak `alpha`, margin `gamma`, radius `R`, step
`eta`, neurons per sign `k` (m = 2k), steps `T`, cumulative gradient weight `S`,
initial norm `B` (≥ 0), initial alignment `a0` (real, any sign), loss level `eps`, the
split point `s0` of the closed form, `Sbar` for Corollary 2.

Corrections to THEORY.md §2 found by derivation (see also `verify.symbolic._lemmas`):

* **Combine.** `F` uses `4k²αη²R²·S` for the second-order term. The honest chain gives
  `η²R²·S'_T` with `S'_T ∈ [mα S_T, m S_T]`, and substituting `S'_T ≥ mα S_T` there
  goes the wrong way. The exact consequence of L1, L2, L3 and Cauchy–Schwarz is
  `F_true(S) = min_{A ∈ [a0+cS, a0+cS/α]} (A² − κ(A − a0)) − 2kB² − 4kη·S·log(T/S−1) ≤ 0`
  with `κ = 2kηR²/γ`; `F_true = F` wherever `a0 + cS ≥ κ/2`. At the largest root `S*`
  of `F` with `S* ≤ T/2` one has `a0 + cS* ≥ κ/2` (lemma `combine_root`, from
  `a0² ≤ 2kB²`), so `F` and `F_true` have the same largest root there and the stated
  bound `S_T ≤ S*` is right — but only with the `S* ≤ T/2` proviso, which is therefore
  not optional.
* **Closed form.** It is an upper bound of `S*` for every `s0 ∈ (0, T)` (lemma
  `closed_form`). With `s0 = S0` it is *not* within 0.5% of `S*` in general: it replaces
  `log(T/S* − 1)` by `log(T/S0 − 1)`, an overestimate by `log(S*/S0)`, so when the
  `log T/(kα²γ²η)` term dominates it can exceed `S*` by tens of percent (measured in the
  notebook). The zero-initialization Lambert-W form `a·W(T e^{b/a}/a)`, the exact root
  of `S = a·log(T/S) + b` (a = 1/(kα²γ²η), b = R²/(αγ²)), is a tighter closed-form upper
  bound there.
* **Corollary 2.** The constant 0.2178 is right (rounded down): `S·log(T/S − 1)` is
  increasing exactly on `(0, u*T]` with `u* = 0.21781170…` the root of
  `log(1/u − 1) = 1/(1 − u)` (lemma `corollary2_constant`).
"""

from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import expm1

__all__ = ["SYMBOLS", "sigma", "dsigma", "loss", "gfun", "psi", "h", "F", "F_true_terms", "c", "kappa",
           "closed_form", "closed_form_S0", "zero_init_closed_form", "lambert_zero_init", "corollary1",
           "corollary2", "U_STAR_CONSTANT"]

z = sp.Symbol("z", real=True)
alpha = sp.Symbol("alpha", positive=True)
gamma = sp.Symbol("gamma", positive=True)
R = sp.Symbol("R", positive=True)
eta = sp.Symbol("eta", positive=True)
k = sp.Symbol("k", positive=True)
T = sp.Symbol("T", positive=True)
S = sp.Symbol("S", positive=True)
B = sp.Symbol("B", nonnegative=True)
a0 = sp.Symbol("a0", real=True)
eps = sp.Symbol("epsilon", positive=True)
s0 = sp.Symbol("s0", positive=True)
Sbar = sp.Symbol("Sbar", positive=True)
g = sp.Symbol("g", positive=True)
u = sp.Symbol("u", positive=True)

SYMBOLS = {s.name: s for s in (z, alpha, gamma, R, eta, k, T, S, B, a0, eps, s0, Sbar, g, u)}

#: Corollary 2's constant: S·log(T/S − 1) increases on (0, U_STAR_CONSTANT·T].
U_STAR_CONSTANT = sp.Rational(2178, 10000)


def sigma(x):
    """Leaky ReLU `max(αx, x)`."""
    return sp.Piecewise((x, x > 0), (alpha * x, True))


def dsigma(x):
    """Its slope with the convention σ'(0) = α."""
    return sp.Piecewise((1, x > 0), (alpha, True))


def loss(x):
    """Logistic loss `ℓ(z) = log(1 + e^{−z})`."""
    return sp.log(1 + sp.exp(-x))


def gfun(x):
    """`g(z) = −ℓ'(z) = 1/(1 + e^{z})`."""
    return 1 / (1 + sp.exp(x))


def psi(x):
    """`ψ(g) = g·log(1/g − 1)`, so that `g(z)·z = ψ(g(z))`."""
    return x * sp.log(1 / x - 1)


def h(x):
    """`h(S) = T·ψ(S/T) = S·log(T/S − 1)`, the Jensen bound of L3."""
    return x * sp.log(T / x - 1)


#: c = 2kαγη: the alignment gained per unit of S (L1 with S' ≥ mαS, m = 2k).
c = 2 * k * alpha * gamma * eta
#: κ = 2kηR²/γ: the scale at which the second-order term of L2 matters.
kappa = 2 * k * eta * R**2 / gamma

#: THEORY.md §2's convex function; S_T lies below its largest root S* when S* ≤ T/2.
F = (a0 + c * S)**2 - 2 * k * B**2 - 4 * k * eta * h(S) - 4 * k**2 * alpha * eta**2 * R**2 * S


def F_true_terms(A):
    """The exact consequence of L1–L3 at alignment level A: `A² − κ(A − a0) − 2kB² − 4kη h(S)`."""
    return A**2 - kappa * (A - a0) - 2 * k * B**2 - 4 * k * eta * h(S)


def _pq(L):
    p = L / (k * alpha**2 * gamma**2 * eta) + R**2 / (alpha * gamma**2) - a0 / (k * alpha * gamma * eta)
    q = (2 * k * B**2 - a0**2) / (4 * k**2 * alpha**2 * gamma**2 * eta**2)
    return p, q


def _root(L):
    p, q = _pq(L)
    return p / 2 + sp.sqrt(p**2 / 4 + q)


#: Closed form, valid for every s0 ∈ (0, T): S* ≤ max(s0, p/2 + √(p²/4 + q)).
closed_form = sp.Max(s0, _root(sp.log(T / s0 - 1)))
#: S0: the closed form's root with log(…) = 0, the practical split point.
closed_form_S0 = _root(sp.Integer(0))
#: THEORY.md's zero-initialization closed form (s0 = S0 = R²/(αγ²)).
zero_init_closed_form = sp.log(T * alpha * gamma**2 / R**2 - 1) / (k * alpha**2 * gamma**2 * eta) + R**2 / (alpha * gamma**2)

_a = 1 / (k * alpha**2 * gamma**2 * eta)
_b = R**2 / (alpha * gamma**2)
#: Zero initialization, Lambert-W form: the root of S = a·log(T/S) + b, an upper bound of S*.
lambert_zero_init = _a * sp.LambertW(T / _a * sp.exp(_b / _a))

#: Corollary 1: at most S/(1 − e^{−ε}) steps have sampled loss > ε.
corollary1 = S / (-expm1(-eps))

#: Corollary 2: Σ_{t<T} ℓ_t ≤ this, for any Sbar ≥ S_T with Sbar ≤ 0.2178·T.
corollary2 = ((2 * sp.log(2) + k * eta * R**2 + sp.log(T / Sbar - 1)) * Sbar
              + (2 * k * B**2 - sp.Max(a0, 0)**2) / (4 * k * eta))
