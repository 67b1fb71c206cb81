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
    p.add_argument("--out", required=True, help="run file to write (.npz)")
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
