"""`verify exact NET [--alpha A] [--direction v.npy] --out CERT.json` — certified β⁺, β⁻ (THEORY.md §6).

Solves the worst-case disagreement of the network with its linear classifier `sign⟨v,x⟩` on
the box `‖x‖_∞ ≤ 1` and writes a `disagreement` certificate that `verify check` re-derives.
"""

from __future__ import annotations

from ..cli import emit
from ._common import add_json, out_path


def register(sub) -> None:
    p = sub.add_parser("exact", help="certify the exact worst-case disagreement with the linear classifier")
    p.add_argument("network", metavar="NET", help="network: paper-form or run .npz, .pt, .safetensors")
    p.add_argument("--alpha", type=float, help="LeakyReLU slope (required for state dicts)")
    p.add_argument("--direction", metavar="v.npy",
                   help="direction v (default: the unit mean-center direction (w̄ − ū)/‖w̄ − ū‖)")
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds for the search (then an interval)")
    p.add_argument("--max-nodes", type=int, default=200000, help="LP budget (then an interval)")
    p.add_argument("--workers", type=int, choices=(1, 2),
                   help="2: β⁺ and β⁻ in two processes, each with the whole time limit (default where two cores are usable)")
    p.add_argument("--out", required=True, help="certificate to write (.json); the network copy goes beside it")
    add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from pathlib import Path

    from .._disagreement import certify_disagreement
    from .._errors import InputError

    out = out_path(args.out, ".json")
    if not Path(args.network).is_file():
        raise InputError(f"{args.network}: no such file")
    if not (args.time_limit > 0):
        raise InputError("--time-limit must be positive")
    if args.max_nodes < 1:
        raise InputError("--max-nodes must be at least 1")
    path = certify_disagreement(args.network, out.parent if str(out.parent) else Path("."), alpha=args.alpha,
                                v=args.direction, time_limit=args.time_limit, max_nodes=args.max_nodes,
                                name=out.name, workers=args.workers)
    import json

    info = json.loads(Path(path).read_text(encoding="utf-8"))["info"]
    ci = info["certified_interval"]

    def fmt(side):
        lo, hi = ci[side]
        return f"[{'—' if lo is None else f'{lo:.10g}'}, {hi:.10g}]"

    text = (f"β⁺ ∈ {fmt('plus')}   β⁻ ∈ {fmt('minus')}   "
            f"{'exactly linear on the box' if info['exactly_linear'] else 'not exactly linear'}"
            f"{'' if info['complete'] else '  (budget ran out: intervals, not values)'}\n"
            f"{info['nodes']} LPs, {info['seconds']:.2f} s  → {path}")
    emit(args, text, info | {"certificate": str(path)})
    return 0
