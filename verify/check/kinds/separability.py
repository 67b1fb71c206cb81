"""Checker for `separability` certificates: `γ* ∈ [lower, upper]` (THEORY.md §5).

For data `(x_i, y_i)` (with a constant coordinate 1 appended when the parameter `bias` is
true) the homogeneous max-margin value is

    γ* = max_{‖w‖≤1} min_i y_i⟨w,x_i⟩ = min_{λ∈Δ_n} ‖Σ_i λ_i y_i x_i‖.

* A primal witness `w ≠ 0` (exact rationals) with `m = min_i y_i⟨w,x_i⟩ > 0` proves
  `γ* ≥ m/‖w‖`. `m` is computed exactly over *all* n points; `‖w‖` is bounded above by an
  integer square root (`sqrt_bounds`), so the lower bound is a rational below the truth.
* A dual witness `λ` (sparse: indices and exact rationals, `λ ≥ 0`, `Σλ = 1` exactly)
  proves `γ* ≤ ‖Σλ_i y_i x_i‖`, bounded above the same way.

Both claims (`margin_lower` with `>=`, `margin_upper` with `<=`) are compared with the one
enclosure `[m/‖w‖, ‖Σλ y x‖]` of γ*, so whatever relation a claim states, it is judged
against a range known to contain γ*.

Speed without floating point: `min_i y_i⟨w,x_i⟩` over 10⁵ × 100 entries would take a minute
in `Fraction`s. The data and `w` are first truncated to integers of at most ~30 bits on a
power-of-two grid; their int64 dot products are exact, and the truncation error is bounded
by an integer `E` for every row alike. Only rows whose screened value is within `2E` of
the screened minimum can attain the minimum; those are recomputed exactly in Python
integers. Every step is integer arithmetic, so the screen is a proof, not an estimate.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from .._core import Enclosure
from .._exact import Q, Reject, norm2, sqrt_bounds

CLAIMS = ("margin_lower", "margin_upper")


def load_points(cert: dict, ctx) -> tuple[np.ndarray, np.ndarray, bool]:
    """The certificate's data `X` (bias column appended if the parameter says so) and `y`."""
    params = cert.get("parameters")
    if not isinstance(params, dict) or not isinstance(params.get("bias"), bool):
        raise Reject("parameters.bias must be true or false")
    raw = ctx.arrays("data")
    for key in ("X", "y"):
        a = raw.get(key)
        # the claims are about the file's numbers: refuse any that float64 would round
        if a is not None and a.dtype.kind in "iuf" and a.size and (
                (a.dtype.kind == "f" and a.dtype.itemsize > 8)
                or (a.dtype.kind in "iu" and not np.array_equal(a.astype(np.float64).astype(a.dtype), a))):
            raise Reject(f"data {key} has entries ({a.dtype}) that float64 cannot represent exactly")
    X = ctx.array("data", "X")
    y = ctx.array("data", "y")
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise Reject(f"data X must be a non-empty n×d array, got shape {X.shape}")
    if y.shape != (X.shape[0],):
        raise Reject(f"data y must have shape ({X.shape[0]},), got {y.shape}")
    if not np.all((y == 1.0) | (y == -1.0)):
        raise Reject("data labels must be exactly -1 or +1")
    if params["bias"]:
        X = np.hstack([X, np.ones((X.shape[0], 1))])
    return X, y, params["bias"]


def sparse_weights(witness: dict, key: str, n: int) -> tuple[list[int], list[Fraction]]:
    """Validate `witness[key] = {"index": [...], "value": ["p/q", ...]}`: distinct indices
    in range, exact values `≥ 0` summing to exactly 1."""
    lam = witness.get(key)
    if not isinstance(lam, dict) or not isinstance(lam.get("index"), list) or not isinstance(lam.get("value"), list):
        raise Reject(f"witness.{key} must be {{'index': [...], 'value': [...]}}")
    idx, val = lam["index"], lam["value"]
    if not idx or len(idx) != len(val):
        raise Reject(f"witness.{key}: index and value must be non-empty lists of equal length")
    if not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n for i in idx):
        raise Reject(f"witness.{key}: indices must be integers in [0, {n})")
    if len(set(idx)) != len(idx):
        raise Reject(f"witness.{key}: indices must be distinct")
    vals = [Q(v) for v in val]
    if not all(v >= 0 for v in vals):
        raise Reject(f"witness.{key}: weights must be ≥ 0")
    total = sum(vals, Fraction(0))
    if total != 1:
        raise Reject(f"witness.{key}: weights sum to {float(total):.17g}, not exactly 1")
    return idx, vals


