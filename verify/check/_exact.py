"""Exact and rigorous arithmetic for the checker: rationals, integer square roots, arb balls.

Every number that enters a decision is either an exact `Fraction` (a float64 is one) or a
python-flint `arb` ball that is known to contain the true value. A comparison accepts only
when it holds for the whole ball; NaN or inf anywhere is a rejection.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Iterable

import numpy as np


class Reject(Exception):
    """Raised while re-deriving a claim: the certificate cannot be accepted (reason in args)."""


def Q(x) -> Fraction:
    """Exact rational of a float, int, `"p/q"` string or Fraction; NaN/inf → `Reject`."""
    if isinstance(x, Fraction):
        return x
    if isinstance(x, bool):
        raise Reject(f"expected a number, got {x!r}")
    if isinstance(x, (int, np.integer)):
        return Fraction(int(x))
    if isinstance(x, (float, np.floating)):
        if not math.isfinite(float(x)):
            raise Reject(f"non-finite number {x!r}")
        return Fraction(float(x))
    if isinstance(x, str):
        try:
            if "/" in x:
                p, q = x.split("/")
                if int(q) == 0:
                    raise Reject(f"zero denominator in {x!r}")
                return Fraction(int(p), int(q))
            return Fraction(x)
        except (ValueError, ZeroDivisionError):
            raise Reject(f"not an exact number: {x!r}") from None
    raise Reject(f"expected a number, got {type(x).__name__}")


def Q_vec(a) -> list[Fraction]:
    """Exact rationals of a 1-D array or list (floats taken at their exact binary value)."""
    if isinstance(a, np.ndarray):
        a = a.astype(np.float64, copy=False).ravel()
        if not np.all(np.isfinite(a)):
            raise Reject("non-finite entry in an array")
        return [Fraction(float(v)) for v in a]
    return [Q(v) for v in a]


def Q_mat(a) -> list[list[Fraction]]:
    a = np.asarray(a, dtype=np.float64) if not isinstance(a, list) else a
    return [Q_vec(row) for row in a]


def dot(u: Iterable[Fraction], v: Iterable[Fraction]) -> Fraction:
    return sum((a * b for a, b in zip(u, v, strict=True)), Fraction(0))


def norm2(u: Iterable[Fraction]) -> Fraction:
    return sum((a * a for a in u), Fraction(0))


def sqrt_bounds(q: Fraction, bits: int = 160) -> tuple[Fraction, Fraction]:
    """Rationals `lo ≤ √q ≤ hi` with `hi − lo ≤ 2^{−bits}·max(1, √q)`-ish, by integer isqrt."""
    if q < 0:
        raise Reject("square root of a negative number")
    if q == 0:
        return Fraction(0), Fraction(0)
    scale = 1 << (2 * bits)
    # √(p/r) = √(p·r)/r ; bracket √(p·r·scale) between integers
    n = q.numerator * q.denominator * scale
    s = math.isqrt(n)
    lo = Fraction(s, q.denominator * (1 << bits))
    hi = lo if s * s == n else Fraction(s + 1, q.denominator * (1 << bits))
    return lo, hi


def arb(q):
    """An arb ball containing the rational q exactly (python-flint)."""
    import flint

    q = Q(q)
    return flint.arb(flint.fmpq(q.numerator, q.denominator))


def arb_upper(x) -> Fraction:
    """A rational ≥ every point of the arb ball x (rejects non-finite balls)."""
    if not x.is_finite():
        raise Reject("interval computation lost all precision (non-finite ball)")
    mid, rad = x.mid(), x.rad()
    return _arf_to_q(mid) + _arf_to_q(rad)


def arb_lower(x) -> Fraction:
    """A rational ≤ every point of the arb ball x (rejects non-finite balls)."""
    if not x.is_finite():
        raise Reject("interval computation lost all precision (non-finite ball)")
    mid, rad = x.mid(), x.rad()
    return _arf_to_q(mid) - _arf_to_q(rad)


def _arf_to_q(a) -> Fraction:
    # arf mid/rad are exact dyadic numbers; man_exp gives them exactly
    m, e = a.man_exp()
    m, e = int(m), int(e)
    return Fraction(m * (1 << e)) if e >= 0 else Fraction(m, 1 << (-e))
