"""`verify sweep CONFIG.toml --out DIR [--scheduler ADDRESS] [--workers N] [--no-ensemble] [--json]`.

`verify sweep CONFIG.toml --estimate K` times K random cells here and extrapolates the
wall time of the whole grid (writes nothing).
"""

from __future__ import annotations

from ..cli import emit
from ._common import add_json


def register(sub) -> None:
    p = sub.add_parser("sweep", help="train, measure and certify a grid of runs on Dask")
    p.add_argument("config", metavar="CONFIG.toml", help="the grid ([sweep] options, [grid] axes)")
    p.add_argument("--out", help="results folder (cells/<hash>.json, results.parquet)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler (default: a LocalCluster)")
    p.add_argument("--workers", type=int, help="LocalCluster worker processes (default 2)")
    p.add_argument("--no-ensemble", dest="ensemble", action="store_false", default=None,
                   help="train every cell alone (default, unless [sweep] ensemble = false: cells that differ "
                        "only in seed, on the same data, train together as one ensemble; the same results)")
    p.add_argument("--estimate", type=int, metavar="K",
                   help="time K random cells and extrapolate the grid's wall time (no --out needed)")
    add_json(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from .._errors import InputError
    from .._sweep import estimate_wall, run_sweep

    if args.estimate is not None:
        e = estimate_wall(args.config, args.estimate, workers=args.workers or 2)
        text = (f"{e['cells']} cells; {e['sampled']} timed: mean {e['mean_cell_cpu_seconds']:.3f} CPU s per cell "
                f"(wall {e['mean_cell_seconds']:.3f} s, max {e['max_cell_seconds']:.3f} s, {e['failed']} failed)\n"
                f"  expected wall time on {e['workers']} idle cores: {e['expected_wall_seconds']:.0f} s "
                f"({e['expected_wall_seconds'] / 3600:.2f} h)")
        emit(args, text, e)
        return 0
    if not args.out:
        raise InputError("--out DIR is required (or --estimate K)")

    show = not args.json
    s = run_sweep(args.config, args.out, scheduler=args.scheduler, workers=args.workers,
                  progress=None if show else False, ensemble=args.ensemble)
    text = (f"{s['cells']} cells: {s['done']} computed, {s['skipped']} already finished, "
            f"{s['failed']} failed  ({s['seconds']:.1f} s)\n  wrote {s['results']}")
    emit(args, text, {k: s[k] for k in ("cells", "done", "skipped", "failed")})
    return 0
