"""Checker for `linearity` certificates (Theorem 2, THEORY.md §3), in exact integers and arb balls.

Inputs: `network` (a paper-form or run `.npz`: `W_pos`, `W_neg`, `alpha`, optional
`input_bias`) and any number of point sets (`.npz` with `X`), e.g. `train`, `test`.
Every float is an exact dyadic rational, so weights and points are scaled to Python integers
(`A·2^E`) and all pre-activations `⟨w_j,x⟩` are computed exactly.

Claims re-derived:

* `direction_error ≤ e`: `‖v̂ − (W−U)/‖W−U‖‖` for the witness `v̂`, `W = Σw_j`, `U = Σu_j`.
* `band_beta ≤ β`: `(1−α)/α · max(D_w, D_u)/‖W − U‖` with each `D` the smallest of the valid
  spreads `Σ‖δ_j‖` (`δ_j = w_j − W/k`), `Σ‖e_j‖` (`e_j = w_j − (⟨w_j,W⟩/‖W‖²)W`, valid when
  every `⟨w_j,W⟩ ≥ 0`), and `√(k·λ̂)` where the witness `λ̂` is proved `≥ λ_max` of the Gram
  matrix of the δ's or e's by an exact LDLᵀ of `λ̂I − G` (positive semidefinite).
* `band_probability ≤ p`: `I_{β²}(1/2, (d−1)/2)` at the upper bound of β, with `arb`
  (no input bias, d ≥ 2; β ≥ 1 gives 1).
* `certified_fraction_<set> ≥ f`: the fraction of points with `Lin − cap_u > 0` or
  `Lin + cap_w < 0`, `cap` the smaller of the δ-cap `(1−α)Σ(|⟨δ_j,x⟩| − |⟨W,x⟩|/k)₊` and
  (when valid) the e-cap `(1−α)Σ(|⟨e_j,x⟩| − (⟨w_j,W⟩/‖W‖²)|⟨W,x⟩|)₊`.
* `agreement_fraction_<set> ≥ f`: the fraction with `sign N(x) = sign⟨W − U, x⟩ ≠ 0`.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from .._core import Enclosure, Verdict
from .._exact import Q, Reject, arb, arb_upper, sqrt_bounds


def _ints(A: np.ndarray) -> tuple[np.ndarray, int]:
    """Exact integers `A·2^E` (object array) and `E`."""
    A = np.asarray(A, dtype=np.float64)
    if not np.all(np.isfinite(A)):
        raise Reject("non-finite entry")
    m, e = np.frexp(A)
    mant = (m * 2.0 ** 53).astype(np.int64)
    ex = e.astype(np.int64) - 53
    nz = mant != 0
    E = int(max(0, -int(ex[nz].min()))) if np.any(nz) else 0
    out = np.empty(A.size, dtype=object)
    out[:] = [int(a) << int(b + E) if a else 0 for a, b in zip(mant.ravel().tolist(), ex.ravel().tolist())]
    return out.reshape(A.shape), E


def _matmul(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Exact `A @ B.T` of integer object arrays (python-flint's fmpz_mat: C speed, no rounding)."""
    import flint

    n, D = A.shape
    k = B.shape[0]
    if n == 0 or k == 0:
        return np.zeros((n, k), dtype=object)
    C = flint.fmpz_mat(n, D, [int(v) for v in A.ravel()]) * flint.fmpz_mat(D, k, [int(v) for v in B.T.ravel()])
    out = np.empty(n * k, dtype=object)
    out[:] = [int(v) for v in C.entries()]
    return out.reshape(n, k)


def _psd(M: list[list[Fraction]]) -> bool:
    """Exact test that the symmetric rational matrix M is positive semidefinite (LDLᵀ)."""
    n = len(M)
    A = [row[:] for row in M]
    for i in range(n):
        p = A[i][i]
        if p < 0:
            return False
        if p == 0:
            # a zero pivot with a nonzero entry in its row means an indefinite 2×2 minor
            if any(A[i][j] != 0 for j in range(i + 1, n)):
                return False
            continue
        for r in range(i + 1, n):
            f = A[r][i] / p
            if f:
                Ar, Ai = A[r], A[i]
                for c in range(i + 1, n):
                    Ar[c] -= f * Ai[c]
    return True


def _sqrt_hi(q: Fraction) -> Fraction:
    return sqrt_bounds(q)[1]


