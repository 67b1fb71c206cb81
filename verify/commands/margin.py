"""`verify margin DATA [--bias] [--out CERT.json] [--json]` — certified max-margin separator.

Exit 0: separable (certified `lower ≤ γ* ≤ upper`); 1: not separable (Gordan certificate);
2: bad input; 3: undecided at float64 precision (no certificate written).
"""

from __future__ import annotations

from ..cli import emit
from ._common import add_data, add_json, out_path

EXIT_UNDECIDED = 3


def register(sub) -> None:
    p = sub.add_parser(
        "margin", help="certified hard-margin separator (or a certificate that none exists)",
        description="Homogeneous hard-margin separator max_{|w|<=1} min_i y_i<w,x_i>, solved by cvxpy+Clarabel "
                    "on a working set and certified in exact arithmetic. Exit 0 separable, 1 not separable "
                    "(non-separability certificate), 2 bad input, 3 undecided at float64 precision.")
    add_data(p)
    p.add_argument("--bias", action="store_true",
                   help="append a constant coordinate 1 to every point (a bias; it counts in ||w||)")
    p.add_argument("--out", help="write the certificate here (.json); spec data is saved beside it as .data.npz")
    add_json(p)
    p.set_defaults(run=run)


def _fmt_vec(v, k: int = 8) -> str:
    head = ", ".join(f"{x:.6g}" for x in v[:k])
    return f"[{head}{', …' if len(v) > k else ''}]"


def run(args) -> int:
    import sys

    from .._data import load_dataset
    from .._margin import MarginUndecided, certify_separability, max_margin

    out = out_path(args.out, ".json") if args.out else None
    data = load_dataset(args.data, labels01=args.labels01)
    try:
        res = max_margin(data, bias=args.bias)
    except MarginUndecided as exc:
        print(f"verify: undecided: {exc}", file=sys.stderr)
        return EXIT_UNDECIDED
    cert = None
    if out is not None:
        cert = certify_separability(data, out, bias=args.bias, data_path=args.data, result=res)
    obj = res.to_dict() | {"source": data.source, "certificate": None if cert is None else str(cert)}
    where = f"{data.source}{' + bias column' if args.bias else ''} (n={res.n}, d={res.d})"
    if res.separable:
        lines = [
            f"separable: {where}",
            f"  margin    {res.lower:.17g} ≤ γ* ≤ {res.upper:.17g}   (relative gap {res.gap:.2g}, certified)",
            f"  direction {_fmt_vec(res.direction)}",
            f"  support   {len(res.support)} vectors {_fmt_vec(sorted(int(i) for i in res.support), 12)}",
        ]
    else:
        lines = [
            f"not separable: {where}",
            f"  Gordan    Σλ_i y_i x_i = 0 exactly with λ ≥ 0, Σλ = 1 on {len(res.support)} points "
            f"{_fmt_vec(sorted(int(i) for i in res.support), 12)}",
        ]
    lines.append(f"  solver    {res.solver}; {res.rounds} round(s), working set {res.working_set}, {res.seconds:.3f} s")
    if cert is not None:
        lines.append(f"  certificate → {cert}  (check with: verify check {cert})")
    emit(args, "\n".join(lines), obj)
    return 0 if res.separable else 1
