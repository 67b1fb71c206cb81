"""Theorem 2 — two clusters ⇒ linear outside a band (THEORY.md §3), and its certificates.

For `N(x) = Σ_{j≤k₊} σ(⟨w_j,x⟩) − Σ_{j≤k₋} σ(⟨u_j,x⟩)`, `σ(z) = max(αz, z)`, with sums
`W = Σw_j = k₊w̄`, `U = Σu_j = k₋ū` and `Lin(x) = σ(⟨W,x⟩) − σ(⟨U,x⟩)`:

* `0 ≤ Σ_j σ(⟨w_j,x⟩) − σ(⟨W,x⟩) ≤ cap_w(x) ≤ (1−α)·D_w·‖x‖` (likewise for u), so
  `N(x) − Lin(x) ∈ [−cap_u(x), cap_w(x)]`;
* `sign Lin(x) = sign⟨W − U, x⟩` and `|Lin(x)| ≥ α|⟨W − U, x⟩|`;
* **band**: with the unit `v = (W − U)/‖W − U‖` and `β = (1−α)·max(D_w, D_u)/(α‖W − U‖)`,
  `sign N(x) = sign⟨v,x⟩` whenever `|⟨v,x⟩| > β‖x‖` (β ≥ 1 is vacuous). For `k₊ = k₋ = k`
  this is THEORY.md's `(1−α)max(D_w,D_u)/(kα‖w̄ − ū‖)`;
* **per point**: the sign is certain when `Lin(x) − cap_u(x) > 0` or `Lin(x) + cap_w(x) < 0`;
* **probability**: under a rotation-invariant law with `P(x=0)=0`, `d ≥ 2`, v independent of x,
  `P(|⟨v,x⟩| ≤ β‖x‖) = I_{β²}(1/2, (d−1)/2)`, evaluated with python-flint `arb` (rigorous).

Corrections found by derivation (they only sharpen THEORY.md §3, every statement there stays true):

1. Write `σ(z) = ((1+α)z + (1−α)|z|)/2`. For numbers `q_j` of one sign `s` (s = +1 when 0) and
   `Σε_j = 0`, `|q+ε| − |q| = sε + 2(|ε| − |q|)₊·[sε < 0]` gives the *identity*
   `Σσ(q_j + ε_j) − Σσ(q_j) = (1−α)·Σ_j (|ε_j| − |q_j|)₊·[sε_j < 0]`.
   With `q_j = ⟨w̄,x⟩`, `ε_j = ⟨δ_j,x⟩` this is THEORY.md's cap restricted to the deviations
   pointing against `⟨w̄,x⟩`: N(x) is *exactly* `Lin(x) + (that) − (same for u)`. So the
   sharpest per-point statement is the exact sign of N(x) itself; we report it as the
   *agreement* fraction (points where `sign N(x) = sign⟨v,x⟩ ≠ 0`) next to the Theorem-2
   *certified* fraction.
2. **Projected clusters.** Decompose `w_j = c_j w̄ + e_j` with `c_j = k₊⟨w_j,W⟩/‖W‖²` (so
   `Σc_j = k₊`, `Σe_j = 0`, `e_j ⊥ W`). If every `c_j ≥ 0` then `Σσ(c_j⟨w̄,x⟩) = σ(⟨W,x⟩)`
   and the identity above with `q_j = c_j⟨w̄,x⟩`, `ε_j = ⟨e_j,x⟩` gives
   `0 ≤ Σσ(⟨w_j,x⟩) − σ(⟨W,x⟩) ≤ (1−α)Σ_j(|⟨e_j,x⟩| − c_j|⟨w̄,x⟩|)₊ ≤ (1−α)Σ‖e_j‖·‖x‖`.
   Since `e_j` is `δ_j` projected orthogonally to W, `‖e_j‖ ≤ ‖δ_j‖`: neurons that are positive
   multiples of one vector (different lengths) have `D = 0`, β = 0 and every point with
   `⟨v,x⟩ ≠ 0` certified, where mean-center deviations alone give β > 0. We use
   `D = min(Σ‖δ_j‖, √k‖Δ‖_op)` and, when all `c_j ≥ 0`, also `Σ‖e_j‖, √k‖E‖_op`; the
   per-point cap is the smaller of the δ-cap and the e-cap.
3. For `k₊ ≠ k₋` the denominator is `α‖W − U‖` (= `kα‖w̄ − ū‖` when `k₊ = k₋ = k`).
4. A sign of one side only matters on one side of the band: for `⟨v,x⟩ > 0` only `D_u`
   enters, for `⟨v,x⟩ < 0` only `D_w`; we report `beta_pos`, `beta_neg` and `β = max`.

Networks imported with biases (`input_bias=True`) live in the lifted space `(x, 1)`: the
direction v, the band `|⟨v,(x,1)⟩| > β‖(x,1)‖` and the fractions are statements about lifted
points, i.e. about the affine boundary `⟨v_x, x⟩ + v_b = 0`. The lifted law is not
rotation-invariant (its last coordinate is constant), so no band probability is reported then.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from ._data import Dataset
from ._errors import InputError
from ._network import Network, network_direction

__all__ = ["side_spread", "band", "per_point", "band_probability", "linearity_report",
           "certify_linearity"]

_U = 2.0 ** -53
# op-norm witnesses are checked by an exact LDLᵀ of a k×k Gram matrix: cap its size
_OP_MAX_K = 64
# the witness eigenvalue is inflated by this factor so λ̂·I − G is positive definite exactly
_LAMBDA_SLACK = 1e-9
# certified claims are loosened by this relative amount over their float value (far below 1e-6)
_CLAIM_SLACK = 1e-9


def _direction_or_none(net: Network) -> np.ndarray | None:
    """`network_direction`, or None when W = U (the band is then reported as infinite)."""
    try:
        return network_direction(net)
    except InputError:
        return None


def _to_ints(A: np.ndarray) -> tuple[np.ndarray, int]:
    """Exact integers `A·2^E` (object array of Python ints) and `E`: float64 values are dyadic."""
    A = np.asarray(A, dtype=np.float64)
    m, e = np.frexp(A)
    mant = (m * 2.0 ** 53).astype(np.int64)
    ex = e.astype(np.int64) - 53
    nz = mant != 0
    E = int(max(0, -int(ex[nz].min()))) if np.any(nz) else 0
    flat = [int(a) << int(b + E) if a else 0 for a, b in zip(mant.ravel().tolist(), ex.ravel().tolist())]
    out = np.empty(A.size, dtype=object)
    out[:] = flat
    return out.reshape(A.shape), E


def _sqrt_bracket(q: Fraction, bits: int = 80) -> tuple[Fraction, Fraction]:
    """Rationals `lo ≤ √q ≤ hi` with `hi − lo ≤ 2^{−bits}·√q`, by integer square root (q ≥ 0)."""
    if q <= 0:
        return Fraction(0), Fraction(0)
    # √(p/r) = √(p·r)/r, bracketed between integers at scale 2^bits
    n = (q.numerator * q.denominator) << (2 * bits)
    s = math.isqrt(n)
    den = q.denominator << bits
    return Fraction(s, den), (Fraction(s, den) if s * s == n else Fraction(s + 1, den))


def _sqrt_up(q: Fraction) -> Fraction:
    """A rational ≥ √q, within a relative 2^-80."""
    return _sqrt_bracket(q)[1]


def _sqrt_down(q: Fraction) -> Fraction:
    """A rational ≤ √q, within a relative 2^-80."""
    return _sqrt_bracket(q)[0]


def _lambda_hat(G: list[list[Fraction]]) -> float:
    """A float a bit above the largest eigenvalue of the exact PSD matrix G (the op-norm witness)."""
    Gf = np.array([[float(x) for x in row] for row in G])
    lam = float(np.linalg.eigvalsh(Gf)[-1]) if Gf.size else 0.0
    if lam <= 0 and not any(x for row in G for x in row):
        return 0.0
    return max(lam, 0.0) * (1 + _LAMBDA_SLACK) + 1e-300


def side_spread(Wside: np.ndarray) -> dict:
    """Spread of one sign's neurons around its cluster (THEORY.md §3, correction 2).

    Computed from the exact rational weights: each variant is a rigorous upper bound
    (square roots rounded up), so a certificate built on it holds.

    Args:
        Wside: the neurons of one sign, shape (k, D).

    Returns:
        dict with `k`, `sum_delta` (Σ‖δ_j‖), `op_delta` (√k‖Δ‖_op, None when k > 64),
        `projected` (every `c_j ≥ 0` exactly), `sum_e`, `op_e` (None unless projected), `D`
        (the smallest, as float rounded up), `method`, and `lambda` / `basis`: the Gram
        eigenvalue bound that an op-norm `D` rests on.
    """
    k = int(Wside.shape[0])
    out = {"k": k, "sum_delta": 0.0, "op_delta": 0.0, "projected": False, "sum_e": None,
           "op_e": None, "D": 0.0, "D_exact": Fraction(0), "method": "sum_delta", "lambda": None, "basis": None}
    if k == 0:
        return out
    from ._certificate import round_up

    Wi, E = _to_ints(Wside)
    s2 = 1 << (2 * E)
    Ws = Wi.sum(axis=0)
    # the full Gram matrix only where the op-norm variant is tried; the sums need its diagonal
    G = Wi @ Wi.T if k <= _OP_MAX_K else None
    Gdiag = (Wi * Wi).sum(axis=1)
    g = Wi @ Ws
    nW2 = int(Ws @ Ws)
    kk = k * k
    # k²⟨δ_i,δ_j⟩·2^{2E} = k²⟨w_i,w_j⟩ − k(g_i + g_j) + ‖W‖²   (integers)
    def gram_delta():
        return [[Fraction(kk * int(G[i, j]) - k * (int(g[i]) + int(g[j])) + nW2, kk * s2) for j in range(k)]
                for i in range(k)]

    def gram_e():  # ⟨e_i,e_j⟩ = ⟨w_i,w_j⟩ − g_i g_j/‖W‖²
        return [[Fraction(nW2 * int(G[i, j]) - int(g[i]) * int(g[j]), nW2 * s2) for j in range(k)] for i in range(k)]

    diag_d = [Fraction(kk * int(Gdiag[j]) - 2 * k * int(g[j]) + nW2, kk * s2) for j in range(k)]
    cands = [("sum_delta", sum((_sqrt_up(q) for q in diag_d), Fraction(0)), None, None)]
    if k <= _OP_MAX_K:
        lam = _lambda_hat(gram_delta())
        cands.append(("op_delta", _sqrt_up(k * Fraction(lam)), lam, "delta"))
    if nW2 > 0 and all(int(t) >= 0 for t in g):
        out["projected"] = True
        diag_e = [Fraction(nW2 * int(Gdiag[j]) - int(g[j]) ** 2, nW2 * s2) for j in range(k)]
        cands.append(("sum_e", sum((_sqrt_up(q) for q in diag_e), Fraction(0)), None, None))
        if k <= _OP_MAX_K:
            lam = _lambda_hat(gram_e())
            cands.append(("op_e", _sqrt_up(k * Fraction(lam)), lam, "projected"))
    for name, val, _, _ in cands:
        out[name] = round_up(val)
    method, D, lam, basis = min(cands, key=lambda c: c[1])
    out.update(D=round_up(D), D_exact=D, method=method, **{"lambda": lam, "basis": basis})
    return out


def band(net: Network) -> dict:
    """Theorem 2's band for `net`, as rigorous upper bounds (floats rounded up).

    Returns:
        dict with `direction` (unit v or None), `norm_WU`, `D_w`, `D_u` (dicts from
        `side_spread`), `beta_pos` (the band for ⟨v,x⟩ > 0, which only `D_u` enters),
        `beta_neg`, `beta` (their max; inf when W = U) and `vacuous` (β ≥ 1).
    """
    from ._certificate import round_up

    a = Fraction(net.alpha)
    sw, su = side_spread(net.W_pos), side_spread(net.W_neg)
    v = _direction_or_none(net)
    ci, E = _to_ints(np.vstack([net.W_pos, net.W_neg]))
    c = ci[: net.k_pos].sum(axis=0) - ci[net.k_pos:].sum(axis=0)
    nc2 = Fraction(int(c @ c), 1 << (2 * E))
    if nc2 == 0:
        bp = bn = beta = math.inf
        nrm = 0.0
    else:
        nrm_lo = _sqrt_down(nc2)
        scale = (1 - a) / (a * nrm_lo)
        bp, bn = round_up(scale * su["D_exact"]), round_up(scale * sw["D_exact"])
        beta = max(bp, bn)
        nrm = float(nrm_lo)
    return {"direction": v, "norm_WU": nrm, "D_w": sw, "D_u": su, "beta_pos": bp, "beta_neg": bn,
            "beta": beta, "vacuous": not (beta < 1)}


def _caps(Pre: np.ndarray, Wside: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-point cap `(1−α)·min(δ-cap, e-cap)` and the absolute size of its terms (for rounding)."""
    n, k = Pre.shape
    if k == 0:
        return np.zeros(n), np.zeros(n)
    S = Pre.sum(axis=1)
    a = S / k
    cap = (1 - alpha) * np.maximum(np.abs(Pre - a[:, None]) - np.abs(a)[:, None], 0).sum(axis=1)
    W = Wside.sum(axis=0)
    nW2 = float(W @ W)
    if nW2 > 0:
        g = Wside @ W
        if np.all(g > 64 * _U * (np.abs(Wside) @ np.abs(W))):
            cj = g / nW2                      # c_j / k: ⟨e_j,x⟩ = Pre_j − (g_j/‖W‖²)·S
            eps = Pre - cj[None, :] * S[:, None]
            cap_e = (1 - alpha) * np.maximum(np.abs(eps) - cj[None, :] * np.abs(S)[:, None], 0).sum(axis=1)
            cap = np.minimum(cap, cap_e)
    return cap, np.abs(Pre).sum(axis=1) + np.abs(S)


