"""Theorem 3 on a training run: a shared activation pattern freezes the clusters (THEORY.md §4).

Statement. If from step `t₀` on all positive neurons have the same σ' value on each
sampled point (values compared, σ'(0) = α, so ties at 0 count), and likewise all
negative neurons, then every step adds the *same* vector to all neurons of a sign: each
difference `w_j(t) − w_{j'}(t)` is frozen for `t ≥ t₀`, and so are the spreads
`D_w = Σ_j‖w_j − w̄‖`, `D_u = Σ_j‖u_j − ū‖`. With `k` neurons per sign, `W = Σw_j = k w̄`,
`U = Σu_j = k ū`, Theorem 2's band is

    β(t) = (1−α)·max(D_w, D_u)/(kα‖w̄ − ū‖) = (1−α)·max(D_w, D_u)/(α‖W − U‖),

and `‖W − U‖ ≥ ⟨W − U, w*⟩ = ⟨θ_t, Θ*⟩ ≥ a₀ + ηγS'_t` (Cauchy–Schwarz with a unit `w*`,
then L1), so for every `t ≥ t₀` with `a₀ + ηγS'_t > 0`

    β(t) ≤ (1−α)·max(D_w, D_u)(t₀) / (α(a₀ + ηγS'_t)).

Derivation check: the `k` of the band formula cancels against `W = k w̄`, so THEORY.md's
bound, which has no `k`, is consistent with its band; it needs `a₀ + ηγS'_t > 0` (before
that it is vacuous) and a *unit* `w*` in both `γ` and `a₀`. Nothing else needed correcting.

Rounding. In floating point "frozen" means "to rounding": the kernel adds one identical
float `δ = fl(c·x)` to each coordinate of every neuron of a sign, and
`fl(w + δ) = (w + δ)/(1 + ε)`, `|ε| ≤ u = 2⁻⁵³`, so one step changes a difference
`w_{jc} − w_{0c}` by at most `u(|w_{jc}(t+1)| + |w_{0c}(t+1)|) ≤ 2u·M_c`. Between snapshots
`a < b` every coordinate satisfies `|w_{jc}(t)| ≤ (|w_{jc}(a)| + η·max_i|x_{ic}|·S_{ab}·(1+ρ))/(1 − u(b−a))`
with `S_{ab}` the recorded `S_b − S_a` plus its own summation error `3b·u·S_b` and
`ρ = (batch + 4)u` for the products forming δ. Summing `2u(b − a)M_c` over the segments
after the first snapshot `s₀ ≥ t₀` gives the tolerance `tol_c(s)` that the drift of every
difference must respect; the checker recomputes it in exact rationals.

What a finite run can show is the condition on steps `t₀ … T−1`: "condition not met"
(`t₀ = T`, some step disagreed at the very end or the last snapshot is the only one after
`t₀`) is a normal, reported outcome, not an error.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from ._certificate import (claim, input_entry, make_certificate, rational, rational_list, round_down,
                           round_up, write_certificate)
from ._data import Dataset
from ._errors import InputError

__all__ = ["clustering_monitor", "certify_clustering", "spread", "band_beta", "drift_tolerance"]

U = Fraction(1, 1 << 53)  # unit roundoff of float64
_BITS = 96  # precision of the rational square-root brackets


def spread(W: np.ndarray) -> float:
    """`D = Σ_j ‖w_j − w̄‖` (mean center), float."""
    W = np.asarray(W, dtype=np.float64)
    return float(np.linalg.norm(W - W.mean(axis=0), axis=1).sum())


def band_beta(W_pos: np.ndarray, W_neg: np.ndarray, alpha: float) -> float:
    """Theorem 2's band `(1−α)·max(D_w, D_u)/(α‖Σw_j − Σu_j‖)` (k per sign), float; inf if the denominator is 0."""
    den = alpha * np.linalg.norm(W_pos.sum(axis=0) - W_neg.sum(axis=0))
    num = (1 - alpha) * max(spread(W_pos), spread(W_neg))
    return float(num / den) if den > 0 else math.inf


def _segment_bound(W_a: np.ndarray, dS: float, S_b: float, b: int, steps: int, lr: float, xmax: np.ndarray,
                   batch: int) -> np.ndarray:
    """Per coordinate, a float upper bound on max_j |w_jc(t)| for t in [a, b] (see module docstring)."""
    u = 2.0**-53
    S_ab = max(dS, 0.0) + 3 * b * u * S_b
    grow = lr * xmax * S_ab * (1 + (batch + 4) * u)
    return (np.max(np.abs(W_a), axis=0) + grow) / (1 - u * steps)


