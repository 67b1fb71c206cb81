"""Lemma objects: a hypothesis, a statement, a proof obligation and how it is discharged.

In the spirit of cvxpy's atoms, each lemma of THEORY.md §1–2 is one object that declares its
own facts — the symbols and their hypotheses, the statement as a sympy relation, the
*obligation* (an expression that must be `≥ 0`, or `== 0` for an identity, whenever the
hypotheses hold) and a *discharge* procedure that proves it. The route the proof took is
part of the result:

* ``proved (sympy)`` — every step is an exact symbolic computation (simplification to 0,
  a case split on the sign of z, a factorization into factors of known sign after the
  substitution `x = lo + (hi − lo)·t/(1+t)`, `t > 0`, which maps the open interval onto
  the positive reals);
* ``proved (interval cover)`` — at least one step is a rigorous sweep with python-flint
  `arb` balls over a finite covering of the domain (bisection until every box is
  certified), with the points where the obligation is exactly 0 handled by an exact
  value there plus a certified derivative sign next to them.

Independently of the proof, a *falsifier* samples points that satisfy the hypotheses (from
a seeded generator) and evaluates the obligation in 50-digit mpmath arithmetic; a single
negative value is a counterexample. A deliberately false variant of a lemma is caught by
its falsifier and its discharge fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import sympy as sp

__all__ = ["Lemma", "ProofResult", "interval_cover", "positive_on", "sign_substitution", "ROUTES"]

ROUTES = ("proved (sympy)", "proved (interval cover)", "not proved")


@dataclass
class ProofResult:
    """How a lemma's obligation was discharged."""

    name: str
    route: str
    proved: bool
    steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"name": self.name, "route": self.route, "proved": self.proved, "steps": list(self.steps)}


@dataclass
class Lemma:
    """One lemma or bound of THEORY.md, with its proof and its falsifier.

    Attributes:
        name: short identifier (`"L2"`, `"loss_le_g"`).
        title: one line in words.
        section: where THEORY.md states it.
        statement: the claim as a sympy relation (for printing and LaTeX).
        hypotheses: sympy relations the variables satisfy.
        obligation: sympy expression that must be `≥ 0` (kind `"nonneg"`) or `== 0`
            (kind `"identity"`) under the hypotheses.
        kind: `"nonneg"` or `"identity"`.
        discharge: the proof procedure; returns `(proved, route, steps)` where route is
            `"sympy"` or `"interval cover"`.
        sample: draws one point satisfying the hypotheses, as a dict of floats (or, for
            statements about sequences, whatever `evaluate` takes).
        evaluate: value of the obligation at a sampled point (mpmath, 50 digits); the
            default lambdifies `obligation`.
        depends: names of the lemmas the proof uses.
    """

    name: str
    title: str
    section: str
    statement: sp.Basic
    hypotheses: tuple
    obligation: sp.Expr
    kind: str
    discharge: Callable[["Lemma"], tuple[bool, str, list[str]]]
    sample: Callable[[np.random.Generator], dict]
    evaluate: Callable[[dict], float] | None = None
    depends: tuple[str, ...] = ()

    def prove(self) -> ProofResult:
        """Run the discharge procedure; the route says which kind of proof succeeded."""
        try:
            ok, route, steps = self.discharge(self)
        except (ValueError, TypeError, ZeroDivisionError, RecursionError) as exc:
            ok, route, steps = False, "sympy", [f"proof procedure failed: {type(exc).__name__}: {exc}"]
        label = f"proved ({route})" if ok else "not proved"
        return ProofResult(self.name, label, ok, steps)

    def _evaluator(self) -> Callable[[dict], float]:
        if self.evaluate is not None:
            return self.evaluate
        syms = sorted(self.obligation.free_symbols, key=lambda s: s.name)
        f = sp.lambdify(syms, self.obligation, modules="mpmath")

        def ev(point: dict) -> float:
            import mpmath

            with mpmath.workdps(50):
                return f(*[mpmath.mpf(point[s.name]) for s in syms])

        return ev

    def falsify(self, seed: int = 0, trials: int = 400) -> dict | None:
        """Search for a counterexample: a sampled point where the obligation is negative
        (`nonneg`) or nonzero beyond 1e-30 relative (`identity`). Returns it or None."""
        rng = np.random.default_rng(seed)
        ev = self._evaluator()
        for _ in range(trials):
            point = self.sample(rng)
            v = ev(point)
            if self.kind == "nonneg":
                # 1e-40 absorbs the 50-digit evaluation error only
                bad = not (v >= -1e-40)
            else:
                bad = not (abs(v) <= 1e-30)
            if bad:
                return {"point": {k: (float(x) if np.isscalar(x) else np.asarray(x, dtype=float).tolist())
                                  for k, x in point.items()}, "value": float(v)}
        return None

    def latex(self) -> str:
        """The statement in LaTeX."""
        return sp.latex(self.statement)

    def describe(self) -> dict:
        return {"name": self.name, "title": self.title, "section": self.section,
                "statement": sp.sstr(self.statement), "hypotheses": [sp.sstr(h) for h in self.hypotheses],
                "obligation": sp.sstr(self.obligation), "kind": self.kind, "depends": list(self.depends)}