def per_point(net: Network, X: np.ndarray) -> dict:
    """Per-point Theorem-2 test and exact-sign agreement on the rows of X (float, with margins).

    A point counts as *certified* only when `Lin − cap_u` (or `−(Lin + cap_w)`) exceeds a bound on
    its float rounding error, so a float "certified" is never a false one; the checker then
    recomputes everything in exact rationals.

    Returns:
        dict of arrays: `sign` (certified sign ±1, 0 when not certified), `certified` (bool),
        `agree` (sign N(x) = sign⟨v,x⟩ ≠ 0, with the same margin), `lin_sign` (sign⟨W−U,x⟩),
        `out` (N(x)).
    """
    Xl = net.lift(X)
    a = net.alpha
    P = Xl @ net.W_pos.T
    Qm = Xl @ net.W_neg.T
    SP, SQ = P.sum(axis=1), Qm.sum(axis=1)
    lin = np.where(SP > 0, SP, a * SP) - np.where(SQ > 0, SQ, a * SQ)
    cap_w, mag_w = _caps(P, net.W_pos, a)
    cap_u, mag_u = _caps(Qm, net.W_neg, a)
    # |rounding error| ≤ γ·(Σ|x_i||w_ji| over every neuron), with γ generous over Higham's γ_{D+m+8}
    absX = np.abs(Xl)
    mag = absX @ np.abs(net.W_pos).sum(axis=0) + absX @ np.abs(net.W_neg).sum(axis=0)
    tol = 16 * (net.d + net.m + 8) * _U * (4 * mag + mag_w + mag_u) + 1e-300
    pos = (lin - cap_u) > tol
    neg = (lin + cap_w) < -tol
    out = np.where(P > 0, P, a * P).sum(axis=1) - np.where(Qm > 0, Qm, a * Qm).sum(axis=1)
    c = net.W_pos.sum(axis=0) - net.W_neg.sum(axis=0)
    proj = Xl @ c
    ptol = 4 * (net.d + net.m) * _U * mag + 1e-300
    agree = ((out > tol) & (proj > ptol)) | ((out < -tol) & (proj < -ptol))
    return {"sign": np.where(pos, 1, np.where(neg, -1, 0)), "certified": pos | neg, "agree": agree,
            "lin_sign": np.sign(proj), "out": out}


