"""`verify demo`: the whole story on the embedded default, in stages.

data → (margin certificate) → training → (convergence, linearity, clustering
certificates, audit report) → `verify check` on every certificate. Each stage is a
function `stage(ctx)` in `STAGES`; it adds lines to the summary and entries to
`ctx.results`, and writes its files under `ctx.out`. The demo must finish in under two
minutes on a 2-core machine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ._data import Dataset, load_dataset, save_dataset
from ._train import Run, TrainConfig, save_run, train

DEFAULT_DATA = "teacher:n=400,d=10,seed=0,margin=0.1"
DEFAULT_CONFIG = TrainConfig(width=10, alpha=0.5, lr=0.05, steps=20000, seed=0, init_scale=1e-3,
                             record_steps=True)


@dataclass
class DemoContext:
    out: Path
    data: Dataset | None = None
    data_path: Path | None = None
    run: Run | None = None
    run_path: Path | None = None
    certificates: list[Path] = field(default_factory=list)
    results: dict = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


def stage_data(ctx: DemoContext) -> None:
    ctx.data = load_dataset(DEFAULT_DATA)
    ctx.data_path = save_dataset(ctx.out / "data.npz", ctx.data)
    ctx.results["data"] = {"source": ctx.data.source, "n": ctx.data.n, "d": ctx.data.d,
                           "path": str(ctx.data_path)}
    ctx.lines.append(f"data      {ctx.data.source}  → {ctx.data_path}")


def stage_train(ctx: DemoContext) -> None:
    ctx.run = train(ctx.data, DEFAULT_CONFIG)
    ctx.run_path = save_run(ctx.out / "run.npz", ctx.run)
    s = ctx.run.summary()
    ctx.results["train"] = s | {"path": str(ctx.run_path)}
    c = DEFAULT_CONFIG
    ctx.lines.append(
        f"train     k={c.width} per sign, α={c.alpha}, η={c.lr}, T={c.steps}: loss {s['train_loss']:.3g}, "
        f"error {s['train_error']:.3g}, S_T {s['S_T']:.4g}, {s['seconds']:.2f} s  → {ctx.run_path}")


def stage_margin(ctx: DemoContext) -> None:
    from ._margin import certify_separability, max_margin

    res = max_margin(ctx.data)
    path = certify_separability(ctx.data, ctx.out / "margin.cert.json", data_path=ctx.data_path, result=res)
    ctx.certificates.append(path)
    ctx.results["margin"] = res.to_dict() | {"certificate": str(path)}
    ctx.lines.append(f"margin    {res.lower:.10g} ≤ γ* ≤ {res.upper:.10g} (gap {res.gap:.1e}, "
                     f"{len(res.support)} support vectors, {res.seconds:.2f} s)  → {path}")


def stage_check(ctx: DemoContext) -> None:
    from .check import Unreadable, check_certificate

    reports = []
    for path in ctx.certificates:
        try:
            r = check_certificate(path)
            reports.append({"certificate": str(path), "kind": r.kind, "accepted": r.accepted,
                            "rejected": [c.name for c in r.results if not c.accepted], "error": r.error})
        except Unreadable as exc:
            reports.append({"certificate": str(path), "kind": None, "accepted": False, "rejected": [],
                            "error": str(exc)})
    ok = all(r["accepted"] for r in reports)
    ctx.results["check"] = {"accepted": ok, "certificates": reports}
    bad = [r["certificate"] for r in reports if not r["accepted"]]
    ctx.lines.append(f"check     {len(reports) - len(bad)}/{len(reports)} certificates accepted"
                     + (f"; REJECTED: {', '.join(bad)}" if bad else ""))


STAGES = [stage_data, stage_margin, stage_train, stage_check]


def run_demo(out: str | Path = "demo-out") -> DemoContext:
    """Run every stage into folder `out`; returns the context with results and summary lines."""
    ctx = DemoContext(out=Path(out))
    ctx.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for stage in STAGES:
        stage(ctx)
    ctx.results["seconds"] = time.perf_counter() - t0
    return ctx
