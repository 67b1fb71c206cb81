"""Findings of a sweep: how often the paper's empirical claims hold, and where they do not.

The paper's experiments (Sarussi, Brutzkus & Globerson 2021, §6) say that SGD optimizes
globally (THEORY.md §2), that the learned network is nearly linear (§3) and that its
weights cluster once the neurons of one sign share their activation pattern (§4). This
module turns the cells of a sweep (`verify._sweep`) into the evidence: per hyper-parameter
(width, α, initialization scale, step size, dimension) the fraction of runs with zero
training error, the loss at `T`, the tightness `S_T/S*` of Theorem 1's bound, the
disagreement of the network with its own linear direction, the SVM and `P*` on fresh test
points, the angles to the teacher / SVM / `P*`, how often Theorem 3's shared-σ' condition
held (and from when, `t₀/T`), how often the neurons formed two clusters, and — for the
certificates the sweep produced — how many the independent checker accepted. It also
draws the figures (β(t) curves included) and writes the table as `DIR/findings.md`.

Every statistic is a plain median or fraction over the runs of a group; the report adds
no claim of its own and is only as good as the measures in the cells.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

import numpy as np

from ._errors import InputError

__all__ = ["sweep_report", "load_results", "findings_table"]

# grid factors a reader asks about, with their column and label
FACTORS = [("data_family", "data"), ("width", "width k"), ("alpha", "α"), ("init_scale", "init scale"), ("lr", "η"),
           ("d", "d"), ("steps", "T"), ("sampling", "sampling")]


def _frac_zero(s):
    return float((s == 0).mean())


def _frac_true(s):
    return float(s.astype(float).mean())


def _median(s):
    return float(s.median())


def _max(s):
    return float(s.max())


# (column, header, statistic) — a column absent from the sweep (or all null) is left out
METRICS: list[tuple[str, str, Callable]] = [
    ("train_error", "train err = 0", _frac_zero),
    ("train_loss", "loss(T)", _median),
    ("bound_ratio", "S_T/S*", _median),
    ("bound_vacuous", "S* vacuous", _frac_true),
    ("disagree_linear", "N≠v", _median),
    ("disagree_svm", "N≠svm", _median),
    ("angle_teacher", "∠teacher°", _median),
    ("angle_svm", "∠svm°", _median),
    ("angle_pstar", "∠P*°", _median),
    ("beta", "β(T)", _median),
    ("band_nonvacuous", "β<1", _frac_true),
    ("linear_certified_test", "cert. points", _median),
    ("exactly_linear", "exactly linear", _frac_true),
    ("condition_met", "t₀<T", _frac_true),
    ("t0_frac_met", "t₀/T", _median),
    ("two_clusters", "2 clusters", _frac_true),
    ("certs_ok", "certs ok", _frac_true),
]


def load_results(folder: str | Path):
    """The results of a sweep folder as a DataFrame (rebuilt from the cell files if needed)."""
    import pandas as pd

    from ._sweep import build_results

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such sweep folder")
    path = folder / "results.parquet"
    if not path.is_file():
        if not (folder / "cells").is_dir():
            raise InputError(f"{folder}: not a sweep folder (no results.parquet, no cells/)")
        hashes = None
        meta = folder / "sweep.json"
        if meta.is_file():
            hashes = json.loads(meta.read_text(encoding="utf-8")).get("hashes")
        build_results(folder, hashes)
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise InputError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None
    if df.empty or "status" not in df.columns:
        raise InputError(f"{folder}: the sweep has no finished cells yet")
    if "data" in df.columns:
        # the data spec without its seed: runs that differ only by seed share a family
        df["data_family"] = df["data"].str.replace(r"seed=\d+,?", "", regex=True).str.rstrip(",")
    if "t0_frac" in df.columns and "condition_met" in df.columns:
        df["t0_frac_met"] = df["t0_frac"].where(df["condition_met"].fillna(False).astype(bool))
    cert_cols = [c for c in df.columns if c.startswith("cert_") and c.endswith("_accepted")]
    if cert_cols:
        # a run's certificates are ok when every one that was checked was accepted
        checked = df[cert_cols].notna().any(axis=1)
        df["certs_ok"] = df[cert_cols].fillna(True).astype(bool).all(axis=1).where(checked)
    return df


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 1 or x == 0:
        return f"{x:.3g}"
    return f"{x:.2g}"


def _value(v) -> str:
    return f"{v:g}" if isinstance(v, (float, np.floating)) else str(v)


def findings_table(df, by: list[str]) -> str:
    """A Markdown table: one row per value (or combination) of the columns `by`.

    Args:
        df: the successful cells (`load_results` filtered on status "ok").
        by: grouping columns.

    Returns:
        The table text, with a `runs` column and every metric of `METRICS` present in `df`.
    """
    metrics = [(c, h, f) for c, h, f in METRICS if c in df.columns and df[c].notna().any()]
    head = [*by, "runs", *[h for _, h, _ in metrics]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, g in df.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        cells = [_value(k) for k in key] + [str(len(g))]
        for col, _, stat in metrics:
            s = g[col].dropna()
            cells.append(_fmt(stat(s)) if len(s) else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _short(v) -> str:
    # data specs make long tick labels; the generator name and n are the same across a grid
    text = _value(v)
    return text.split(":", 1)[1] if text.startswith("teacher:") else text


def _varying(df) -> list[tuple[str, str]]:
    return [(c, lab) for c, lab in FACTORS if c in df.columns and df[c].nunique() > 1]


def _figures(df, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figdir = folder / "figures"
    figdir.mkdir(exist_ok=True)
    out: list[Path] = []
    factors = _varying(df)
    panels = [(c, h) for c, h in [("train_loss", "training loss at T"), ("disagree_linear", "N ≠ sign⟨v,x⟩ (test)"),
                                   ("angle_teacher", "angle to teacher (°)"), ("angle_pstar", "angle to P* (°)"),
                                   ("condition_met", "t₀ < T (fraction)"), ("two_clusters", "two clusters (fraction)")]
              if c in df.columns and df[c].notna().any()]
    if factors and panels:
        alphas = sorted(df["alpha"].unique())
        fig, axes = plt.subplots(len(panels), len(factors), figsize=(3.2 * len(factors), 2.4 * len(panels)),
                                 squeeze=False)
        for j, (fac, flab) in enumerate(factors):
            for i, (col, lab) in enumerate(panels):
                ax = axes[i][j]
                for a in alphas:
                    g = df[df["alpha"] == a] if fac != "alpha" else df
                    agg = "mean" if df[col].dropna().map(type).eq(bool).all() else "median"
                    s = g.groupby(fac)[col].agg(lambda v, agg=agg: v.astype(float).agg(agg))
                    ax.plot([_short(x) for x in s.index], s.values, marker="o",
                            label=f"α={a:g}" if fac != "alpha" else None)
                    if fac == "alpha":
                        break
                if i == len(panels) - 1:
                    ax.set_xlabel(flab)
                if j == 0:
                    ax.set_ylabel(lab, fontsize=8)
                ax.tick_params(labelsize=7)
                if fac == "data_family":
                    ax.tick_params(axis="x", labelrotation=25, labelsize=5)
        # the α column has no per-α lines; take the legend from a column that does
        handles, labels = max((ax.get_legend_handles_labels() for ax in axes[0]), key=lambda hl: len(hl[1]))
        if labels:
            fig.legend(handles, labels, loc="upper right", fontsize=8)
        fig.suptitle("measures against each grid factor (median, or fraction)")
        fig.tight_layout()
        p = figdir / "factors.png"
        fig.savefig(p, dpi=90)
        plt.close(fig)
        out.append(p)
    if "bound_ratio" in df.columns and df["bound_ratio"].notna().any():
        fig, ax = plt.subplots(figsize=(5, 3.2))
        r = df["bound_ratio"].dropna()
        ax.hist(r, bins=40)
        ax.set_xlabel("S_T / S*  (Theorem 1 tightness)")
        ax.set_ylabel("runs")
        ax.set_title(f"{len(r)} non-vacuous bounds, median {r.median():.3g}, max {r.max():.3g}")
        fig.tight_layout()
        p = figdir / "tightness.png"
        fig.savefig(p, dpi=90)
        plt.close(fig)
        out.append(p)
    for curve, ylab, name in [("curve_beta", "band β(t)", "beta_curves.png"),
                              ("curve_clusters", "neuron clusters (cos ≥ 0.99)", "cluster_curves.png")]:
        if curve not in df.columns or not df[curve].notna().any():
            continue
        fig, ax = plt.subplots(figsize=(5.5, 3.5))
        for (a, s0), g in df.groupby(["alpha", "init_scale"]):
            curves = [np.asarray(c, float) for c in g[curve] if c is not None and len(c)]
            steps = [np.asarray(c, float) for c in g["curve_snap_steps"] if c is not None and len(c)]
            if not curves or len({len(c) for c in curves}) != 1 or len(steps[0]) != len(curves[0]):
                continue
            med = np.nanmedian(np.vstack(curves), axis=0)
            ax.plot(np.maximum(steps[0], 1), med, label=f"α={a:g}, init {s0:g}")
        ax.set_xscale("log")
        if curve == "curve_beta":
            ax.set_yscale("log")
            ax.axhline(1.0, color="gray", lw=0.8, ls="--")
        ax.set_xlabel("step t")
        ax.set_ylabel(ylab + " (median)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        p = figdir / name
        fig.savefig(p, dpi=90)
        plt.close(fig)
        out.append(p)
    return out


def _checks(ok, summary: dict) -> list[str]:
    """Invariants the theorems guarantee, counted over the runs (a violation is a bug)."""
    lines = []
    if "bound_ratio" in ok.columns and ok["bound_ratio"].notna().any():
        r = ok["bound_ratio"].dropna()
        summary["bound_ratio_max"] = float(r.max())
        lines.append(f"* Theorem 1: S_T ≤ S* in {int((r <= 1).sum())} of {len(r)} runs with a non-vacuous bound "
                     f"(S_T/S* median {r.median():.3g}, max {r.max():.3g}); vacuous in "
                     f"{int(ok['bound_vacuous'].fillna(False).astype(bool).sum())} runs.")
    if "train_error" in ok.columns:
        lines.append(f"* Global optimization: zero training error at T in {int((ok['train_error'] == 0).sum())} "
                     f"of {len(ok)} runs; largest final training error {ok['train_error'].max():.3g}.")
    if "beta_bound_holds" in ok.columns and ok["beta_bound_holds"].notna().any():
        h = ok["beta_bound_holds"].dropna().astype(bool)
        lines.append(f"* Theorem 3: where the condition was met, β(t) stayed under its bound at every snapshot "
                     f"in {int(h.sum())} of {len(h)} runs; differences frozen in "
                     f"{int(ok['differences_frozen'].dropna().astype(bool).sum())} of "
                     f"{int(ok['differences_frozen'].notna().sum())}.")
    if "certs_ok" in ok.columns and ok["certs_ok"].notna().any():
        c = ok["certs_ok"].dropna().astype(bool)
        lines.append(f"* Certificates: all accepted by the independent checker in {int(c.sum())} of {len(c)} runs.")
    return lines


def sweep_report(folder: str | Path, *, figures: bool = True) -> dict:
    """Write `DIR/findings.md` (and `DIR/figures/*.png`) for a sweep folder.

    Args:
        folder: the `--out` folder of `verify sweep`.
        figures: draw the figures too.

    Returns:
        `{"markdown", "findings", "figures", "summary"}`: the report text, its path, the
        figure paths and a summary (cells, ok, failed, overall fractions).
    """
    from ._io import atomic_write_text

    folder = Path(folder)
    df = load_results(folder)
    ok = df[df["status"] == "ok"].copy()
    failed = df[df["status"] != "ok"]
    summary = {"cells": int(len(df)), "ok": int(len(ok)), "failed": int(len(failed))}
    parts = [f"# Sweep findings: {folder.name}", "",
             f"{len(df)} cells, {len(ok)} finished, {len(failed)} failed."]
    if len(failed):
        errs = failed["error"].fillna("?").value_counts().head(5)
        parts += ["", "Failures (most common first):", ""]
        parts += [f"* {n}× {e}" for e, n in errs.items()]
    if len(ok):
        for col in ("train_error", "condition_met", "two_clusters", "band_nonvacuous", "certs_ok"):
            if col in ok.columns and ok[col].notna().any():
                v = ok[col].dropna()
                summary[col] = float((v == 0).mean()) if col == "train_error" else float(v.astype(float).mean())
        parts += ["", "## Checks the theory makes on every run", ""] + _checks(ok, summary)
        for fac, lab in _varying(ok):
            parts += ["", f"## By {lab}", "", findings_table(ok, [fac])]
        if ok["alpha"].nunique() > 1 and ok["init_scale"].nunique() > 1:
            parts += ["", "## Contrast: α × initialization scale", "", findings_table(ok, ["alpha", "init_scale"])]
        parts += ["", "Columns: fractions of runs — train err = 0; S* vacuous = Theorem 1's bound says nothing "
                  "at this T; β<1 = Theorem 2's band is not vacuous; exactly linear = exact β± ≤ 0 on the box; "
                  "t₀<T = Theorem 3's shared-σ' condition met (monitor); 2 clusters = one cosine-0.99 cluster "
                  "per sign at T; certs ok = every certificate of the run accepted by the independent checker. "
                  "Medians over runs — loss(T) training loss; S_T/S* tightness of Theorem 1 (non-vacuous runs); "
                  "N≠v, N≠svm: fraction of fresh N(0, I) test points where sign N(x) differs from the network's "
                  "own linear direction v or from the max-margin separator; angles in degrees between v and the "
                  "teacher, the SVM and P*; β(T) the band; cert. points the per-point certified fraction of test "
                  "points; t₀/T among runs where the condition was met."]
    paths = _figures(ok, folder) if figures and len(ok) else []
    if paths:
        parts += ["", "## Figures", ""] + [f"![{p.stem}](figures/{p.name})" for p in paths]
    text = "\n".join(parts) + "\n"
    findings = atomic_write_text(folder / "findings.md", text)
    return {"markdown": text, "findings": str(findings), "figures": [str(p) for p in paths], "summary": summary}
