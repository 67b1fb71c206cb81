"""Convergence certificates: Theorem 1 applied to a recorded SGD run (THEORY.md §2).

A run trained with per-step recording (`TrainConfig(record_steps=True)`, batch 1) stores
`z_t, g_t, s_t, ‖θ_t‖², ⟨θ_t, Θ_ref⟩` for every step. The certificate claims

* `S_T ≤ U` — the observed `Σ g(z_t)`, and `S_star ≤ U` — Theorem 1's bound, `U` its
  certified value (the largest root of `F`, enclosed with arb by `verify._bounds`);
* `count_loss_gt_eps ≤ C` and `corollary1_count ≤ C` — Corollary 1 (`C = U/(1−e^{−ε})`);
* `sum_loss ≤ L` and `corollary2_bound ≤ L` — Corollary 2 at `S̄ = U` (when `U ≤ 0.2178T`);
* `L1_excess ≤ 0`, `L2_excess ≤ 0` — L1 and L2 held at every step to within a tolerance
  derived from IEEE double rounding (the derivation is in
  `verify.check.kinds.convergence`'s docstring; in short: recorded sums of `d+m+2`
  products carry `γ_{d+m+2}` relative error, each weight update three roundings on the
  step and one on the sum, the computed margin `γ_{d+m+1}√m‖θ‖‖x‖`);

and reports the tightness `S_T/U` as information, not a claim. When `S* ≥ T/2` the bound
is vacuous: the certificate then claims only the per-step invariants and says so.

Rounding in the run cannot make the bound false: the constants that enter `F` are the
*effective* ones `a″ = min(a0, A_T − ηγS')`, `B″² = max(B², N_T − 2ηΣg z − η²R²S')`,
computed from the final weights, for which L1 and L2 summed over the run hold exactly
(they equal the initial `a0`, `B²` unless rounding ate all the slack; `info` says which).

The margin direction: the certified max-margin direction (`verify._margin.max_margin`)
when it separates the data with a larger margin than the run's reference, else the
reference (the teacher). γ, R², a0, B² are exact rationals computed from float64 data.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np

from ._errors import InputError

__all__ = ["certify_convergence", "run_parameters", "observed"]

_U = 2.0**-53


def _exact_dot(a: np.ndarray, w: list[Fraction]) -> Fraction:
    return sum((Fraction(float(x)) * v for x, v in zip(a, w)), Fraction(0))


def _exact_norm2(a: np.ndarray) -> Fraction:
    return sum((Fraction(float(x)) ** 2 for x in np.asarray(a).ravel()), Fraction(0))


def _align(Wp, Wn, w) -> Fraction:
    return sum((_exact_dot(r, w) for r in Wp), Fraction(0)) - sum((_exact_dot(r, w) for r in Wn), Fraction(0))


def _margin_exact(X, y, w: list[Fraction]) -> Fraction:
    return min(Fraction(float(yi)) * _exact_dot(x, w) for x, yi in zip(X, y))


def _choose_direction(run, data, direction: str) -> np.ndarray:
    cands = []
    if direction in ("auto", "reference") and run.reference is not None:
        cands.append(np.asarray(run.reference, dtype=np.float64))
    if direction in ("auto", "margin"):
        from ._margin import MarginUndecided, max_margin

        try:
            res = max_margin(data)
        except MarginUndecided:
            res = None  # neither margin certificate completed: fall back to the reference
        if res is not None and res.separable and res.w is not None:
            cands.append(np.asarray(res.w, dtype=np.float64))
    best, best_g = None, 0.0
    for w in cands:
        nw = float(np.linalg.norm(w))
        if not (nw > 0 and np.all(np.isfinite(w))):
            continue
        gmin = float(np.min(data.y * (data.X @ w))) / nw
        if gmin > best_g:
            best, best_g = w, gmin
    if best is None:
        raise InputError("no direction separates the training data with a positive margin "
                         "(no reference in the run and no max-margin separator)")
    return best


def _load(run_path, data):
    from ._train import load_run

    run = load_run(run_path)
    if data is not None and (data.X.shape != run.data.X.shape or not np.array_equal(data.X, run.data.X)
                             or not np.array_equal(data.y, run.data.y)):
        raise InputError(f"{run_path}: the given data is not the data this run was trained on")
    if run.config.batch != 1:
        raise InputError("Theorem 1 is certified for batch-1 SGD runs only")
    if run.final.k_pos != run.final.k_neg:
        raise InputError("Theorem 1 is stated for k neurons per sign (k₊ = k₋)")
    return run


def run_parameters(run, data=None, direction: str = "auto") -> dict:
    """Theorem 1's parameters of a run, exact, with safe float roundings for display.

    Returns:
        dict with exact `Fraction`s `gamma_r`, `rho` (‖w‖²), `R2`, `a_r`, `B2`, the unit-free
        floats `gamma` (rounded down), `radius`, `init_norm` (rounded up), `init_align`
        (rounded down), and `alpha`, `width`, `lr`, `steps`, `direction` (the w used).
    """
    data = run.data if data is None else data
    w = _choose_direction(run, data, direction)
    wq = [Fraction(float(v)) for v in w]
    rho = sum((v * v for v in wq), Fraction(0))
    gam_r = _margin_exact(data.X, data.y, wq)
    if not gam_r > 0:
        raise InputError("the chosen direction does not separate the data")
    R2 = max(_exact_norm2(x) for x in data.X)
    a_r = _align(run.init.W_pos, run.init.W_neg, wq)
    B2 = _exact_norm2(run.init.W_pos) + _exact_norm2(run.init.W_neg)
    import flint

    def q(x):
        return flint.arb(flint.fmpq(x.numerator, x.denominator))

    sr = q(rho).sqrt()
    gamma = _down(q(gam_r) / sr)
    radius = _up(q(R2).sqrt())
    init_norm = _up(q(B2).sqrt())
    init_align = _down(q(a_r) / sr)
    return {"direction": w, "gamma_r": gam_r, "rho": rho, "R2": R2, "a_r": a_r, "B2": B2,
            "gamma": gamma, "radius": radius, "init_norm": init_norm, "init_align": init_align,
            "alpha": float(run.config.alpha), "width": int(run.config.width), "lr": float(run.config.lr),
            "steps": int(run.config.steps)}


def _arf_q(a) -> Fraction:
    man, exp = a.man_exp()
    man, exp = int(man), int(exp)
    return Fraction(man * (1 << exp)) if exp >= 0 else Fraction(man, 1 << (-exp))


def _slack_up(x: float) -> float:
    """x raised by a relative 1e-9 (and rounded up): room for the checker's own rounding."""
    return math.nextafter(x * (1 + 1e-9) if x > 0 else x * (1 - 1e-9), math.inf)