class _Side:
    """One sign's neurons as exact integers (scale 2^E shared by both signs)."""

    def __init__(self, Wi: np.ndarray, E: int):
        self.k = Wi.shape[0]
        self.Wi = Wi
        self.s2 = 1 << (2 * E)
        self.Ws = Wi.sum(axis=0) if self.k else None
        self._G = None
        if self.k:
            self.Gdiag = (Wi * Wi).sum(axis=1)
            self.g = [int(t) for t in (Wi @ self.Ws)]
            self.nW2 = int(self.Ws @ self.Ws)
        else:
            self.g, self.nW2 = [], 0
        self.projected = self.k > 0 and self.nW2 > 0 and all(t >= 0 for t in self.g)

    @property
    def G(self):
        # the full Gram matrix is built only when an operator-norm witness needs it
        if self._G is None:
            self._G = self.Wi @ self.Wi.T
        return self._G

    def gram(self, basis: str) -> list[list[Fraction]]:
        k, G, g, nW2, s2 = self.k, self.G, self.g, self.nW2, self.s2
        if basis == "delta":
            kk = k * k
            return [[Fraction(kk * int(G[i, j]) - k * (g[i] + g[j]) + nW2, kk * s2) for j in range(k)]
                    for i in range(k)]
        if basis == "projected":
            if not self.projected:
                raise Reject("projected spread claimed but some ⟨w_j, W⟩ < 0 (or W = 0)")
            return [[Fraction(nW2 * int(G[i, j]) - g[i] * g[j], nW2 * s2) for j in range(k)] for i in range(k)]
        raise Reject(f"unknown spread basis {basis!r}")

    def spread_hi(self, lam, basis) -> Fraction:
        """Rigorous upper bound on the smallest valid spread D of this sign."""
        if self.k == 0:
            return Fraction(0)
        k, G, g, nW2, s2 = self.k, self.Gdiag, self.g, self.nW2, self.s2
        # only the diagonals: ‖δ_j‖² and ‖e_j‖²
        best = sum((_sqrt_hi(Fraction(k * k * int(G[j]) - 2 * k * g[j] + nW2, k * k * s2)) for j in range(k)),
                   Fraction(0))
        if self.projected:
            best = min(best, sum((_sqrt_hi(Fraction(nW2 * int(G[j]) - g[j] * g[j], nW2 * s2)) for j in range(k)),
                                 Fraction(0)))
        if lam is not None:
            lq = Q(lam)
            G = self.gram(basis)
            M = [[(lq if i == j else 0) - G[i][j] for j in range(self.k)] for i in range(self.k)]
            if not _psd(M):
                raise Reject(f"witness eigenvalue bound {float(lq):.17g} is below λ_max of the {basis} Gram matrix")
            best = min(best, _sqrt_hi(self.k * lq))
        return best


def _cert_sets(net_pos: np.ndarray, net_neg: np.ndarray, Xi: np.ndarray, an: int, ad: int, pos: _Side,
               neg: _Side) -> tuple[int, int]:
    """(# points certified by the per-point test, # points with sign N = sign⟨W−U,x⟩ ≠ 0), exactly."""
    n = Xi.shape[0]
    P = _matmul(Xi, net_pos)
    R = _matmul(Xi, net_neg)
    SP = P.sum(axis=1) if pos.k else np.zeros(n, dtype=object)
    SR = R.sum(axis=1) if neg.k else np.zeros(n, dtype=object)
    SP = np.array([int(t) for t in SP], dtype=object)
    SR = np.array([int(t) for t in SR], dtype=object)

    def sig(z):  # ad·σ(z), elementwise on Python ints
        return np.where((z > 0).astype(bool), ad * z, an * z)

    lin = sig(SP) - sig(SR)
    d = ad - an

    def caps(M, S, side):
        """Per point: list of (multiplier, cap numerator): `mult·Lin' ⋚ ±cap` tests."""
        if side.k == 0:
            return [(1, np.zeros(n, dtype=object))]
        k = side.k
        cd = d * np.maximum(np.abs(k * M - S[:, None]) - np.abs(S)[:, None], 0).sum(axis=1)
        out = [(k, cd)]
        if side.projected:
            g = np.array(side.g, dtype=object)
            ce = d * np.maximum(np.abs(side.nW2 * M - g[None, :] * S[:, None]) - g[None, :] * np.abs(S)[:, None],
                                0).sum(axis=1)
            out.append((side.nW2, ce))
        return out

    cw, cu = caps(P, SP, pos), caps(R, SR, neg)
    pos_ok = np.zeros(n, dtype=bool)
    neg_ok = np.zeros(n, dtype=bool)
    for mult, cap in cu:
        pos_ok |= ((mult * lin - cap) > 0).astype(bool)
    for mult, cap in cw:
        neg_ok |= ((mult * lin + cap) < 0).astype(bool)
    out = sig(P).sum(axis=1) - sig(R).sum(axis=1) if (pos.k and neg.k) else (
        sig(P).sum(axis=1) if pos.k else -sig(R).sum(axis=1))
    proj = SP - SR
    o_pos, o_neg = (out > 0).astype(bool), (out < 0).astype(bool)
    p_pos, p_neg = (proj > 0).astype(bool), (proj < 0).astype(bool)
    agree = int(np.count_nonzero((o_pos & p_pos) | (o_neg & p_neg)))
    return int(np.count_nonzero(pos_ok | neg_ok)), agree


