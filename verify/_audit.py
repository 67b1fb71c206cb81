"""Audit of a trained two-layer Leaky-ReLU network (THEORY.md §3, §4, §6; ARCHITECTURE.md "audit").

For a network trained anywhere (a `verify` run, a paper-form `.npz`, a PyTorch state dict)
the audit answers: how linear is it (Theorem 2's band β, its probability, the per-point
certified and exact-agreement fractions), how clustered (networkx components of the
cosine-similarity graph per sign), how close to the max-margin separator, the predicted
limit direction `P*` and the teacher (angles), and — with a run — how β and the cluster
count evolved. Optionally the exact worst-case disagreement (THEORY.md §6) and a Markdown
report with figures (matplotlib, Agg backend).

Everything here is descriptive floating point except what `_linearity` computes as rigorous
upper bounds (β, D, the band probability) and the fractions, which count a point only
beyond a bound on its rounding error; `verify certify --kind linearity` turns them into a
certificate that `verify check` re-derives exactly.

For networks with biases the direction, band and fractions live in the lifted space `(x, 1)`
(see `verify._linearity`).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from ._data import Dataset
from ._errors import InputError
from ._network import Network
from ._io import jsonable

__all__ = ["audit", "write_report"]


def _finite(x):
    """JSON-safe float: inf/NaN become None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _run_history(run, tau: float) -> dict:
    """β(t), cluster counts and Theorem 3's monitor over a run's snapshots."""
    from ._clusters import cluster_counts
    from ._linearity import band

    traj = run.trajectory
    alpha = run.final.alpha
    betas = []
    for Wp, Wn in zip(traj.snap_W_pos, traj.snap_W_neg):
        if not (np.any(Wp) or np.any(Wn)):
            betas.append(None)
            continue
        betas.append(_finite(band(Network(Wp, Wn, alpha))["beta"]))
    counts = cluster_counts(run, tau=tau)
    out = {"steps": [int(s) for s in traj.snap_steps], "beta": betas,
           "cluster_count": [c["count"] for c in counts],
           "two_clusters": [bool(c["two_clusters"]) for c in counts],
           "train_error": [float(e) for e in traj.snap_train_error]}
    try:
        from ._clustering import clustering_monitor

        mon = clustering_monitor(run)
        out["clustering"] = {k: mon.get(k) for k in ("t0", "condition_met", "reason", "frozen",
                                                      "bound_holds_all", "beta_final")}
    except InputError as exc:
        out["clustering"] = {"condition_met": False, "reason": str(exc)}
    return out