def combination(X: np.ndarray, y: np.ndarray, idx: list[int], vals: list[Fraction]) -> list[Fraction]:
    """`Σ_k vals_k y_{idx_k} x_{idx_k}` exactly (Python integers over a common denominator)."""
    d = X.shape[1]
    den = 1
    for v in vals:
        den = den * v.denominator // math.gcd(den, v.denominator)
    coef = [(v.numerator * (den // v.denominator)) * (1 if y[i] > 0 else -1) for i, v in zip(idx, vals)]
    z = []
    for j in range(d):
        terms, top = [], 0
        for i, c in zip(idx, coef):
            xj = float(X[i, j])
            if c and xj != 0.0:
                p, q = xj.as_integer_ratio()  # q is a power of two
                e = q.bit_length() - 1
                terms.append((c * p, e))
                top = max(top, e)
        z.append(Fraction(sum(t << (top - e) for t, e in terms), den << top))
    return z


def _floor_log2(q: Fraction) -> int:
    """`e` with `2^e ≤ q < 2^(e+1)` for a rational q > 0 (exact)."""
    e = q.numerator.bit_length() - q.denominator.bit_length()
    if Fraction(2) ** e > q:
        e -= 1
    elif Fraction(2) ** (e + 1) <= q:
        e += 1
    return e


def _exact_row(row: np.ndarray, yi: float, wn: list[int], wden: int) -> Fraction:
    """`y_i⟨w, x_i⟩` exactly; `w = wn / wden` with integer numerators."""
    num, den_exp = 0, 0
    terms = []
    for xj, a in zip(row.tolist(), wn):
        if a == 0 or xj == 0.0:
            continue
        p, q = float(xj).as_integer_ratio()  # q is a power of two
        e = q.bit_length() - 1
        terms.append((p * a, e))
        den_exp = max(den_exp, e)
    for t, e in terms:
        num += t << (den_exp - e)
    value = Fraction(num, wden << den_exp) if terms else Fraction(0)
    return value if yi > 0 else -value


def min_signed_dot(X: np.ndarray, y: np.ndarray, w: list[Fraction]) -> tuple[Fraction, int]:
    """`min_i y_i⟨w, x_i⟩` exactly, and one index attaining it.

    Integer screen (see the module docstring), then exact Python-integer arithmetic on the
    rows that could attain the minimum.
    """
    n, d = X.shape
    wden = 1
    for v in w:
        wden = wden * v.denominator // math.gcd(wden, v.denominator)
    wn = [int(v * wden) for v in w]
    candidates = np.arange(n)
    bits = (62 - d.bit_length()) // 2  # d·2^(2·bits) < 2^62: int64 sums cannot overflow
    xmax = float(np.max(np.abs(X)))
    wmax = max(abs(v) for v in w)
    if bits >= 8 and xmax > 0.0 and wmax > 0:
        # |x|·2^kx < 2^(bits−1) and |w|·2^kw < 2^(bits−1)
        kx = (bits - 1) - math.frexp(xmax)[1]
        kw = (bits - 1) - (_floor_log2(wmax) + 1)
        # ldexp is exact unless it underflows; a floor off by one from that is covered by
        # the slack 2 per entry in E below
        Xi = np.floor(np.ldexp(X, kx)).astype(np.int64)
        if np.max(np.abs(Xi)) > (1 << (bits - 1)):
            raise Reject("internal: screen scaling out of range")
        scale = Fraction(2) ** kw
        Wi = [math.floor(v * scale) for v in w]
        # |x·2^kx − Xi| ≤ 2, |w·2^kw − Wi| < 1, |x·2^kx| < 2^(bits−1), |Wi| ≤ 2^(bits−1)
        E = 2 * sum(abs(a) for a in Wi) + d * (1 << (bits - 1))
        T = (Xi @ np.asarray(Wi, dtype=np.int64)) * y.astype(np.int64)
        # true value·2^(kx+kw) ∈ [T − E, T + E]; row i can be the minimum only if T_i − E ≤ min T + E
        candidates = np.flatnonzero(T <= int(T.min()) + 2 * E)
    best, arg = None, -1
    for i in candidates.tolist():
        v = _exact_row(X[i], float(y[i]), wn, wden)
        if best is None or v < best:
            best, arg = v, i
    return best, arg


def derive(cert: dict, ctx) -> dict:
    X, y, _ = load_points(cert, ctx)
    n, d = X.shape
    witness = cert.get("witness")
    if not isinstance(witness, dict):
        raise Reject("witness must be an object")
    w_raw = witness.get("w")
    if not isinstance(w_raw, list) or len(w_raw) != d:
        raise Reject(f"witness.w must be a list of {d} numbers (the data has d = {d}"
                     f"{' with the bias column' if cert['parameters']['bias'] else ''})")
    w = [Q(v) for v in w_raw]
    nw2 = norm2(w)
    if nw2 == 0:
        raise Reject("witness.w is the zero vector")
    m, arg = min_signed_dot(X, y, w)
    if not m > 0:
        raise Reject(f"witness.w does not separate the data: y_i⟨w,x_i⟩ = {float(m):.6g} ≤ 0 at point {arg}")
    lower = m / sqrt_bounds(nw2)[1]
    idx, vals = sparse_weights(witness, "lambda", n)
    upper = sqrt_bounds(norm2(combination(X, y, idx, vals)))[1]
    if not lower <= upper:
        # weak duality makes this impossible; reaching it means the arithmetic is broken
        raise Reject("primal bound exceeds dual bound")
    enc = Enclosure(lower, upper)
    return {name: enc for name in CLAIMS}