def _up(x) -> float:
    q = _arf_q(x.mid()) + _arf_q(x.rad())
    f = float(q)
    return f if Fraction(f) >= q else math.nextafter(f, math.inf)


def _down(x) -> float:
    q = _arf_q(x.mid()) - _arf_q(x.rad())
    f = float(q)
    return f if Fraction(f) <= q else math.nextafter(f, -math.inf)


def observed(run, eps: float = 0.1) -> dict:
    """arb sums over the recorded steps: S_T, S'_T (exact slope sums), Σ g z, Σ ℓ, and the
    count of steps with ℓ(z_t) > ε (an upper count: ties in the ball are counted)."""
    import flint

    tr = run.trajectory
    z = tr.step_z
    m = 2 * run.config.width
    a = Fraction(run.config.alpha)
    s_rec = tr.step_s
    n1 = np.rint((s_rec - float(a) * m) / (1 - float(a))).astype(np.int64)
    slopes = [flint.arb(flint.fmpq(*_nd(j + a * (m - j)))) for j in range(m + 1)]
    e = flint.arb(float(eps))
    zeta = -(e.expm1().log())
    S = flint.arb(0)
    Sp = flint.arb(0)
    Sgz = flint.arb(0)
    Sl = flint.arb(0)
    cnt = 0
    for t in range(z.shape[0]):
        zt = flint.arb(float(z[t]))
        gt = 1 / (1 + zt.exp())
        S += gt
        Sp += gt * slopes[n1[t]]
        Sgz += gt * zt
        Sl += (-zt).exp().log1p()
        if not (zt >= zeta):
            cnt += 1
    return {"S": S, "S_prime": Sp, "sum_gz": Sgz, "sum_loss": Sl, "count": cnt}


def _nd(q: Fraction) -> tuple[int, int]:
    return q.numerator, q.denominator