def audit(net: Network, data: Dataset | None = None, test: Dataset | None = None, run=None,
          report_dir=None, exact: bool = False, *, tau: float = 0.99,
          exact_time_limit: float = 60.0) -> dict:
    """Audit `net`; returns a JSON-ready dict (and writes a report when `report_dir` is given).

    Args:
        net: the network (paper form).
        data: training points (None: the run's data when a run is given).
        test: test points (optional).
        run: a `verify.Run` whose snapshots give β(t), cluster counts and Theorem 3's monitor.
        report_dir: folder for `report.md` and its PNG figures (None: no report).
        exact: also compute the exact worst-case disagreement (MILP, THEORY.md §6).
        tau: cosine-similarity threshold of the neuron graph.
        exact_time_limit: seconds allowed to the exact disagreement search.

    Returns:
        dict with `network`, `direction`, `band_beta`, `beta_pos`, `beta_neg`, `vacuous`,
        `D_w`, `D_u`, `band_probability`, `certified_fraction`, `agreement_fraction`,
        `band_fraction` ({train, test}), `train_error`, `test_error`, `clusters`,
        `angles_deg`, `predicted_limit`, and when asked `run`, `exact`, `report`.
    """
    from ._clusters import neuron_clusters
    from ._linearity import linearity_report

    if data is None and run is not None:
        data = run.data
    lin = linearity_report(net, data, test)
    out: dict = {
        "network": {"k_pos": net.k_pos, "k_neg": net.k_neg, "dim": net.d, "alpha": net.alpha,
                    "input_bias": bool(net.input_bias)},
        "direction": lin["direction"],
        "lifted": lin["lifted"],
        "band_beta": lin["band_beta"], "beta_pos": lin["beta_pos"], "beta_neg": lin["beta_neg"],
        "vacuous": lin["vacuous"], "norm_WU": lin["norm_WU"], "D_w": lin["D_w"], "D_u": lin["D_u"],
        "band_probability": lin["band_probability"],
        "certified_fraction": lin["certified_fraction"],
        "agreement_fraction": lin["agreement_fraction"],
        "band_fraction": lin["band_fraction"],
        "train_error": None if lin["train"] is None else lin["train"]["error"],
        "test_error": None if lin["test"] is None else lin["test"]["error"],
    }
    out["clusters"] = neuron_clusters(net, tau=tau)
    out["angles_deg"], out["predicted_limit"] = {}, None
    if data is not None:
        from ._limit import limit_angles
        from ._margin import MarginUndecided

        try:
            la = limit_angles(net, data)
            lim = la["predicted_limit"]
            out["angles_deg"] = la["angles_deg"]
            out["predicted_limit"] = {"direction": lim["direction"], "self_consistent": lim["self_consistent"],
                                      "margin_slack": lim["margin_slack"], "q_ratio": lim["q_ratio"]}
            out["svm_direction"] = la["directions"]["svm"]
        except (InputError, MarginUndecided) as exc:
            out["predicted_limit"] = {"self_consistent": False, "error": str(exc)}
    if run is not None:
        out["run"] = _run_history(run, tau)
    if exact:
        if out["direction"] is None:
            raise InputError("Σw_j − Σu_j = 0: no direction for the exact disagreement search")
        try:
            from ._disagreement import exact_disagreement
        except ImportError as exc:
            raise InputError(f"--exact needs the exact-disagreement solver ({exc})") from None
        res = exact_disagreement(net, np.asarray(out["direction"]), time_limit=exact_time_limit)
        out["exact"] = res.to_dict()
    out = jsonable(out)
    if report_dir is not None:
        out["report"] = str(write_report(report_dir, net, out, data=data, test=test, run=run))
    return out


# ----------------------------------------------------------------------------- report

