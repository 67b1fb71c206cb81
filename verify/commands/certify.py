"""`verify certify RUN.npz --data DATA --out DIR [--kind K]` — write certificates for a run.

Each kind has one builder `certify_<kind>(run_path, data, out_dir, **options) -> Path`
(the certificate written), named below as "module:function" and imported only when used.
"""

from __future__ import annotations

import importlib

from ..cli import emit
from ._common import add_json

BUILDERS = {
    "convergence": "verify._convergence:certify_convergence",
    "clustering": "verify._clustering:certify_clustering",
    "linearity": "verify._linearity:certify_linearity",
}


def register(sub) -> None:
    p = sub.add_parser("certify", help="write certificates (JSON) for a training run")
    p.add_argument("run_file", metavar="RUN.npz")
    p.add_argument("--data", help="training data (default: the copy stored in the run)")
    p.add_argument("--labels01", action="store_true", help="map labels 0 → -1 and 1 → +1")
    p.add_argument("--test", help="test data for certified fractions (linearity)")
    p.add_argument("--kind", choices=sorted(BUILDERS) + ["all"], default="all")
    p.add_argument("--eps", type=float, default=0.1, help="loss level ε for Corollary 1 (convergence)")
    p.add_argument("--out", required=True, help="folder for the certificates")
    add_json(p)
    p.set_defaults(run=run)


def _builder(kind: str):
    module, func = BUILDERS[kind].split(":")
    return getattr(importlib.import_module(module), func)


def run(args) -> int:
    from pathlib import Path

    from .._data import load_dataset
    from .._errors import InputError

    run_path = Path(args.run_file)
    if not run_path.is_file():
        raise InputError(f"{run_path}: no such file")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    if not (args.eps > 0 and args.eps < float("inf")):
        raise InputError(f"--eps must be finite and > 0, got {args.eps}")
    data = load_dataset(args.data, labels01=args.labels01) if args.data else None
    test = load_dataset(args.test, labels01=args.labels01) if args.test else None
    kinds = sorted(BUILDERS) if args.kind == "all" else [args.kind]
    skipped = {}
    if args.kind == "all" and "convergence" in kinds and not _has_step_records(run_path):
        # Theorem 1's certificate re-counts the observed sums from per-step records
        kinds.remove("convergence")
        skipped["convergence"] = "the run has no per-step records (train with --record-steps)"
    written = {}
    for kind in kinds:
        written[kind] = str(_builder(kind)(run_path, data, out, test=test, eps=args.eps))
    lines = [f"{k:12s} → {p}" for k, p in written.items()]
    lines += [f"{k:12s} skipped: {why}" for k, why in skipped.items()]
    emit(args, "\n".join(lines), {"certificates": written, "skipped": skipped})
    return 0


def _has_step_records(path) -> bool:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as z:
            return "step_z" in z.files
    except Exception:
        return True  # not a readable run: let the builder give its own one-line error