def drift_tolerance(snap_W: np.ndarray, snap_steps: np.ndarray, snap_S: np.ndarray, lr: float, X: np.ndarray,
                    batch: int) -> np.ndarray:
    """Cumulative rounding tolerance for frozen differences, per snapshot and coordinate.

    Args:
        snap_W: (S, k, d) weights of one sign at the snapshots from `s₀` on.
        snap_steps: (S,) their steps.
        snap_S: (S,) recorded `S` (Σ g_t) at those snapshots.
        lr: the step η.
        X: training inputs (for `max_i |x_ic|`).
        batch: points per step (1 for SGD).

    Returns:
        (S, d) array; row 0 is zero (the reference snapshot). Float, rounded upward by a
        factor 2 for the few operations it takes (the checker redoes it exactly).
    """
    u = 2.0**-53
    xmax = np.max(np.abs(X), axis=0)
    tol = np.zeros((snap_W.shape[0], snap_W.shape[2]))
    for m in range(1, snap_W.shape[0]):
        a, b = int(snap_steps[m - 1]), int(snap_steps[m])
        Mc = np.maximum(_segment_bound(snap_W[m - 1], snap_S[m] - snap_S[m - 1], snap_S[m], b, b - a, lr, xmax, batch),
                        np.max(np.abs(snap_W[m]), axis=0))
        tol[m] = tol[m - 1] + 2 * u * (b - a) * Mc
    return tol * 2


def _drift(snap_W: np.ndarray) -> np.ndarray:
    """max over j of |(w_j − w_0)(s) − (w_j − w_0)(s₀)| per snapshot and coordinate (float)."""
    diff = snap_W - snap_W[:, :1, :]
    return np.max(np.abs(diff - diff[:1]), axis=1)


def _reference(run, reference) -> np.ndarray | None:
    if reference is not None:
        r = np.asarray(reference, dtype=np.float64).ravel()
    elif run.reference is not None:
        r = np.asarray(run.reference, dtype=np.float64).ravel()
    else:
        from ._margin import max_margin

        mm = max_margin(run.data)
        if not mm.separable:
            return None
        r = np.asarray(mm.direction, dtype=np.float64)
    if r.shape != (run.data.d,) or not np.all(np.isfinite(r)) or not np.any(r):
        raise InputError(f"reference direction must be a finite nonzero vector of length {run.data.d}")
    return r / np.linalg.norm(r)