def derive(cert: dict, ctx) -> dict:
    W_pos, W_neg, alpha, bias = ctx.network()
    if W_pos.shape[0] + W_neg.shape[0] == 0:
        raise Reject("network has no neurons")
    D = W_pos.shape[1]
    Wi, E = _ints(np.vstack([W_pos, W_neg]))
    kp = W_pos.shape[0]
    pos, neg = _Side(Wi[:kp], E), _Side(Wi[kp:], E)
    cvec = (pos.Ws if pos.k else 0) - (neg.Ws if neg.k else 0)
    c = [int(t) for t in np.broadcast_to(np.asarray(cvec, dtype=object), (D,))]
    nc2 = Fraction(sum(t * t for t in c), 1 << (2 * E))
    if nc2 == 0:
        raise Reject("Σw_j − Σu_j = 0: no direction")
    nc_lo, nc_hi = sqrt_bounds(nc2)
    an, ad = alpha.numerator, alpha.denominator
    w = cert.get("witness") or {}
    names = {c_["name"] for c_ in cert["claims"]}
    out: dict = {}

    if "direction_error" in names:
        vh = w.get("direction")
        if not isinstance(vh, list) or len(vh) != D:
            raise Reject(f"witness direction must be a list of {D} numbers")
        vq = [Q(t) for t in vh]
        cq = [Fraction(t, 1 << E) for t in c]
        ip = sum((a * b for a, b in zip(vq, cq)), Fraction(0))
        # ‖v̂ − c/‖c‖‖² = ‖v̂‖² − 2⟨v̂,c⟩/‖c‖ + 1, bounded above with the bracket on ‖c‖
        e2 = sum((t * t for t in vq), Fraction(0)) + 1 - 2 * ip / (nc_hi if ip >= 0 else nc_lo)
        out["direction_error"] = Enclosure(Fraction(0), _sqrt_hi(max(e2, Fraction(0))))

    if names & {"band_beta", "band_probability"}:
        for key in ("basis_pos", "basis_neg"):
            if w.get(key) is not None and w.get(key) not in ("delta", "projected"):
                raise Reject(f"witness {key} must be 'delta' or 'projected'")
        Dw = pos.spread_hi(w.get("lambda_pos"), w.get("basis_pos") or "delta")
        Du = neg.spread_hi(w.get("lambda_neg"), w.get("basis_neg") or "delta")
        beta_hi = (1 - alpha) / alpha * max(Dw, Du) / nc_lo
        out["band_beta"] = Enclosure(Fraction(0), beta_hi)
        if "band_probability" in names:
            if bias:
                out["band_probability"] = Verdict(False, "no band probability for a network with an input bias")
            elif D < 2:
                out["band_probability"] = Verdict(False, "band probability needs dimension ≥ 2")
            elif beta_hi >= 1:
                out["band_probability"] = Enclosure(Fraction(0), Fraction(1))
            else:
                import flint

                p = arb(beta_hi * beta_hi).beta_lower(flint.arb(flint.fmpq(1, 2)), flint.arb(flint.fmpq(D - 1, 2)),
                                                      regularized=True)
                out["band_probability"] = Enclosure(Fraction(0), min(Fraction(1), arb_upper(p)))

    sets = sorted({n.split("_fraction_", 1)[1] for n in names
                   if n.startswith(("certified_fraction_", "agreement_fraction_"))})
    for s in sets:
        X = ctx.array(s, "X")
        if X.ndim != 2 or X.shape[0] == 0:
            raise Reject(f"input {s!r}: X must be a non-empty 2-D array")
        if bias and X.shape[1] == D - 1:
            X = np.hstack([X, np.ones((X.shape[0], 1))])
        if X.shape[1] != D:
            raise Reject(f"input {s!r}: points have dimension {X.shape[1]}, the network {D}")
        Xi, _ = _ints(X)
        cert_n, agree_n = _cert_sets(Wi[:kp], Wi[kp:], Xi, an, ad, pos, neg)
        out[f"certified_fraction_{s}"] = Enclosure.exact(Fraction(cert_n, X.shape[0]))
        out[f"agreement_fraction_{s}"] = Enclosure.exact(Fraction(agree_n, X.shape[0]))
    return out
