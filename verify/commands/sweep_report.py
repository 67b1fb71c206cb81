"""`verify sweep-report DIR [--json]` — findings table and figures of a finished sweep."""

from __future__ import annotations

from ..cli import emit
from ._common import add_json


def register(sub) -> None:
    p = sub.add_parser("sweep-report", help="findings (Markdown table) and figures of a sweep folder")
    p.add_argument("folder", metavar="DIR", help="the --out folder of `verify sweep`")
    p.add_argument("--no-figures", action="store_true", help="write only findings.md")
    add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from .._sweep_report import sweep_report

    rep = sweep_report(args.folder, figures=not args.no_figures)
    text = rep["markdown"] + f"\n\nwrote {rep['findings']}" + "".join(f"\n      {p}" for p in rep["figures"])
    emit(args, text, {k: rep[k] for k in ("findings", "figures", "summary")})
    return 0