def clustering_monitor(run, *, reference=None) -> dict:
    """Theorem 3's monitor on a run's snapshots (floating point; the certificate is exact).

    Args:
        run: a `verify.Run`.
        reference: unit direction `w*` for `γ` and `a₀` (default: the run's reference, else
            the max-margin direction of its data).

    Returns:
        `T`, `t0` (first step from which σ' values were shared per sign), `condition_met`,
        `reason`, `s0` (first snapshot step ≥ t₀), `snapshots` (per snapshot ≥ t₀: `step`,
        `D_w`, `D_u`, `beta`, `bound`, `bound_holds`, `drift`, `tolerance`), `frozen`
        (drift within the rounding tolerance everywhere), `bound_holds_all`, `gamma`,
        `a0`, `beta_final`, `beta_all` (β at every snapshot, t₀ or not).
    """
    traj = run.trajectory
    cfg = run.config
    alpha, lr, T = cfg.alpha, cfg.lr, traj.steps
    t0 = traj.shared_since
    steps = np.asarray(traj.snap_steps)
    beta_all = [band_beta(Wp, Wn, alpha) for Wp, Wn in zip(traj.snap_W_pos, traj.snap_W_neg)]
    after = np.flatnonzero(steps >= t0)
    out = {
        "T": T, "t0": int(t0), "alpha": alpha, "lr": lr,
        "condition_met": False, "s0": None, "snapshots": [], "frozen": None, "bound_holds_all": None,
        "gamma": None, "a0": None,
        "beta_final": band_beta(run.final.W_pos, run.final.W_neg, alpha),
        "beta_all": [{"step": int(s), "beta": b} for s, b in zip(steps, beta_all)],
        "shared_fail_count": int(traj.shared_fail_count),
    }
    if t0 >= T:
        out["reason"] = (f"condition not met: the neurons of a sign disagreed in σ' on the sampled point "
                         f"at the last step {T - 1} ({traj.shared_fail_count} disagreeing steps in all)")
        return out
    if after.size < 2:
        out["reason"] = (f"condition met only from step {t0} of {T}: no snapshot between t₀ and T, "
                         "so freezing cannot be observed (record more snapshots)")
        return out
    out["condition_met"] = True
    out["reason"] = f"σ' shared within each sign on every sampled point from step {t0} to {T - 1}"
    out["s0"] = int(steps[after[0]])
    batch = run.data.n if cfg.batch == 0 else cfg.batch
    Ssnap = traj.snap_sums[after, 0]
    Spsnap = traj.snap_sums[after, 1]
    parts = {}
    for name, W in (("pos", traj.snap_W_pos[after]), ("neg", traj.snap_W_neg[after])):
        parts[name] = (_drift(W), drift_tolerance(W, steps[after], Ssnap, lr, run.data.X, batch))
    r = _reference(run, reference)
    gamma = a0 = None
    if r is not None:
        gamma = float(np.min(run.data.y * (run.data.X @ r)))
        a0 = float((run.init.W_pos.sum(axis=0) - run.init.W_neg.sum(axis=0)) @ r)
        out["gamma"], out["a0"] = gamma, a0
    D0 = max(spread(traj.snap_W_pos[after[0]]), spread(traj.snap_W_neg[after[0]]))
    frozen = True
    holds_all = gamma is not None and gamma > 0
    for m, si in enumerate(after):
        drift = max(float(parts[p][0][m].max()) for p in parts)
        ok = all(np.all(parts[p][0][m] <= parts[p][1][m]) for p in parts)
        frozen &= bool(ok)
        row = {"step": int(steps[si]), "D_w": spread(traj.snap_W_pos[si]), "D_u": spread(traj.snap_W_neg[si]),
               "beta": beta_all[si], "drift": drift,
               "tolerance": max(float(parts[p][1][m].max()) for p in parts), "frozen": bool(ok)}
        if gamma is not None and gamma > 0:
            A = a0 + lr * gamma * Spsnap[m]
            bound = (1 - alpha) * D0 / (alpha * A) if A > 0 else math.inf
            row["bound"] = bound
            row["bound_holds"] = bool(beta_all[si] <= bound)
            holds_all &= row["bound_holds"]
        out["snapshots"].append(row)
    out["frozen"] = bool(frozen)
    out["bound_holds_all"] = bool(holds_all) if gamma is not None else None
    out["D_t0"] = D0
    return out


# ----------------------------------------------------------------------------- exact side


def _sqrt_lo(q: Fraction) -> Fraction:
    if q <= 0:
        return Fraction(0)
    n = q.numerator * q.denominator << (2 * _BITS)
    return Fraction(math.isqrt(n), q.denominator << _BITS)


def _sqrt_hi(q: Fraction) -> Fraction:
    if q <= 0:
        return Fraction(0)
    n = q.numerator * q.denominator << (2 * _BITS)
    s = math.isqrt(n)
    return Fraction(s if s * s == n else s + 1, q.denominator << _BITS)


def _F(a: np.ndarray) -> list:
    return [[Fraction(float(v)) for v in row] for row in np.asarray(a, dtype=np.float64)]


def _spread_bounds(W: np.ndarray) -> tuple[Fraction, Fraction]:
    rows = _F(W)
    k, d = len(rows), len(rows[0])
    mean = [sum((r[c] for r in rows), Fraction(0)) / k for c in range(d)]
    sq = [sum(((r[c] - mean[c]) ** 2 for c in range(d)), Fraction(0)) for r in rows]
    return sum(map(_sqrt_lo, sq), Fraction(0)), sum(map(_sqrt_hi, sq), Fraction(0))


def _beta_hi(Wp: np.ndarray, Wn: np.ndarray, alpha: Fraction) -> Fraction | None:
    P, N = _F(Wp), _F(Wn)
    v = [sum((r[c] for r in P), Fraction(0)) - sum((r[c] for r in N), Fraction(0)) for c in range(len(P[0]))]
    den = _sqrt_lo(sum((x * x for x in v), Fraction(0)))
    if den == 0:
        return None
    D = max(_spread_bounds(Wp)[1], _spread_bounds(Wn)[1])
    return (1 - alpha) * D / (alpha * den)


def _exact_drift(snap_W: np.ndarray) -> list[list[Fraction]]:
    """Exact per snapshot, per coordinate max_j |Δ(w_j − w_0)| (relative to the first snapshot)."""
    base = _F(snap_W[0])
    out = []
    for W in snap_W:
        rows = _F(W)
        d = len(rows[0])
        out.append([max(abs((rows[j][c] - rows[0][c]) - (base[j][c] - base[0][c])) for j in range(len(rows)))
                    for c in range(d)])
    return out


