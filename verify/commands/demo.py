"""`verify demo [--out DIR]` — the main job on the embedded default data."""

from __future__ import annotations

from ..cli import emit
from ._common import add_json


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the whole pipeline on the built-in linear-teacher data")
    p.add_argument("--out", default="demo-out", help="folder for the data, run, certificates (default ./demo-out)")
    add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from pathlib import Path

    from .._demo import run_demo
    from .._errors import InputError

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    ctx = run_demo(out)
    text = "\n".join(ctx.lines + [f"done in {ctx.results['seconds']:.1f} s; files in {out}/"])
    emit(args, text, ctx.results)
    failed = ctx.results.get("check", {}).get("accepted") is False
    return 1 if failed else 0
