"""Checker for `non-separability` certificates: no `w` has `y_i⟨w,x_i⟩ > 0` for all i (THEORY.md §5).

Gordan's alternative: exactly one of (a) some `w` with `y_i⟨w,x_i⟩ > 0` for all i, and
(b) some `λ ≥ 0`, `Σλ = 1`, `Σ_i λ_i y_i x_i = 0` holds. The witness is (b) — sparse
indices and exact rationals — and the checker verifies all three conditions exactly over
the certificate's data (with the constant coordinate 1 appended when `bias` is true, which
adds the condition `Σ_i λ_i y_i = 0`: the two classes' convex hulls meet).

Then the homogeneous max-margin value is `γ* = 0` exactly: `γ* ≥ 0` because `w = 0` is
feasible, and `γ* ≤ ‖Σλ_i y_i x_i‖ = 0`. The claim is `margin_upper <= 0`; since the
value is zero, "strengthening" it means any negative number, which the enclosure `[0, 0]`
rejects.
"""

from __future__ import annotations

from .._core import Enclosure
from .._exact import Reject
from .separability import combination, load_points, sparse_weights


def derive(cert: dict, ctx) -> dict:
    X, y, _ = load_points(cert, ctx)
    witness = cert.get("witness")
    if not isinstance(witness, dict):
        raise Reject("witness must be an object")
    idx, vals = sparse_weights(witness, "lambda", X.shape[0])
    z = combination(X, y, idx, vals)
    nonzero = [j for j, v in enumerate(z) if v != 0]
    if nonzero:
        j = nonzero[0]
        raise Reject(f"Σλ_i y_i x_i ≠ 0: coordinate {j} is {float(z[j]):.6g} ({len(nonzero)} nonzero coordinate(s))")
    return {"margin_upper": Enclosure.exact(0)}