def _exact_tolerance(snap_W, steps, S, lr: Fraction, xmax: list[Fraction], batch: int) -> list[list[Fraction]]:
    tol = [[Fraction(0)] * len(xmax)]
    for m in range(1, len(steps)):
        a, b = int(steps[m - 1]), int(steps[m])
        Sb, Sa = Fraction(float(S[m])), Fraction(float(S[m - 1]))
        S_ab = max(Sb - Sa, Fraction(0)) + 3 * b * U * Sb
        Wa, Wb = _F(snap_W[m - 1]), _F(snap_W[m])
        row = []
        for c, xm in enumerate(xmax):
            ma = max(abs(r[c]) for r in Wa)
            mb = max(abs(r[c]) for r in Wb)
            Mc = max((ma + lr * xm * S_ab * (1 + (batch + 4) * U)) / (1 - U * (b - a)), mb)
            row.append(tol[-1][c] + 2 * U * (b - a) * Mc)
        tol.append(row)
    return tol


def _shared_exact(W: np.ndarray, x: np.ndarray) -> bool:
    xs = [Fraction(float(v)) for v in x]
    signs = {sum((a * b for a, b in zip(row, xs)), Fraction(0)) > 0 for row in _F(W)}
    return len(signs) <= 1


def certify_clustering(run_path, data: Dataset | None, out_dir, *, test=None, eps=None, reference=None) -> Path:
    """Write a `clustering` certificate (Theorem 3) for a saved run.

    Claims (all re-derived by `verify check` from the run file alone):
      * `shared_since == t₀` — the run's record, checked for consistency;
      * `condition_met == 1|0` — t₀ < T and at least two snapshots from t₀ on;
      * `beta_final <= b` — Theorem 2's band of the final network (exact, rounded up).
    When the condition is met, also:
      * `difference_drift <= δ` — the largest change of any `w_j − w_0` (`u_j − u_0`)
        coordinate between the first snapshot `s₀ ≥ t₀` and any later one (exact);
      * `differences_frozen` — every such change within the derived rounding tolerance;
      * `shared_at_snapshots` — (runs with per-step records) at every snapshot step in
        `[t₀, T)` the sampled point gets one σ' value per sign, in exact arithmetic;
      * `margin_gamma >= γ`, `beta_bound_all_snapshots` (β(s) ≤ the Theorem-3 bound at
        every snapshot from s₀ on) and `beta_bound_final <= B` (the bound at T), when a
        separating reference direction is known.
    A claim that does not hold in exact arithmetic is left out (and listed in `info`).

    Args:
        run_path: run `.npz` written by `save_run`.
        data: the run's training data (must match the copy stored in the run), or None.
        out_dir: folder for `clustering.json`.
        test: unused (accepted for a uniform builder signature).
        eps: unused (idem).
        reference: direction `w*` (default: the run's reference, else the max-margin one).

    Returns:
        Path of the certificate written.
    """
    from ._train import load_run

    run_path = Path(run_path)
    run = load_run(run_path)
    if data is not None and not (data.X.shape == run.data.X.shape and np.array_equal(data.X, run.data.X)
                                 and np.array_equal(data.y, run.data.y)):
        raise InputError(f"{data.source}: does not match the training data stored in {run_path}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder")
    mon = clustering_monitor(run, reference=reference)
    traj, cfg = run.trajectory, run.config
    alpha = Fraction(cfg.alpha)
    T, t0 = traj.steps, traj.shared_since
    claims, left_out = [], []
    claims.append(claim("shared_since", "==", int(t0), "first step from which σ' was shared within each sign"))
    claims.append(claim("condition_met", "==", int(mon["condition_met"]), mon["reason"]))
    bf = _beta_hi(run.final.W_pos, run.final.W_neg, alpha)
    if bf is not None:
        note = "Theorem 2 band of the final network" + (" (≥ 1: vacuous)" if bf >= 1 else "")
        claims.append(claim("beta_final", "<=", round_up(bf), note))
    else:
        left_out.append("beta_final: Σw_j − Σu_j = 0")
    witness = {"s0": mon["s0"]}
    steps = np.asarray(traj.snap_steps)
    if mon["condition_met"]:
        after = np.flatnonzero(steps >= t0)
        batch = run.data.n if cfg.batch == 0 else cfg.batch
        xmax = [Fraction(float(v)) for v in np.max(np.abs(run.data.X), axis=0)]
        lr = Fraction(cfg.lr)
        worst, frozen = Fraction(0), True
        for snaps in (traj.snap_W_pos[after], traj.snap_W_neg[after]):
            dr = _exact_drift(snaps)
            tl = _exact_tolerance(snaps, steps[after], traj.snap_sums[after, 0], lr, xmax, batch)
            worst = max(worst, max(max(r) for r in dr))
            # the factor 2 is the same safety factor as drift_tolerance's and the checker's
            frozen &= all(a <= 2 * b for ra, rb in zip(dr, tl) for a, b in zip(ra, rb))
        claims.append(claim("difference_drift", "<=", round_up(worst),
                            "largest change of a within-sign difference after s₀"))
        if frozen:
            claims.append(claim("differences_frozen", "==", 1, "every change within the derived rounding tolerance"))
        else:
            left_out.append("differences_frozen: a change exceeds the rounding tolerance")
        if traj.step_idx is not None:
            ok = all(_shared_exact(traj.snap_W_pos[si], run.data.X[traj.step_idx[steps[si]]])
                     and _shared_exact(traj.snap_W_neg[si], run.data.X[traj.step_idx[steps[si]]])
                     for si in after if steps[si] < T)
            if ok:
                claims.append(claim("shared_at_snapshots", "==", 1,
                                    "one σ' value per sign on the sampled point at every snapshot step in [t₀, T)"))
            else:
                left_out.append("shared_at_snapshots: exact σ' differ from the recorded ones at a snapshot")
        r = _reference(run, reference)
        if r is not None:
            rq = [Fraction(float(v)) for v in r]
            Xq, yq = _F(run.data.X), [Fraction(float(v)) for v in run.data.y]
            gnum = min(yi * sum((a * b for a, b in zip(xi, rq)), Fraction(0)) for xi, yi in zip(Xq, yq))
            r2 = sum((v * v for v in rq), Fraction(0))
            rlo, rhi = _sqrt_lo(r2), _sqrt_hi(r2)
            if gnum > 0:
                witness["reference"] = rational_list(r)
                claims.append(claim("margin_gamma", ">=", round_down(gnum / rhi), "γ of the reference direction"))
                P0 = _F(run.init.W_pos)
                N0 = _F(run.init.W_neg)
                a0num = sum((sum((row[c] for row in P0), Fraction(0)) - sum((row[c] for row in N0), Fraction(0))) * rq[c]
                            for c in range(len(rq)))
                Dlo = max(_spread_bounds(traj.snap_W_pos[after[0]])[0], _spread_bounds(traj.snap_W_neg[after[0]])[0])
                Dhi = max(_spread_bounds(traj.snap_W_pos[after[0]])[1], _spread_bounds(traj.snap_W_neg[after[0]])[1])
                holds, bound_T = True, None
                for si in after:
                    num = a0num + lr * gnum * Fraction(float(traj.snap_sums[si, 1]))
                    b_hi = _beta_hi(traj.snap_W_pos[si], traj.snap_W_neg[si], alpha)
                    if num <= 0 or b_hi is None:
                        holds = False
                        continue
                    if not b_hi <= (1 - alpha) * Dlo * rlo / (alpha * num):
                        holds = False
                    if steps[si] == T:
                        bound_T = (1 - alpha) * Dhi * rhi / (alpha * num)
                if holds:
                    claims.append(claim("beta_bound_all_snapshots", "==", 1,
                                        "β(s) ≤ (1−α)·max(D_w,D_u)(s₀)/(α(a₀+ηγS'_s)) at every snapshot from s₀"))
                else:
                    left_out.append("beta_bound_all_snapshots: the bound is vacuous or fails at some snapshot")
                if bound_T is not None:
                    claims.append(claim("beta_bound_final", "<=", round_up(bound_T), "the Theorem 3 bound at T"))
            else:
                left_out.append("margin_gamma: the reference direction does not separate the data")
    cert = make_certificate(
        "clustering",
        inputs=[input_entry("run", run_path, out_dir if out_dir.exists() else _mk(out_dir))],
        parameters={"alpha": cfg.alpha, "lr": cfg.lr, "steps": int(T), "width": cfg.width,
                    "unit_roundoff": rational(Fraction(1, 1 << 53))},
        claims=claims,
        witness=witness,
        info={"monitor": _jsonable_monitor(mon), "left_out": left_out},
    )
    return write_certificate(out_dir / "clustering.json", cert)


def _mk(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _jsonable_monitor(mon: dict) -> dict:
    def fix(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        if isinstance(v, list):
            return [fix(x) for x in v]
        if isinstance(v, (np.floating, np.integer, np.bool_)):
            return fix(v.item())
        return v
    return fix(mon)
