"""`verify train DATA --width K --alpha A --lr ETA --steps T --out RUN.npz`."""

from __future__ import annotations

import sys

from ..cli import emit
from ._common import add_data, add_json, out_path


def register(sub) -> None:
    p = sub.add_parser("train", help="train the paper-form network with SGD and record its trajectory")
    add_data(p)
    p.add_argument("--width", type=int, required=True, help="K neurons per output sign (2K hidden units)")
    p.add_argument("--alpha", type=float, required=True, help="LeakyReLU slope α in (0,1)")
    p.add_argument("--lr", type=float, required=True, help="step size η > 0")
    p.add_argument("--steps", type=int, required=True, help="number of updates T ≥ 1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init-scale", type=float, default=1e-3, help="initial neuron norm (0 = zero init)")
    p.add_argument("--sampling", choices=("uniform", "epoch"), default="uniform")
    p.add_argument("--batch", type=int, default=1, help="points per step (1 = SGD, 0 = full batch)")
    p.add_argument("--record-steps", action="store_true", help="keep per-step arrays (memory O(T))")
    p.add_argument("--snapshots", type=int, default=48, help="log-spaced weight snapshots")
    p.add_argument("--out", required=True, help="run file to write (.npz); with --runs R > 1 a folder")
    p.add_argument("--runs", type=int, default=1,
                   help="R independent runs with seeds SEED..SEED+R-1, trained together; --out is then a "
                        "folder of run-0000.npz, run-0001.npz, … files plus ensemble.json")
    p.add_argument("--device", default="cpu", help="cpu (numba, bit-identical to single runs) or cuda")
    p.add_argument("--backend", choices=("numba", "torch", "triton"), default=None,
                   help="ensemble engine (default: numba on cpu, triton else torch on cuda)")
    p.add_argument("--dtype", choices=("float64", "float32"), default=None,
                   help="ensemble weight precision (default: float64 on cpu, bit-identical to single runs; "
                        "float32 on cuda); running sums are float64 either way")
    add_json(p)
    p.set_defaults(run=run)


def config_from_args(args):
    from .._train import TrainConfig

    return TrainConfig(
        width=args.width, alpha=args.alpha, lr=args.lr, steps=args.steps, seed=args.seed,
        init_scale=args.init_scale, sampling=args.sampling, batch=args.batch,
        record_steps=args.record_steps, snapshots=args.snapshots,
    )


def run(args) -> int:
    from .. import _data, _train

    if args.runs != 1 or args.device != "cpu" or args.backend is not None or args.dtype is not None:
        return _run_ensemble(args)
    out = out_path(args.out, ".npz")
    data = _data.load_dataset(args.data, labels01=args.labels01)
    config = config_from_args(args).validate(data.n)
    bar = None
    if sys.stderr.isatty() and not args.json:
        from tqdm import tqdm

        bar = tqdm(total=config.steps, unit="step", unit_scale=True, file=sys.stderr)
    try:
        result = _train.train(data, config, progress=bar.update if bar else None)
    finally:
        if bar:
            bar.close()
    _train.save_run(out, result)
    s = result.summary()
    s["out"] = str(out)
    text = (f"trained {config.width}+{config.width} neurons on {data.source} (n={data.n}, d={data.d}) "
            f"for {s['steps']} steps in {s['seconds']:.2f} s\n"
            f"  train loss {s['train_loss']:.4g}   train error {s['train_error']:.4g}   S_T {s['S_T']:.4g}\n"
            f"  wrote {out}")
    emit(args, text, s)
    return 0


def _run_ensemble(args) -> int:
    from pathlib import Path

    from .. import _data, _ensemble, _train
    from .._errors import InputError

    R = args.runs
    if R < 1:
        raise InputError(f"--runs must be ≥ 1, got {R}")
    if R == 1:
        out = out_path(args.out, ".npz")
    else:
        out = Path(args.out)
        if out.suffix.lower() == ".npz" or (out.exists() and not out.is_dir()):
            raise InputError(f"{args.out}: with --runs {R} the output is a folder, not a file")
        if out.is_dir() and any(out.iterdir()):
            raise InputError(f"{args.out}: folder is not empty")
    data = _data.load_dataset(args.data, labels01=args.labels01)
    config = config_from_args(args).validate(data.n)
    seeds = list(range(args.seed, args.seed + R))
    runs = _ensemble.train_ensemble(data, config, seeds, device=args.device, backend=args.backend,
                                    dtype=args.dtype)
    if R == 1:
        _train.save_run(out, runs[0])
    else:
        _ensemble.save_ensemble(out, runs)
    s = _ensemble.ensemble_summary(runs)
    s["out"] = str(out)
    s["backend"] = runs[0].meta["ensemble"]["backend"]
    s["dtype"] = runs[0].meta["ensemble"]["dtype"]
    rate = s["run_steps_per_second"]
    text = (f"trained {R} runs (seeds {seeds[0]}..{seeds[-1]}) of {config.width}+{config.width} neurons on "
            f"{data.source} (n={data.n}, d={data.d}) for {s['steps']} steps each in {s['seconds']:.2f} s "
            f"on {args.device} ({s['backend']} {s['dtype']}, {rate:.3g} run-steps/s)\n"
            f"  train loss  mean {s['train_loss']['mean']:.4g}  max {s['train_loss']['max']:.4g}\n"
            f"  train error mean {s['train_error']['mean']:.4g}  max {s['train_error']['max']:.4g}\n"
            f"  S_T         min {s['S_T']['min']:.4g}  max {s['S_T']['max']:.4g}\n"
            f"  wrote {out}")
    emit(args, text, s)
    return 0
