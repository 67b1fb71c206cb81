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


# THEORY.md §4's regime for a shared pattern: α = 0.5, small initialization, small step
SHARED_CONFIG = TrainConfig(width=5, alpha=0.5, lr=0.001, steps=200000, seed=0, init_scale=1e-3, record_steps=True)


def stage_clustering(ctx: DemoContext) -> None:
    from ._clustering import certify_clustering, clustering_monitor
    from ._clusters import neuron_clusters

    results = {}
    for name, run, path in (("demo run", ctx.run, ctx.run_path), ("shared-pattern run", None, None)):
        if run is None:
            run = train(ctx.data, SHARED_CONFIG)
            path = save_run(ctx.out / "run-shared.npz", run)
        folder = ctx.out / ("clustering" if name == "demo run" else "clustering-shared")
        cert = certify_clustering(path, None, folder)
        ctx.certificates.append(cert)
        mon = clustering_monitor(run)
        cl = neuron_clusters(run.final, tau=0.99)
        results[name] = {"t0": mon["t0"], "condition_met": mon["condition_met"], "frozen": mon["frozen"],
                         "bound_holds_all": mon["bound_holds_all"], "beta_final": mon["beta_final"],
                         "clusters": cl["count"], "two_clusters": cl["two_clusters"], "certificate": str(cert)}
        state = (f"t₀ = {mon['t0']}, differences {'frozen' if mon['frozen'] else 'NOT frozen'}, β(T) = "
                 f"{mon['beta_final']:.3g} under the bound at every snapshot: {mon['bound_holds_all']}"
                 if mon["condition_met"] else mon["reason"].split(":")[0])
        ctx.lines.append(f"cluster   {name}: {state}; {cl['count']} clusters at τ=0.99  → {cert}")
    ctx.results["clustering"] = results


def stage_linearity(ctx: DemoContext) -> None:
    """Theorem 2 on the demo run: a linearity certificate (train + a fresh test set) and an audit report."""
    import numpy as np

    from ._audit import audit
    from ._linearity import certify_linearity

    rng = np.random.default_rng(1)
    Xt = rng.standard_normal((2000, ctx.data.d))
    test = Dataset(Xt, np.where(Xt @ ctx.data.teacher > 0, 1.0, -1.0), teacher=ctx.data.teacher, source="demo test")
    cert = certify_linearity(ctx.run_path, None, ctx.out / "linearity", test=test)
    ctx.certificates.append(cert)
    r = audit(ctx.run.final, ctx.data, test, run=ctx.run, report_dir=ctx.out / "audit")
    ctx.results["linearity"] = {k: r[k] for k in ("band_beta", "band_probability", "certified_fraction",
                                                  "agreement_fraction", "angles_deg")} | {
        "certificate": str(cert), "report": r["report"]}
    cf = r["certified_fraction"]
    ctx.lines.append(f"linearity β = {r['band_beta']:.3g}{' (vacuous)' if r['vacuous'] else ''}, P(band) = "
                     f"{r['band_probability']:.3g}, certified train {cf['train']:.3f} / test {cf['test']:.3f}, "
                     f"angle to P* {r['angles_deg'].get('network-P*', float('nan')):.2f}°  → {cert}, {r['report']}")


def stage_convergence(ctx: DemoContext) -> None:
    """Theorem 1 on the demo run: the certified bound on S_T and its convergence certificate."""
    import json

    from ._convergence import certify_convergence

    cert_path = certify_convergence(ctx.run_path, None, ctx.out / "convergence", eps=0.1)
    ctx.certificates.append(cert_path)
    info = json.loads(cert_path.read_text(encoding="utf-8"))["info"]
    ctx.results["convergence"] = {k: info.get(k) for k in ("S_T", "S_star", "tightness", "vacuous", "gamma",
                                                           "count_loss_gt_eps", "loss_bound")} | {
        "certificate": str(cert_path)}
    if info["vacuous"]:
        ctx.lines.append(f"converge  S_T = {info['S_T']:.4g}; Theorem 1's bound is vacuous (S* ≥ T/2)  → {cert_path}")
    else:
        ctx.lines.append(f"converge  S_T = {info['S_T']:.4g} ≤ S* = {info['S_star']:.6g} (tightness "
                         f"{info['tightness']:.3g}, γ = {info['gamma']:.4g}); loss > 0.1 on "
                         f"{info['count_loss_gt_eps']} steps  → {cert_path}")


def stage_exact(ctx: DemoContext) -> None:
    """THEORY.md §6 on the demo run: certified worst-case disagreement β⁺, β⁻ with sign⟨v,x⟩."""
    import json

    from ._disagreement import certify_disagreement

    cert = certify_disagreement(ctx.run_path, ctx.out / "exact", time_limit=30.0)
    ctx.certificates.append(cert)
    info = json.loads(cert.read_text(encoding="utf-8"))["info"]
    ctx.results["exact"] = info | {"certificate": str(cert)}
    ci = info["certified_interval"]
    ctx.lines.append(f"exact     β⁺ ∈ [{ci['plus'][0]:.6g}, {ci['plus'][1]:.6g}], β⁻ ∈ [{ci['minus'][0]:.6g}, "
                     f"{ci['minus'][1]:.6g}] on ‖x‖∞ ≤ 1 ({info['nodes']} LPs, {info['seconds']:.2f} s)  → {cert}")


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


STAGES = [stage_data, stage_margin, stage_train, stage_clustering, stage_linearity, stage_convergence, stage_exact,
          stage_check]


def run_demo(out: str | Path = "demo-out") -> DemoContext:
    """Run every stage into folder `out`; returns the context with results and summary lines."""
    ctx = DemoContext(out=Path(out))
    ctx.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for stage in STAGES:
        stage(ctx)
    ctx.results["seconds"] = time.perf_counter() - t0
    return ctx
