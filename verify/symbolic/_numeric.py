"""Numeric versions of the sympy bounds: lambdified onto python-flint `arb` balls.

Each function takes its arguments as arb balls (or numbers arb accepts) and returns a ball
that contains the exact value of the sympy expression it was generated from, so the rest
of the package can certify with them. Nothing here re-types a formula.
"""

from __future__ import annotations

from . import _expressions as E
from ._lemma import lambdify_arb

__all__ = ["F_arb", "closed_form_arb", "closed_form_S0_arb", "zero_init_arb", "lambert_arb", "corollary1_arb",
           "corollary2_arb", "PARAMS"]

#: argument order of the Theorem-1 functions
PARAMS = (E.T, E.k, E.alpha, E.gamma, E.eta, E.R, E.B, E.a0)

F_arb = lambdify_arb((E.S,) + PARAMS, E.F)
closed_form_arb = lambdify_arb((E.s0,) + PARAMS, E.closed_form)
closed_form_S0_arb = lambdify_arb(PARAMS, E.closed_form_S0)
zero_init_arb = lambdify_arb((E.T, E.k, E.alpha, E.gamma, E.eta, E.R), E.zero_init_closed_form)
lambert_arb = lambdify_arb((E.T, E.k, E.alpha, E.gamma, E.eta, E.R), E.lambert_zero_init)
corollary1_arb = lambdify_arb((E.S, E.eps), E.corollary1)
corollary2_arb = lambdify_arb((E.Sbar,) + PARAMS, E.corollary2)
