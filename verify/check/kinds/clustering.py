"""Re-derive a `clustering` certificate (Theorem 3, THEORY.md §4) from the run file alone.

The run `.npz` holds the data, the initial and final weights, the snapshots with their
recorded sums and the σ'-sharing record. Every number is taken at its exact binary value
and every decision is made in rationals (square roots bracketed by integer isqrt):

* `shared_since` / `condition_met`: t₀ = last disagreeing step + 1 from the record, which
  must be consistent (per-snapshot record non-decreasing, ending at the run's value);
  the condition is met when t₀ < T and at least two snapshots lie at or after t₀.
* `beta_final`: `(1−α)·max(D_w, D_u)/(α‖Σw_j − Σu_j‖)` of the final weights, enclosed.
* `difference_drift`: the largest change of any `w_j − w_0` (or `u_j − u_0`) coordinate
  between the first snapshot s₀ ≥ t₀ and each later snapshot, exact.
* `differences_frozen`: each such change is within the rounding tolerance
  `Σ_segments 2u(b−a)·M_c`, `M_c = max(max_j|w_jc(b)|, (max_j|w_jc(a)| + η·max_i|x_ic|·S_ab·(1+(batch+4)u))/(1−u(b−a)))`,
  `S_ab = S_b − S_a + 3b·u·S_b` (recorded sums plus their summation error), times 2.
* `shared_at_snapshots`: at each snapshot step s ∈ [t₀, T) the point sampled at step s
  gets one σ' value per sign under the snapshot's weights (needs per-step records).
* `margin_gamma`, `beta_bound_all_snapshots`, `beta_bound_final`: with the witness
  direction r, γ = min_i y_i⟨r,x_i⟩/‖r‖ > 0, a₀ = ⟨Σw_j(0) − Σu_j(0), r⟩/‖r‖, and at every
  snapshot s ≥ s₀: β(s) ≤ (1−α)·max(D_w,D_u)(s₀)/(α(a₀ + ηγS'_s)) with S'_s as recorded.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np

from .._core import Enclosure, Verdict
from .._exact import Q, Reject, sqrt_bounds

U = Fraction(1, 1 << 53)


def _rows(a) -> list[list[Fraction]]:
    a = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise Reject("non-finite weights in the run")
    return [[Fraction(float(v)) for v in row] for row in a]


def _sum_rows(rows, d):
    return [sum((r[c] for r in rows), Fraction(0)) for c in range(d)]


def _spread(rows) -> tuple[Fraction, Fraction]:
    k, d = len(rows), len(rows[0])
    mean = [s / k for s in _sum_rows(rows, d)]
    lo = hi = Fraction(0)
    for r in rows:
        l, h = sqrt_bounds(sum(((r[c] - mean[c]) ** 2 for c in range(d)), Fraction(0)), bits=100)
        lo, hi = lo + l, hi + h
    return lo, hi


def _beta(Wp, Wn, alpha: Fraction) -> Enclosure | None:
    P, N = _rows(Wp), _rows(Wn)
    if not P or not N:
        raise Reject("a sign has no neurons")
    d = len(P[0])
    v = [a - b for a, b in zip(_sum_rows(P, d), _sum_rows(N, d))]
    nlo, nhi = sqrt_bounds(sum((x * x for x in v), Fraction(0)), bits=100)
    if nlo <= 0:
        return None  # Σw_j − Σu_j = 0: no band, nothing to enclose
    (plo, phi), (qlo, qhi) = _spread(P), _spread(N)
    c = (1 - alpha) / alpha
    return Enclosure(c * max(plo, qlo) / nhi, c * max(phi, qhi) / nlo)


def _int_array(ctx, key):
    a = ctx.array("run", key, dtype=None)
    if a.dtype.kind not in "iu":
        raise Reject(f"run array {key!r} is not integer")
    return a.astype(np.int64)


def derive(cert: dict, ctx) -> dict:
    ctx.path("run")
    alpha = Q(float(ctx.array("run", "alpha")[()]))
    if not (0 < alpha < 1):
        raise Reject("alpha outside (0, 1)")
    meta_raw = ctx.array("run", "meta", dtype=None)
    try:
        meta = json.loads(str(np.asarray(meta_raw)[()]))
        cfg = meta["config"]
        lr = Q(float(cfg["lr"]))
        batch_cfg = int(cfg.get("batch", 1))
    except (ValueError, KeyError, TypeError):
        raise Reject("the run's meta record is unreadable") from None
    if not lr > 0 or batch_cfg < 0:
        raise Reject("the run records a non-positive step or a negative batch")
    X = ctx.array("run", "X")
    y = ctx.array("run", "y")
    if X.ndim != 2 or y.shape != (X.shape[0],) or not np.all(np.abs(y) == 1):
        raise Reject("run data: X must be n×d and y in {−1,+1}ⁿ")
    n, d = X.shape
    batch = n if batch_cfg == 0 else batch_cfg
    T = int(_int_array(ctx, "traj_steps")[()])
    shared = _int_array(ctx, "shared")
    steps = _int_array(ctx, "snap_steps")
    snap_fail = _int_array(ctx, "snap_shared_last_fail")
    Wp_s = ctx.array("run", "snap_W_pos")
    Wn_s = ctx.array("run", "snap_W_neg")
    sums = ctx.array("run", "snap_sums")
    S_count = steps.shape[0]
    if (Wp_s.ndim != 3 or Wn_s.ndim != 3 or Wp_s.shape[0] != S_count or Wn_s.shape[0] != S_count
            or Wp_s.shape[2] != d or Wn_s.shape[2] != d or sums.shape[0] != S_count or sums.shape[1] < 2
            or snap_fail.shape != (S_count,)):
        raise Reject("snapshot arrays have inconsistent shapes")
    if S_count < 1 or steps[-1] != T or np.any(np.diff(steps) <= 0) or steps[0] < 0:
        raise Reject("snapshot steps must increase and end at T")
    if np.any(np.diff(snap_fail) < 0) or snap_fail[-1] != shared[0] or shared[0] >= T:
        raise Reject("the σ'-sharing record is inconsistent")
    for i, s in enumerate(steps):
        # the last failure recorded at snapshot s happened before step s
        if snap_fail[i] >= s:
            raise Reject("the σ'-sharing record names a failure after its snapshot")
    Wp, Wn = ctx.array("run", "W_pos"), ctx.array("run", "W_neg")
    if not (np.array_equal(Wp, Wp_s[-1]) and np.array_equal(Wn, Wn_s[-1])):
        raise Reject("the final weights differ from the last snapshot")

    t0 = int(shared[0]) + 1
    after = np.flatnonzero(steps >= t0)
    met = t0 < T and after.size >= 2
    out: dict = {
        "shared_since": Enclosure.exact(t0),
        "condition_met": Enclosure.exact(int(met)),
    }
    bf = _beta(Wp, Wn, alpha)
    if bf is not None:
        out["beta_final"] = bf
    if not met:
        return out

    xmax = [max(abs(Fraction(float(v))) for v in X[:, c]) for c in range(d)]
    worst = Fraction(0)
    frozen = True
    why = "every change within the rounding tolerance"
    for name, snaps in (("positive", Wp_s[after]), ("negative", Wn_s[after])):
        rows = [_rows(W) for W in snaps]
        k = len(rows[0])
        base = [[rows[0][j][c] - rows[0][0][c] for c in range(d)] for j in range(k)]
        tol = [Fraction(0)] * d
        for m in range(1, len(rows)):
            a, b = int(steps[after[m - 1]]), int(steps[after[m]])
            Sa, Sb = Q(float(sums[after[m - 1], 0])), Q(float(sums[after[m], 0]))
            S_ab = max(Sb - Sa, Fraction(0)) + 3 * b * U * Sb
            for c in range(d):
                ma = max(abs(r[c]) for r in rows[m - 1])
                mb = max(abs(r[c]) for r in rows[m])
                grow = (ma + lr * xmax[c] * S_ab * (1 + (batch + 4) * U)) / (1 - U * (b - a))
                tol[c] += 2 * U * (b - a) * max(grow, mb)
            for j in range(k):
                for c in range(d):
                    ch = abs((rows[m][j][c] - rows[m][0][c]) - base[j][c])
                    worst = max(worst, ch)
                    if frozen and not ch <= 2 * tol[c]:
                        frozen = False
                        why = (f"{name} neuron {j}, coordinate {c}: difference moved by {float(ch):.3g} "
                               f"by step {b}, tolerance {float(2 * tol[c]):.3g}")
    out["difference_drift"] = Enclosure.exact(worst)
    out["differences_frozen"] = Verdict(frozen, why)

    z = ctx.arrays("run")
    if "step_idx" in z:
        idx = _int_array(ctx, "step_idx")
        if idx.shape != (T,) or np.any(idx < 0) or np.any(idx >= n):
            raise Reject("per-step indices have the wrong shape or range")
        ok, why = True, "one σ' value per sign at every snapshot step in [t₀, T)"
        for si in after:
            s = int(steps[si])
            if s >= T:
                continue
            x = [Fraction(float(v)) for v in X[idx[s]]]
            for name, W in (("positive", Wp_s[si]), ("negative", Wn_s[si])):
                signs = {sum((a * b for a, b in zip(r, x)), Fraction(0)) > 0 for r in _rows(W)}
                if len(signs) > 1 and ok:
                    ok, why = False, f"step {s}: {name} neurons differ in σ' on point {int(idx[s])}"
        out["shared_at_snapshots"] = Verdict(ok, why)

    w = cert.get("witness", {})
    if isinstance(w, dict) and "reference" in w:
        ref = w["reference"]
        if not isinstance(ref, list) or len(ref) != d:
            raise Reject(f"witness reference must be a list of {d} numbers")
        r = [Q(v) for v in ref]
        r2 = sum((v * v for v in r), Fraction(0))
        if r2 == 0:
            raise Reject("witness reference is zero")
        rlo, rhi = sqrt_bounds(r2, bits=100)
        Xr, yr = _rows(X), [Fraction(float(v)) for v in y]
        gnum = min(yi * sum((a * b for a, b in zip(xi, r)), Fraction(0)) for xi, yi in zip(Xr, yr))
        if not gnum > 0:
            raise Reject("the witness reference does not separate the data")
        out["margin_gamma"] = Enclosure(gnum / rhi, gnum / rlo)
        P0, N0 = _rows(ctx.array("run", "init_W_pos")), _rows(ctx.array("run", "init_W_neg"))
        if (P0 and len(P0[0]) != d) or (N0 and len(N0[0]) != d):
            raise Reject("initial weights have the wrong width")
        v0 = [a - b for a, b in zip(_sum_rows(P0, d), _sum_rows(N0, d))]
        a0num = sum((a * b for a, b in zip(v0, r)), Fraction(0))
        spreads = [(_spread(_rows(Wp_s[after[0]]))), (_spread(_rows(Wn_s[after[0]])))]
        Dlo = max(s[0] for s in spreads)
        Dhi = max(s[1] for s in spreads)
        c = (1 - alpha) / alpha
        ok, why, final_bound = True, "β(s) under the Theorem 3 bound at every snapshot from s₀", None
        for si in after:
            num = a0num + lr * gnum * Q(float(sums[si, 1]))
            if not num > 0:
                ok, why = False, f"step {int(steps[si])}: a₀ + ηγS' ≤ 0, the bound is vacuous"
                continue
            b = _beta(Wp_s[si], Wn_s[si], alpha)
            if b is None:
                ok, why = False, f"step {int(steps[si])}: Σw_j − Σu_j = 0, no band"
                continue
            if ok and not b.hi <= c * Dlo * rlo / num:
                ok, why = False, f"step {int(steps[si])}: β = {float(b.hi):.6g} above the bound {float(c * Dlo * rlo / num):.6g}"
            if int(steps[si]) == T:
                final_bound = Enclosure(c * Dlo * rlo / num, c * Dhi * rhi / num)
        out["beta_bound_all_snapshots"] = Verdict(ok, why)
        if final_bound is not None:
            out["beta_bound_final"] = final_bound
    return out