# --- sympy helpers -------------------------------------------------------------------

def sign_substitution(expr: sp.Expr, bounds: dict) -> sp.Expr:
    """Substitute each variable bounded in an open interval by a positive parameter.

    `x ∈ (lo, hi)` becomes `x = lo + (hi − lo)·t/(1+t)` (`hi = oo`: `x = lo + t`), with `t`
    a positive symbol; the image of `t > 0` is exactly the open interval, so a sign proved
    for every `t > 0` is a sign on the whole interval.
    """
    subs = {}
    for var, (lo, hi) in bounds.items():
        t = sp.Symbol(f"t_{var.name}", positive=True)
        subs[var] = lo + t if hi is sp.oo else lo + (hi - lo) * t / (1 + t)
    return expr.subs(subs)


def positive_on(expr: sp.Expr, bounds: dict, strict: bool = False) -> bool:
    """True when sympy proves `expr ≥ 0` (`> 0` if strict) on the open box `bounds`."""
    e = sp.factor(sp.together(sp.simplify(sign_substitution(expr, bounds))))
    return bool(e.is_positive) if strict else bool(e.is_nonnegative)


# --- interval cover ------------------------------------------------------------------

def _ball(lo: float, hi: float):
    import flint

    lo_a, hi_a = flint.arb(lo), flint.arb(hi)
    return (lo_a + hi_a) / 2 + flint.arb(0, (hi_a - lo_a) / 2 if hi > lo else 0)


def interval_cover(f: Callable, lo: float, hi: float, *, max_boxes: int = 20000,
                   prec: int = 120) -> tuple[bool, int]:
    """Prove `f(x) > 0` for every x in the closed interval `[lo, hi]` by bisection.

    `f` maps an arb ball to an arb ball containing the image; a box is certified when the
    ball's lower end is > 0. A box that is not certified is split in two, up to
    `max_boxes` boxes in all.

    Returns:
        (proved, number of boxes used).
    """
    import flint

    old = flint.ctx.prec
    flint.ctx.prec = prec
    try:
        stack = [(float(lo), float(hi))]
        used = 0
        while stack:
            a, b = stack.pop()
            used += 1
            if used > max_boxes:
                return False, used
            v = f(_ball(a, b))
            if v.is_finite() and v > 0:
                continue
            m = 0.5 * (a + b)
            if not (a < m < b):
                return False, used
            stack.append((a, m))
            stack.append((m, b))
        return True, used
    finally:
        flint.ctx.prec = old


def arb_functions() -> dict:
    """A lambdify module mapping sympy functions onto python-flint arb (rigorous balls)."""
    import flint

    def _a(x):
        return x if isinstance(x, flint.arb) else flint.arb(x)

    def _max(*xs):
        out = _a(xs[0])
        for x in xs[1:]:
            out = out.max(_a(x))
        return out

    return {
        "log": lambda x: _a(x).log(),
        "exp": lambda x: _a(x).exp(),
        "sqrt": lambda x: _a(x).sqrt(),
        "expm1": lambda x: _a(x).expm1(),
        "log1p": lambda x: _a(x).log1p(),
        "LambertW": lambda x: _a(x).lambertw(),
        "Max": _max,
        "Abs": lambda x: abs(_a(x)),
        "pi": flint.arb.pi(),
        "E": flint.arb(1).exp(),
    }


def lambdify_arb(args, expr: sp.Expr) -> Callable:
    """`sympy.lambdify` onto arb balls (python-flint); the expression is not re-typed."""
    return sp.lambdify(args, expr, modules=[arb_functions()])