def _per_step_ratio(run, params: dict) -> dict:
    """Float estimate of max |residual|/tolerance of L1 and L2 (information only; the
    checker re-derives the claims rigorously)."""
    tr = run.trajectory
    X, y = run.data.X, run.data.y
    d, m = X.shape[1], 2 * run.config.width
    eta, a = run.config.lr, run.config.alpha
    idx = tr.step_idx
    x = X[idx]
    xx = np.einsum("ij,ij->i", x, x)
    n1 = np.rint((tr.step_s - a * m) / (1 - a))
    sq = n1 + a * a * (m - n1)
    s = n1 + a * (m - n1)
    NT = float(np.sum(run.final.W_pos**2) + np.sum(run.final.W_neg**2))
    r = tr.step_norm2
    r1 = np.append(r[1:], NT)
    gN = (d + m + 2) * _U / (1 - (d + m + 2) * _U)
    gz = (d + m + 1) * _U / (1 - (d + m + 1) * _U)
    g3 = 3 * _U / (1 - 3 * _U)
    g = tr.step_g
    tn = np.sqrt(r / (1 - gN))
    tn1 = np.append(tn[1:], math.sqrt(NT))
    er = gN / (1 - gN) * r
    er1 = np.append(er[1:], 0.0)
    v = eta * g * np.sqrt(xx * sq)
    e = g3 * v + _U / (1 - _U) * tn1
    res2 = r1 - r - 2 * eta * g * tr.step_z - eta**2 * g**2 * xx * sq
    tol2 = er + er1 + 2 * eta * g * gz * math.sqrt(m) * tn * np.sqrt(xx) + 2 * tn1 * e + e * e
    out = {"L2_max_ratio": float(np.max(np.abs(res2) / tol2))}
    if tr.step_align is not None and run.reference is not None:
        ref = np.asarray(run.reference, dtype=np.float64)
        AT = float(run.final.W_pos.sum(0) @ ref - run.final.W_neg.sum(0) @ ref)
        al = tr.step_align
        al1 = np.append(al[1:], AT)
        smr = math.sqrt(m * float(ref @ ref))
        res1 = al1 - al - eta * g * y[idx] * (x @ ref) * s
        ea = gN * tn * smr
        ea1 = np.append(ea[1:], 0.0)
        tol1 = ea + ea1 + e * smr
        out["L1_max_ratio"] = float(np.max(np.abs(res1) / tol1))
    return out