def _save_fig(fig, path: Path) -> Path:
    from ._io import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def _fig_cosine(net: Network, tau: float):
    import matplotlib.pyplot as plt

    from ._clusters import cosine_matrix

    W = np.vstack([net.W_pos, net.W_neg])
    C = cosine_matrix(W)
    fig, ax = plt.subplots(figsize=(5, 4.3))
    im = ax.imshow(C, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.axhline(net.k_pos - 0.5, color="k", lw=0.8)
    ax.axvline(net.k_pos - 0.5, color="k", lw=0.8)
    ax.set_title(f"neuron cosine similarity (w: 0–{net.k_pos - 1}, u: after the line; τ = {tau})", fontsize=8)
    fig.colorbar(im, ax=ax)
    return fig


def _fig_projection(net: Network, v: np.ndarray):
    import matplotlib.pyplot as plt

    W = np.vstack([net.W_pos, net.W_neg])
    R = W - np.outer(W @ v, v)
    # top principal direction of the neurons' components orthogonal to v
    if np.any(R):
        p = np.linalg.svd(R, full_matrices=False)[2][0]
    else:
        p = np.zeros_like(v)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(net.W_pos @ v, net.W_pos @ p, c="tab:red", label="w_j (positive)", s=22)
    ax.scatter(net.W_neg @ v, net.W_neg @ p, c="tab:blue", label="u_j (negative)", s=22, marker="s")
    ax.axvline(0, color="grey", lw=0.6)
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xlabel("⟨neuron, v⟩")
    ax.set_ylabel("⟨neuron, top principal direction orthogonal to v⟩")
    ax.legend(fontsize=8)
    ax.set_title("neurons projected on (v, principal direction)", fontsize=9)
    return fig


def _fig_margins(net: Network, v: np.ndarray, beta: float | None, sets: dict):
    import matplotlib.pyplot as plt

    from ._linearity import per_point

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    bins = np.linspace(-1, 1, 61)
    for name, ds in sets.items():
        X = net.lift(ds.X)
        t = (X @ v) / np.linalg.norm(X, axis=1)
        cert = per_point(net, ds.X)["certified"]
        ax.hist(t[cert], bins=bins, alpha=0.5, label=f"{name}: certified")
        if np.any(~cert):
            ax.hist(t[~cert], bins=bins, alpha=0.8, label=f"{name}: not certified", histtype="step", lw=1.5)
    if beta is not None and beta < 1:
        for s in (-beta, beta):
            ax.axvline(s, color="k", ls="--", lw=1)
        ax.axvspan(-beta, beta, color="grey", alpha=0.15, label=f"band |cos| ≤ β = {beta:.3g}")
    ax.set_xlabel("⟨v, x⟩ / ‖x‖")
    ax.set_ylabel("points")
    ax.legend(fontsize=7)
    ax.set_title("normalized margins of the points vs Theorem 2's band", fontsize=9)
    return fig


def _fig_boundary(net: Network, data: Dataset, v: np.ndarray):
    import matplotlib.pyplot as plt

    X = data.X
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * (hi - lo + 1e-12)
    gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], 240)
    gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], 240)
    GX, GY = np.meshgrid(gx, gy)
    pts = np.column_stack([GX.ravel(), GY.ravel()])
    Z = net(pts).reshape(GX.shape)
    L = (net.lift(pts) @ v).reshape(GX.shape)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.contourf(GX, GY, np.sign(Z), levels=[-2, 0, 2], colors=["#cfe2f3", "#f4cccc"], alpha=0.7)
    ax.contour(GX, GY, Z, levels=[0], colors="k", linewidths=1.5)
    ax.contour(GX, GY, L, levels=[0], colors="tab:green", linewidths=1.2, linestyles="--")
    ax.scatter(X[data.y > 0, 0], X[data.y > 0, 1], c="tab:red", s=10, label="y = +1")
    ax.scatter(X[data.y < 0, 0], X[data.y < 0, 1], c="tab:blue", s=10, label="y = −1")
    ax.plot([], [], "k-", label="N(x) = 0")
    ax.plot([], [], "--", color="tab:green", label="⟨v, x⟩ = 0")
    ax.legend(fontsize=7)
    ax.set_title("decision boundary (d = 2)", fontsize=9)
    return fig


def _fig_history(hist: dict):
    import matplotlib.pyplot as plt

    steps = np.maximum(np.asarray(hist["steps"], dtype=float), 1)
    beta = np.array([np.nan if b is None else b for b in hist["beta"]], dtype=float)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    a1.loglog(steps, beta, "o-", ms=3)
    a1.axhline(1, color="grey", ls=":", lw=1)
    a1.set_xlabel("step")
    a1.set_ylabel("β(t)")
    a1.set_title("Theorem 2 band over training (β ≥ 1: vacuous)", fontsize=9)
    a2.semilogx(steps, hist["cluster_count"], "s-", ms=3)
    a2.axhline(2, color="grey", ls=":", lw=1)
    a2.set_xlabel("step")
    a2.set_ylabel("clusters (both signs)")
    a2.set_title("cluster count over training", fontsize=9)
    return fig


def _fmt(x, spec=".4g"):
    return "—" if x is None else format(x, spec)


