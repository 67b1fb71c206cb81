"""`verify sweep CONFIG.toml --out DIR [--scheduler ADDRESS] [--workers N] [--json]`."""

from __future__ import annotations

from ..cli import emit
from ._common import add_json


def register(sub) -> None:
    p = sub.add_parser("sweep", help="train, measure and certify a grid of runs on Dask")
    p.add_argument("config", metavar="CONFIG.toml", help="the grid ([sweep] options, [grid] axes)")
    p.add_argument("--out", required=True, help="results folder (cells/<hash>.json, results.parquet)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler (default: a LocalCluster)")
    p.add_argument("--workers", type=int, help="LocalCluster worker processes (default 2)")
    add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from .._sweep import run_sweep

    show = not args.json
    s = run_sweep(args.config, args.out, scheduler=args.scheduler, workers=args.workers,
                  progress=None if show else False)
    text = (f"{s['cells']} cells: {s['done']} computed, {s['skipped']} already finished, "
            f"{s['failed']} failed  ({s['seconds']:.1f} s)\n  wrote {s['results']}")
    emit(args, text, {k: s[k] for k in ("cells", "done", "skipped", "failed")})
    return 0