def band_probability(beta: float, d: int) -> float | None:
    """Rigorous upper bound (float, rounded up) on `I_{β²}(1/2, (d−1)/2)`; None when d < 2.

    The probability that a rotation-invariant random point in ℝ^d lands inside the band
    `|⟨v,x⟩| ≤ β‖x‖` (v fixed, unit). β ≥ 1 gives 1.
    """
    if d < 2:
        return None
    if not (beta < 1):
        return 1.0
    import flint

    from ._certificate import round_up

    b = Fraction(float(beta))
    val = flint.arb(flint.fmpq((b * b).numerator, (b * b).denominator)).beta_lower(
        flint.arb(flint.fmpq(1, 2)), flint.arb(flint.fmpq(d - 1, 2)), regularized=True)
    if not val.is_finite():
        return 1.0
    hi = _arf(val.mid()) + _arf(val.rad())
    return min(1.0, round_up(hi))


def _arf(a) -> Fraction:
    m, e = a.man_exp()
    m, e = int(m), int(e)
    return Fraction(m * (1 << e)) if e >= 0 else Fraction(m, 1 << (-e))


def _set_stats(net: Network, data: Dataset | None, b: dict) -> dict | None:
    if data is None:
        return None
    pp = per_point(net, data.X)
    Xl = net.lift(data.X)
    v = b["direction"]
    if v is None:
        band_frac = 0.0
    else:
        t = np.abs(Xl @ v)
        band_frac = float(np.mean(t > b["beta"] * np.linalg.norm(Xl, axis=1) * (1 + 1e-12)))
    pred = np.where(pp["out"] > 0, 1.0, -1.0)
    return {"n": data.n, "certified_fraction": float(np.mean(pp["certified"])),
            "agreement_fraction": float(np.mean(pp["agree"])), "band_fraction": band_frac,
            "error": float(np.mean(pred != data.y)),
            "certified_correct_fraction": float(np.mean(pp["certified"] & (pp["sign"] == data.y)))}