def write_report(report_dir, net: Network, result: dict, *, data: Dataset | None = None,
                 test: Dataset | None = None, run=None) -> Path:
    """Write `report.md` and its figures into `report_dir` (each file atomically).

    Returns:
        Path of `report.md`.
    """
    import matplotlib

    matplotlib.use("Agg")
    from ._io import atomic_write_text

    folder = Path(report_dir)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    figs = []
    tau = result["clusters"]["tau"]
    figs.append(("Neuron cosine similarity", _save_fig(_fig_cosine(net, tau), folder / "cosine.png")))
    v = None if result["direction"] is None else np.asarray(result["direction"])
    if v is not None:
        figs.append(("Neurons projected on (v, top principal direction)",
                     _save_fig(_fig_projection(net, v), folder / "neurons.png")))
        sets = {k: s for k, s in (("train", data), ("test", test)) if s is not None}
        if sets:
            figs.append(("Margins of the points vs the band",
                         _save_fig(_fig_margins(net, v, result["band_beta"], sets), folder / "margins.png")))
        if data is not None and data.d == 2:
            figs.append(("Decision boundary", _save_fig(_fig_boundary(net, data, v), folder / "boundary.png")))
    if run is not None and "run" in result:
        figs.append(("β(t) and cluster count over the run", _save_fig(_fig_history(result["run"]), folder / "history.png")))

    cf, af, bf = result["certified_fraction"], result["agreement_fraction"], result["band_fraction"]
    nw = result["network"]
    cl = result["clusters"]
    lines = [
        "# Audit of a two-layer Leaky-ReLU network",
        "",
        f"Network: k₊ = {nw['k_pos']}, k₋ = {nw['k_neg']}, input dimension {nw['dim']}"
        f"{' (last coordinate: the constant 1 carrying the biases — statements are in the lifted space)' if nw['input_bias'] else ''}, "
        f"α = {nw['alpha']:g}.",
        "",
        "## Linearity (Theorem 2, THEORY.md §3)",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| band β (sign N(x) = sign⟨v,x⟩ when \\|⟨v,x⟩\\| > β‖x‖) | {_fmt(result['band_beta'])}"
        f"{' (vacuous)' if result['vacuous'] else ''} |",
        f"| β on the positive / negative side | {_fmt(result['beta_pos'])} / {_fmt(result['beta_neg'])} |",
        f"| spread D_w ({result['D_w']['method']}) / D_u ({result['D_u']['method']}) | "
        f"{_fmt(result['D_w']['D'])} / {_fmt(result['D_u']['D'])} |",
        f"| P(band) under a rotation-invariant law | {_fmt(result['band_probability'])} |",
    ]
    for s in ("train", "test"):
        if cf.get(s) is not None:
            lines.append(f"| {s}: certified per point / exact agreement / outside the band | "
                         f"{cf[s]:.4f} / {af[s]:.4f} / {bf[s]:.4f} |")
    lines += [
        f"| train error / test error | {_fmt(result['train_error'])} / {_fmt(result['test_error'])} |",
        "",
        "## Clusters",
        "",
        f"Cosine-similarity graph with τ = {cl['tau']}: {cl['pos']['count']} component(s) among the positive "
        f"neurons, {cl['neg']['count']} among the negative ones — "
        f"{'two clusters' if cl['two_clusters'] else 'not two clusters'}.",
        "",
    ]
    if result.get("angles_deg"):
        lines += ["## Directions (degrees)", "", "| pair | angle |", "|---|---|"]
        lines += [f"| {k} | {_fmt(a, '.3f')} |" for k, a in result["angles_deg"].items()]
        pl = result["predicted_limit"]
        lines += ["", f"Predicted limit `P*` (THEORY.md §6): self-consistent = {pl['self_consistent']}, "
                      f"slack {_fmt(pl.get('margin_slack'))}, ‖Q*‖/‖P*‖ = {_fmt(pl.get('q_ratio'))}.", ""]
    elif result.get("predicted_limit") and result["predicted_limit"].get("error"):
        lines += ["## Directions", "", f"Not computed: {result['predicted_limit']['error']}", ""]
    if "run" in result:
        h = result["run"]
        c = h.get("clustering", {})
        lines += ["## Training run", "",
                  f"β at the last snapshot: {_fmt(h['beta'][-1])}; clusters: {h['cluster_count'][-1]}. "
                  f"Theorem 3's condition: {'met from step ' + str(c.get('t0')) if c.get('condition_met') else 'not met'}"
                  f"{' (' + c['reason'] + ')' if c.get('reason') and not c.get('condition_met') else ''}.", ""]
    if "exact" in result:
        ex = result["exact"]
        lines += ["## Exact worst-case disagreement (THEORY.md §6)", "",
                  f"β⁺ = {ex.get('beta_plus')}, β⁻ = {ex.get('beta_minus')}, exactly linear: {ex.get('exactly_linear')}.", ""]
    lines += ["## Figures", ""]
    for title, p in figs:
        lines += [f"### {title}", "", f"![{title}]({p.name})", ""]
    return atomic_write_text(folder / "report.md", "\n".join(lines) + "\n")
