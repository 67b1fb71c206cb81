"""`verify bound` — Theorem 1's bound and corollaries at given parameters, or for a run.

    verify bound --gamma G --radius R --alpha A --width K --lr ETA --steps T
                 [--init-norm B] [--init-align A0] [--eps E] [--json]
    verify bound --run RUN.npz [--data DATA] [--eps E] [--json]
"""

from __future__ import annotations

from ..cli import emit
from ._common import add_json


def register(sub) -> None:
    p = sub.add_parser("bound", help="Theorem 1: certified S* (root of F), closed form, Corollaries 1 and 2")
    p.add_argument("--gamma", type=float, help="margin γ of a unit separator")
    p.add_argument("--radius", type=float, help="R ≥ max ‖x_i‖")
    p.add_argument("--alpha", type=float, help="leak α in (0,1)")
    p.add_argument("--width", type=int, help="k neurons per output sign")
    p.add_argument("--lr", type=float, help="step size η")
    p.add_argument("--steps", type=int, help="number of SGD steps T")
    p.add_argument("--init-norm", type=float, default=0.0, help="B = ‖θ₀‖ (default 0)")
    p.add_argument("--init-align", type=float, default=0.0, help="a0 = <θ₀, Θ*> (default 0)")
    p.add_argument("--eps", type=float, default=None, help="loss level ε for Corollary 1")
    p.add_argument("--run", dest="run_file", metavar="RUN.npz", help="take γ (certified), R, α, k, η, T, B, a0 from a run")
    p.add_argument("--data", help="the run's training data (default: the copy stored in the run)")
    p.add_argument("--labels01", action="store_true", help="map labels 0 → -1 and 1 → +1")
    add_json(p)
    p.set_defaults(run=run)


def _fmt(x) -> str:
    return "—" if x is None else f"{x:.10g}"


def run(args) -> int:
    from pathlib import Path

    from .._bounds import convergence_bound
    from .._errors import InputError

    if args.run_file:
        from .._convergence import run_parameters
        from .._data import load_dataset
        from .._train import load_run

        if not Path(args.run_file).is_file():
            raise InputError(f"{args.run_file}: no such file")
        r = load_run(args.run_file)
        data = load_dataset(args.data, labels01=args.labels01) if args.data else None
        if data is not None and (data.X.shape != r.data.X.shape or not (data.X == r.data.X).all()
                                 or not (data.y == r.data.y).all()):
            raise InputError(f"{args.run_file}: the given data is not the data this run was trained on")
        P = run_parameters(r, data)
        kw = {k: P[k] for k in ("gamma", "radius", "alpha", "width", "lr", "steps", "init_norm", "init_align")}
        source = f"run {args.run_file}"
    else:
        missing = [f"--{n.replace('_', '-')}" for n in ("gamma", "radius", "alpha", "width", "lr", "steps")
                   if getattr(args, n) is None]
        if missing:
            raise InputError(f"give {', '.join(missing)} (or --run RUN.npz)")
        kw = {"gamma": args.gamma, "radius": args.radius, "alpha": args.alpha, "width": args.width,
              "lr": args.lr, "steps": args.steps, "init_norm": args.init_norm, "init_align": args.init_align}
        source = "given parameters"
    res = convergence_bound(**kw, eps=args.eps)
    p = res["parameters"]
    lines = [f"Theorem 1 (THEORY.md §2), {source}: γ={p['gamma']:.6g} R={p['radius']:.6g} α={p['alpha']:.6g} "
             f"k={p['width']} η={p['lr']:.6g} T={p['steps']} B={p['init_norm']:.6g} a0={p['init_align']:.6g}"]
    if res["vacuous"]:
        lines.append(f"  S* ≥ T/2 = {res['half_T']:.10g}: the bound is VACUOUS at these parameters")
    else:
        lo, hi = res["S_star_interval"]
        lines.append(f"  S_T ≤ S* = {hi:.15g}   (certified: S* ∈ [{lo:.15g}, {hi:.15g}], T/2 = {res['half_T']:.10g})")
    lines.append(f"  closed form, s0 = S0 = {res['closed_form_s0']:.10g}:  "
                 + ("vacuous (≥ T/2)" if res["closed_form"] is None else f"S_T ≤ {res['closed_form']:.15g}"))
    if res["zero_init"]:
        lines.append(f"  zero init: THEORY.md closed form {_fmt(res['zero_init_closed_form'])}, "
                     f"Lambert-W form {_fmt(res['lambert_w'])}")
    lines.append(f"  leading term log T/(kα²γ²η) = {res['asymptotic']:.10g}")
    if args.eps is not None:
        lines.append(f"  Corollary 1 (ε = {args.eps:g}): at most {_fmt(res['eps_count'])} steps with sampled loss > ε")
    lines.append("  Corollary 2: Σ_{t<T} ℓ_t ≤ " + ("— (needs S* ≤ 0.2178·T)" if res["loss_bound"] is None
                                                  else f"{res['loss_bound']:.10g}"))
    emit(args, "\n".join(lines), res)
    return 0
