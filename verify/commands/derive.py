"""`verify derive [--latex] [--json] [--falsify N]` — the derivation chain of Theorem 1 and
the route each proof took ("proved (sympy)" or "proved (interval cover)")."""

from __future__ import annotations

from ..cli import emit
from ._common import add_json


def register(sub) -> None:
    p = sub.add_parser("derive", help="prove the lemmas of Theorem 1 (sympy / interval cover) and print the chain")
    p.add_argument("--latex", action="store_true", help="print each statement in LaTeX")
    p.add_argument("--falsify", type=int, default=0, metavar="N",
                   help="also run each lemma's falsifier on N seeded samples")
    p.add_argument("--seed", type=int, default=0, help="seed of the falsifiers")
    add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from .._errors import InputError
    from ..symbolic import derivation
    from ..symbolic._dynamics import derive_gradient, network_expr

    if args.falsify < 0:
        raise InputError(f"--falsify must be ≥ 0, got {args.falsify}")
    grad = derive_gradient(network_expr(1, 2))
    rows = derivation(latex=args.latex, falsify_trials=args.falsify, seed=args.seed)
    lines = [f"dynamics: {grad['formula']}",
             f"  differentiated in all {grad['regions']} activation regions: {'ok' if grad['ok'] else 'MISMATCH'}", ""]
    for i, r in enumerate(rows, 1):
        lines.append(f"{i:2d}. {r['name']:<20s} {r['route']:<24s} {r['title']}  [{r['section']}]")
        if args.latex:
            lines.append(f"      $${r['latex']}$$")
        for s in r["steps"]:
            lines.append(f"      · {s}")
        if args.falsify:
            ce = r["counterexample"]
            lines.append(f"      falsifier ({args.falsify} samples): "
                         + ("no counterexample" if ce is None else f"COUNTEREXAMPLE {ce}"))
    ok = grad["ok"] and all(r["proved"] for r in rows) and not any(r.get("counterexample") for r in rows)
    lines.append("")
    lines.append(f"{sum(r['proved'] for r in rows)}/{len(rows)} lemmas proved")
    emit(args, "\n".join(lines), {"dynamics": grad, "lemmas": rows, "all_proved": ok})
    return 0 if ok else 1