def linearity_report(net: Network, data: Dataset | None = None, test: Dataset | None = None) -> dict:
    """Everything Theorem 2 says about `net`, with fractions on `data` and `test`.

    Args:
        net: the network (paper form; a bias network works in the lifted space).
        data: training points (optional).
        test: test points (optional).

    Returns:
        dict with `direction` (list or None), `band_beta`, `beta_pos`, `beta_neg`, `vacuous`,
        `D_w`, `D_u`, `norm_WU`, `band_probability` (None with biases or d < 2),
        `certified_fraction`, `agreement_fraction`, `band_fraction` (each {train, test}),
        `train` / `test` detail dicts.
    """
    for ds in (data, test):
        if ds is not None:
            net.lift(ds.X[:1])  # shape mismatch → InputError before any work
    b = band(net)
    prob = None if net.input_bias else band_probability(b["beta"], net.d)
    tr, te = _set_stats(net, data, b), _set_stats(net, test, b)

    def pick(key):
        return {"train": None if tr is None else tr[key], "test": None if te is None else te[key]}

    v = b["direction"]
    return {
        "direction": None if v is None else v.tolist(),
        "band_beta": b["beta"], "beta_pos": b["beta_pos"], "beta_neg": b["beta_neg"],
        "vacuous": b["vacuous"], "norm_WU": b["norm_WU"],
        "D_w": {k: b["D_w"][k] for k in ("k", "D", "method", "sum_delta", "op_delta", "sum_e", "op_e")},
        "D_u": {k: b["D_u"][k] for k in ("k", "D", "method", "sum_delta", "op_delta", "sum_e", "op_e")},
        "band_probability": prob,
        "lifted": bool(net.input_bias),
        "certified_fraction": pick("certified_fraction"),
        "agreement_fraction": pick("agreement_fraction"),
        "band_fraction": pick("band_fraction"),
        "train": tr, "test": te,
    }