def certify_convergence(run_path, data, out_dir, *, test=None, eps: float = 0.1, direction: str = "auto") -> Path:
    """Write `convergence.json` for a run recorded per step (Theorem 1 and its corollaries).

    Args:
        run_path: a run file written by `save_run` with `record_steps=True`.
        data: the training data (None: the copy stored in the run); must be the run's data.
        out_dir: folder for the certificate.
        test: unused (Theorem 1 is about the training steps); accepted for the common
            `certify` signature.
        eps: loss level ε of Corollary 1.
        direction: "auto" (the larger margin of the max-margin direction and the reference),
            "reference" or "margin".

    Returns:
        Path of the certificate written.

    Raises:
        InputError: the run has no per-step records, is not batch-1 SGD, or its data is not
            separable along any available direction.
    """
    import flint

    from ._bounds import largest_root
    from ._certificate import claim, input_entry, make_certificate, rational_list, write_certificate
    from .symbolic import _expressions as E
    from .symbolic._numeric import corollary1_arb, corollary2_arb

    if not (math.isfinite(eps) and eps > 0):
        raise InputError(f"eps must be finite and > 0, got {eps}")
    run_path = Path(run_path)
    run = _load(run_path, data)
    tr = run.trajectory
    if tr.step_z is None or tr.step_norm2 is None:
        raise InputError(f"{run_path}: the run has no per-step records; train with --record-steps")
    out_dir = Path(out_dir)
    old = flint.ctx.prec
    flint.ctx.prec = 200
    try:
        P = run_parameters(run, None, direction)
        obs = observed(run, eps)
        k, T, eta = P["width"], P["steps"], Fraction(P["lr"])

        def q(x):
            return flint.arb(flint.fmpq(x.numerator, x.denominator))

        wq = [Fraction(float(v)) for v in P["direction"]]
        A_T = _align(run.final.W_pos, run.final.W_neg, wq)
        N_T = _exact_norm2(run.final.W_pos) + _exact_norm2(run.final.W_neg)
        sigma1 = q(A_T) - q(eta) * q(P["gamma_r"]) * obs["S_prime"]
        sigma2 = q(N_T) - 2 * q(eta) * obs["sum_gz"] - q(eta) ** 2 * q(P["R2"]) * obs["S_prime"]
        a_eff = min(P["a_r"], _arf_q(sigma1.mid()) - _arf_q(sigma1.rad()))
        B2_eff = max(P["B2"], _arf_q(sigma2.mid()) + _arf_q(sigma2.rad()))
        if a_eff * a_eff > 2 * k * P["rho"] * B2_eff:
            raise InputError("the run's effective initial alignment violates Cauchy–Schwarz; rounding ate the slack")
        sr = q(P["rho"]).sqrt()
        params = (flint.arb(T), flint.arb(k), flint.arb(P["alpha"]), q(P["gamma_r"]) / sr, flint.arb(P["lr"]),
                  q(P["R2"]).sqrt(), q(B2_eff).sqrt(), q(a_eff) / sr)
        root = largest_root(params, T)
        S_T_up = _up(obs["S"])
        info = {"S_T": float(obs["S"].mid()), "gamma": P["gamma"], "radius": P["radius"],
                "init_norm": P["init_norm"], "init_align": P["init_align"],
                "effective_constants_nominal": a_eff == P["a_r"] and B2_eff == P["B2"],
                "vacuous": root is None, "half_T": T / 2, "count_loss_gt_eps": obs["count"],
                "sum_loss": float(obs["sum_loss"].mid()), "n": run.data.n, "d": run.data.d}
        info |= _per_step_ratio(run, P)
        claims = []
        if root is not None:
            U = root[1]
            info["S_star"] = U
            info["tightness"] = float(obs["S"].mid()) / U
            # observed quantities are claimed tightly (a relative 1e-9 of slack absorbs the
            # checker's own arb rounding); the theorem's bounds are claimed tightly too, and
            # "observed ≤ bound" is a derived fact claimed as == 1
            claims.append(claim("S_T", "<=", _slack_up(S_T_up), "observed sum of g(z_t) over the recorded steps"))
            claims.append(claim("S_star", "<=", U, "largest root of F (Theorem 1), needs S* <= T/2"))
            claims.append(claim("S_T_within_bound", "==", 1, "observed S_T <= the certified upper end of S*"))
            C = _up(corollary1_arb(flint.arb(U), flint.arb(float(eps))))
            claims.append(claim("count_loss_gt_eps", "<=", obs["count"], f"observed steps with loss > {eps}"))
            claims.append(claim("corollary1_count", "<=", C, "S*/(1-exp(-eps)) (Corollary 1)"))
            claims.append(claim("count_within_corollary1", "==", 1, "observed count <= Corollary 1's bound"))
            cst = E.U_STAR_CONSTANT
            if Fraction(U) <= Fraction(cst.p, cst.q) * T:
                Lb = _up(corollary2_arb(flint.arb(U), *params))
                claims.append(claim("sum_loss", "<=", _slack_up(_up(obs["sum_loss"])), "observed sum of sampled losses"))
                claims.append(claim("corollary2_bound", "<=", Lb, "Corollary 2 at Sbar = S*"))
                claims.append(claim("sum_loss_within_corollary2", "==", 1, "observed sum of losses <= Corollary 2"))
                info["loss_bound"] = Lb
            if S_T_up > U:
                raise InputError(f"observed S_T = {S_T_up} exceeds the certified bound {U}: the run is not an "
                                 "SGD run of this network on this data")
        if tr.step_align is not None and run.reference is not None:
            claims.append(claim("L1_excess", "<=", 0.0, "max_t |L1 residual| - rounding tolerance"))
        claims.append(claim("L2_excess", "<=", 0.0, "max_t |L2 residual| - rounding tolerance"))
        params_json = {"alpha": P["alpha"], "lr": P["lr"], "width": k, "steps": T, "eps": float(eps),
                       "rounding": "IEEE binary64, u = 2^-53"}
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / "convergence.json"
        inputs = [input_entry("run", run_path, out_dir)]
        cert = make_certificate("convergence", inputs, params_json, claims,
                                {"direction": rational_list(P["direction"])}, info)
        return write_certificate(out, cert)
    finally:
        flint.ctx.prec = old