def _dataset_file(data: Dataset, out_dir: Path, name: str) -> Path:
    from ._data import save_dataset

    return save_dataset(out_dir / name, data)


def _direction_error(net: Network, v) -> Fraction:
    """Exact upper bound on ‖v − (W−U)/‖W−U‖‖ for the float direction v (the claimed value).

    `‖v − c/‖c‖‖² = ‖v‖² − 2⟨v,c⟩/‖c‖ + 1` with `c = W − U` in exact rationals and ‖c‖
    bracketed by integer square roots, the side of the bracket chosen to bound from above.
    """
    from .check._exact import sqrt_bounds

    c = [sum((Fraction(float(t)) for t in net.W_pos[:, i]), Fraction(0))
         - sum((Fraction(float(t)) for t in net.W_neg[:, i]), Fraction(0)) for i in range(net.d)]
    vq = [Fraction(float(t)) for t in v]
    lo, hi = sqrt_bounds(sum((t * t for t in c), Fraction(0)))
    ip = sum((a * b for a, b in zip(vq, c)), Fraction(0))
    e2 = sum((t * t for t in vq), Fraction(0)) + 1 - 2 * ip / (hi if ip >= 0 else lo)
    return sqrt_bounds(max(e2, Fraction(0)))[1]


def certify_linearity(run_path, data: Dataset | None, out_dir, *, test: Dataset | None = None,
                      eps=None, alpha: float | None = None) -> Path:
    """Write a `linearity` certificate for the network in `run_path` (THEORY.md §3).

    Claims (each re-derived by `verify check` in exact rationals / arb balls from the files):
    `direction_error ≤ 1e-12` (‖witness v − true v‖), `band_beta ≤ β`, `band_probability ≤ p`
    (no biases, d ≥ 2), and per data set `certified_fraction_<set> ≥ f` (Theorem-2 per-point
    test) and `agreement_fraction_<set> ≥ f` (exact sign N(x) = sign⟨v,x⟩ ≠ 0).

    Args:
        run_path: a run `.npz`, a paper-form `.npz`, or a `.pt`/`.safetensors` state dict
            (then `alpha` is required and the paper form is written next to the certificate;
            the certificate is about that file, which equals the state dict up to one rounding
            per weight).
        data: training points; None uses the points stored in a run file.
        out_dir: folder for `linearity.json` (and copies of data given as specs).
        test: test points (optional).
        eps: unused (the `certify` command passes every builder the same options).
        alpha: leak for state dicts.

    Returns:
        Path of the certificate written.
    """
    from . import _certificate as C
    from ._io import load_npz
    from ._network import load_network, save_network

    del eps
    run_path = Path(run_path)
    out_dir = Path(out_dir)
    net = load_network(run_path, alpha=alpha)
    z = load_npz(run_path) if run_path.suffix.lower() == ".npz" else {}
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder")
    v = _direction_or_none(net)
    if v is None:
        raise InputError(f"{run_path}: Σw_j − Σu_j = 0, the network has no linear direction to certify")
    stored = None
    if "X" in z and "y" in z:
        stored = Dataset(z["X"], z["y"], source=str(run_path))
    if data is None:
        data = stored
    sets = {"train": data, "test": test}
    for name, ds in sets.items():
        if ds is not None:
            net.lift(ds.X[:1])
    out_dir.mkdir(parents=True, exist_ok=True)
    net_file = run_path
    if run_path.suffix.lower() != ".npz":
        net_file = save_network(out_dir / "linearity-network.npz", net)
    inputs = [C.input_entry("network", net_file, out_dir)]
    for name, ds in sets.items():
        if ds is None:
            continue
        if ds is stored and net_file == run_path:
            inputs.append(C.input_entry(name, run_path, out_dir))
        else:
            inputs.append(C.input_entry(name, _dataset_file(ds, out_dir, f"linearity-{name}.npz"), out_dir))

    b = band(net)
    beta_claim = C.round_up(Fraction(b["beta"]) * (1 + Fraction(_CLAIM_SLACK)))
    dir_claim = C.round_up(_direction_error(net, v) * (1 + Fraction(_CLAIM_SLACK)))
    claims = [C.claim("direction_error", "<=", dir_claim, "‖v_witness − (W−U)/‖W−U‖‖")]
    claims.append(C.claim("band_beta", "<=", beta_claim,
                          "sign N(x) = sign⟨v,x⟩ whenever |⟨v,x⟩| > band_beta·‖x‖" +
                          (" (vacuous: β ≥ 1)" if not beta_claim < 1 else "")))
    prob = None
    if not net.input_bias and net.d >= 2:
        prob = band_probability(beta_claim, net.d)
        claims.append(C.claim("band_probability", "<=", prob,
                              "P(|⟨v,x⟩| ≤ β‖x‖) for a rotation-invariant law: I_{β²}(1/2,(d−1)/2)"))
    info = {"beta": b["beta"], "beta_pos": b["beta_pos"], "beta_neg": b["beta_neg"],
            "D_w": b["D_w"]["D"], "D_u": b["D_u"]["D"], "D_w_method": b["D_w"]["method"],
            "D_u_method": b["D_u"]["method"], "vacuous": not beta_claim < 1}
    for name, ds in sets.items():
        if ds is None:
            continue
        pp = per_point(net, ds.X)
        claims.append(C.claim(f"certified_fraction_{name}", ">=",
                              Fraction(int(pp["certified"].sum()), ds.n),
                              "fraction of points where Lin − cap_u > 0 or Lin + cap_w < 0"))
        claims.append(C.claim(f"agreement_fraction_{name}", ">=",
                              Fraction(int(pp["agree"].sum()), ds.n),
                              "fraction of points where sign N(x) = sign⟨v,x⟩ ≠ 0"))
        info[f"n_{name}"] = ds.n
    witness = {
        "direction": [float(t) for t in v],
        "lambda_pos": b["D_w"]["lambda"] if b["D_w"]["method"].startswith("op") else None,
        "basis_pos": b["D_w"]["basis"] if b["D_w"]["method"].startswith("op") else None,
        "lambda_neg": b["D_u"]["lambda"] if b["D_u"]["method"].startswith("op") else None,
        "basis_neg": b["D_u"]["basis"] if b["D_u"]["method"].startswith("op") else None,
    }
    params = {"alpha": C.rational(net.alpha), "k_pos": net.k_pos, "k_neg": net.k_neg, "dim": net.d,
              "input_bias": bool(net.input_bias)}
    cert = C.make_certificate("linearity", inputs, params, claims, witness, info)
    return C.write_certificate(out_dir / "linearity.json", cert)
