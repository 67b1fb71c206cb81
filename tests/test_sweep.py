"""Sweeps: grid expansion and hashing, one cell's measures, the results store under kill -9,
and the same results on a LocalCluster and on an external dask scheduler + worker."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import verify
from verify import InputError
from verify._sweep import (build_results, cell_hash, ensemble_groups, fresh_points, load_cells, load_sweep,
                           run_cell, run_group, run_sweep)

GRID = {
    "data": ["teacher:n=60,d=4,seed={seed},margin=0.05"],
    "width": [2, 3],
    "alpha": [0.1, 0.5],
    "lr": [0.05],
    "steps": [400],
    "init_scale": [1e-3],
    "sampling": ["uniform"],
    "seed": [0, 1],
}


def _toml(grid: dict, sweep: dict | None = None) -> str:
    def val(v):
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        return repr(v)

    lines = []
    if sweep:
        lines.append("[sweep]")
        lines += [f"{k} = {val(v)}" for k, v in sweep.items()]
    lines.append("[grid]")
    lines += [f"{k} = {val(v)}" for k, v in grid.items()]
    return "\n".join(lines) + "\n"


def _write(tmp_path: Path, grid: dict, sweep: dict | None = None, name: str = "grid.toml") -> Path:
    p = tmp_path / name
    p.write_text(_toml(grid, sweep))
    return p


def _strip(rec: dict) -> dict:
    """A cell record without its wall time (the only field that may differ between runs)."""
    return {k: v for k, v in rec.items() if k != "seconds"}


SMALL = {"test_n": 300, "snapshots": 8, "certify": ["clustering", "linearity"]}


class TestConfig:
    def test_product_and_seed_placeholder(self, tmp_path):
        spec = load_sweep(_write(tmp_path, GRID, SMALL))
        assert len(spec.cells) == 2 * 2 * 2
        assert {c["data"] for c in spec.cells} == {"teacher:n=60,d=4,seed=0,margin=0.05",
                                                  "teacher:n=60,d=4,seed=1,margin=0.05"}
        for c in spec.cells:
            assert f"seed={c['seed']}" in c["data"]
        assert len(set(spec.hashes)) == len(spec.cells)

    def test_hash_is_canonical(self, tmp_path):
        a = load_sweep(_write(tmp_path, GRID, SMALL))
        # key order, int-vs-float spelling and repeated values do not change the cells
        g2 = {k: GRID[k] for k in reversed(list(GRID))}
        g2 = dict(g2, init_scale=[0.001, 1e-3], lr=[5e-2])
        b = load_sweep(_write(tmp_path, g2, SMALL, "b.toml"))
        assert len(a.hashes) == len(b.hashes) and set(a.hashes) == set(b.hashes)
        c = dict(a.cells[0], lr=0.05000000000000001)
        assert cell_hash(c) != a.hashes[0]

    def test_grid_tables_unite_without_duplicates(self, tmp_path):
        text = _toml(GRID, SMALL) + "\n" + _toml(dict(GRID, alpha=[0.5, 0.9])).replace("[grid]", "[[grid]]")
        text = text.replace("[grid]\n", "[[grid]]\n", 1)
        p = tmp_path / "multi.toml"
        p.write_text(text)
        spec = load_sweep(p)
        # alphas 0.1, 0.5 from the first table, 0.5 (duplicate) and 0.9 from the second
        assert len(spec.cells) == 8 + 4
        assert sorted({c["alpha"] for c in spec.cells}) == [0.1, 0.5, 0.9]

    @pytest.mark.parametrize("change, message", [
        ({"depth": [2]}, "unknown axis"),
        ({"width": [0]}, "width"),
        ({"alpha": [1.5]}, "alpha"),
        ({"width": [2.5]}, "integers"),
        ({"data": ["teacher:n=60,d=4,seed={run}"]}, "placeholder"),
        ({"data": ["/no/such/file.npz"]}, "no such file"),
    ])
    def test_bad_grid_is_input_error(self, tmp_path, change, message):
        with pytest.raises(InputError, match=message):
            load_sweep(_write(tmp_path, dict(GRID, **change)))

    def test_missing_axis_and_bad_option(self, tmp_path):
        g = dict(GRID)
        del g["lr"]
        with pytest.raises(InputError, match="missing axis"):
            load_sweep(_write(tmp_path, g))
        with pytest.raises(InputError, match="unknown"):
            load_sweep(_write(tmp_path, GRID, {"tets_n": 5}))
        with pytest.raises(InputError, match="certify"):
            load_sweep(_write(tmp_path, GRID, {"certify": ["margin"]}))
        with pytest.raises(InputError, match="ensemble"):
            load_sweep(_write(tmp_path, GRID, {"ensemble": "yes"}))
        (tmp_path / "bad.toml").write_text("[grid\n")
        with pytest.raises(InputError, match="TOML"):
            load_sweep(tmp_path / "bad.toml")

    def test_cli_bad_input_writes_nothing(self, tmp_path):
        from verify.cli import main

        out = tmp_path / "out"
        assert main(["sweep", str(_write(tmp_path, dict(GRID, alpha=[0.0]))), "--out", str(out)]) == 2
        assert not out.exists()


class TestCell:
    def test_measures_agree_with_a_direct_computation(self, tmp_path):
        # margin 0.5 and T = 2000: Theorem 1's bound is not vacuous on this cell
        g = dict(GRID, data=["teacher:n=60,d=4,seed={seed},margin=0.5"], steps=[2000])
        cell = load_sweep(_write(tmp_path, g, SMALL)).cells[-1]
        rec = run_cell(cell)
        assert rec["status"] == "ok", rec["error"]
        m = rec["measures"]
        data = verify.load_dataset(cell["data"])
        run = verify.train(data, verify.TrainConfig(width=cell["width"], alpha=cell["alpha"], lr=cell["lr"],
                                                    steps=cell["steps"], seed=cell["seed"],
                                                    init_scale=cell["init_scale"], snapshots=cell["snapshots"]))
        z = run.final.margins(data.X, data.y)
        assert m["train_error"] == float(np.mean(z <= 0))
        assert m["train_loss"] == pytest.approx(float(np.mean(np.logaddexp(0, -z))), rel=1e-12)
        assert m["S_T"] == run.trajectory.sums["S"]
        assert m["t0"] == run.trajectory.shared_since
        assert m["shared_held"] == (run.trajectory.shared_since <= cell["steps"] // 2)
        # test labels come from the teacher, so the test error *is* the disagreement with it
        X, test = fresh_points(data, cell["test_n"], cell["seed"])
        assert m["test_error"] == m["disagree_teacher"]
        v = run.final.W_pos.sum(0) - run.final.W_neg.sum(0)
        assert m["disagree_linear"] == float(np.mean((run.final(X) > 0) != (X @ v > 0)))
        cos = v @ data.teacher / np.linalg.norm(v) / np.linalg.norm(data.teacher)
        assert m["angle_teacher"] == pytest.approx(np.degrees(np.arccos(cos)), abs=1e-6)
        assert len(rec["curves"]["snap_steps"]) == len(rec["curves"]["train_loss"]) == len(rec["curves"]["clusters"])
        # the linearity module counts exact sign agreement; here it is recomputed in floats
        assert m["linear_agree_test"] == pytest.approx(1 - m["disagree_linear"], abs=1.0 / len(X))
        assert m["linear_certified_test"] <= m["linear_agree_test"]
        assert m["band_nonvacuous"] == (m["beta"] < 1)
        # β(t) is the monitor's band with D = Σ‖δ_j‖; the linearity report may use the smaller
        # operator-norm D, so its β at T is never larger
        assert m["beta"] <= rec["curves"]["beta"][-1] * (1 + 1e-12)
        # the SVM's margin bracket is tight and the teacher's margin cannot beat it
        assert m["gamma_teacher"] <= m["gamma_upper"] and m["gamma_upper"] - m["gamma_lower"] < 1e-6
        # Theorem 1: S_T never exceeds the certified root S*
        assert not m["bound_vacuous"] and 0 < m["bound_ratio"] <= 1
        assert m["S_star"] == pytest.approx(m["S_T"] / m["bound_ratio"], rel=1e-12)
        # every certificate written on the worker was accepted by the independent checker
        assert set(rec["certificates"]) == {"clustering", "linearity"}
        assert all(c["accepted"] and c["claims"] >= 1 for c in rec["certificates"].values())
        # deterministic: the same cell gives the same record (wall time aside)
        assert _strip(run_cell(cell)) == _strip(rec)

    def test_exact_disagreement_agrees_with_the_test_points(self, tmp_path):
        # β⁺ = max{⟨v,x⟩ : ‖x‖_∞ ≤ 1, N(x) ≤ 0}: every test point where N(x) ≤ 0, scaled into
        # the box (N is positively homogeneous), is a feasible point, so it cannot beat β⁺
        g = dict(GRID, width=[2], alpha=[0.1, 0.5], seed=[0], init_scale=[1.0])
        spec = load_sweep(_write(tmp_path, g, dict(SMALL, certify=[], exact_max_width=2)))
        assert all(c["exact"] for c in spec.cells)
        seen_disagreement = False
        for cell in spec.cells:
            rec = run_cell(cell)
            assert rec["status"] == "ok", rec["error"]
            m = rec["measures"]
            assert m["exactly_linear"] == (m["exact_beta_plus"] <= 0 and m["exact_beta_minus"] <= 0)
            data = verify.load_dataset(cell["data"])
            net = verify.train(data, verify.TrainConfig(
                width=cell["width"], alpha=cell["alpha"], lr=cell["lr"], steps=cell["steps"], seed=cell["seed"],
                init_scale=cell["init_scale"], snapshots=cell["snapshots"])).final
            X, _ = fresh_points(data, cell["test_n"], cell["seed"])
            v = net.W_pos.mean(0) - net.W_neg.mean(0)
            v /= np.linalg.norm(v)
            out, s = net(X), (X @ v) / np.max(np.abs(X), axis=1)
            tol = 1e-9
            assert np.all(s[out <= 0] <= m["exact_beta_plus"] + tol)
            assert np.all(-s[out >= 0] <= m["exact_beta_minus"] + tol)
            if m["disagree_linear"] > 0:
                seen_disagreement = True
                assert not m["exactly_linear"]
        assert seen_disagreement  # large initialization: the bound above was tested on real witnesses

    def test_wall_estimate_extrapolates_the_timed_cells(self, tmp_path):
        from verify._sweep import estimate_wall

        cfg = _write(tmp_path, GRID, dict(SMALL, certify=[]))
        e = estimate_wall(cfg, 3, workers=2)
        assert (e["cells"], e["sampled"], e["failed"]) == (8, 3, 0)
        assert e["expected_wall_seconds"] == pytest.approx(e["mean_cell_cpu_seconds"] * 8 / 2)
        assert 0 < e["mean_cell_cpu_seconds"] and e["mean_cell_seconds"] <= e["max_cell_seconds"]

    def test_fresh_points_are_seeded_and_teacher_labelled(self):
        data = verify.teacher_dataset(n=40, d=5, seed=3)
        X1, t1 = fresh_points(data, 500, 7)
        X2, _ = fresh_points(data, 500, 7)
        X3, _ = fresh_points(data, 500, 8)
        assert np.array_equal(X1, X2) and not np.array_equal(X1, X3)
        assert np.array_equal(t1.y, np.where(X1 @ data.teacher > 0, 1.0, -1.0))

    def test_failure_is_recorded_not_raised(self, tmp_path):
        # XOR: no direction separates it through the origin, so the limit-direction QP refuses it
        csv = tmp_path / "xor.csv"
        csv.write_text("a,b,y\n1,1,1\n-1,-1,1\n1,-1,-1\n-1,1,-1\n")
        spec = load_sweep(_write(tmp_path, dict(GRID, data=[str(csv)], width=[2], alpha=[0.5], seed=[0]), SMALL))
        rec = run_cell(spec.cells[0])
        assert rec["status"] == "failed"
        assert "separable" in rec["error"] and rec["measures"] == {}
        json.dumps(rec)  # a failure is still a JSON record


class TestStore:
    def test_sweep_skips_finished_cells_and_records_failures(self, tmp_path):
        import pandas as pd

        csv = tmp_path / "xor.csv"
        csv.write_text("a,b,y\n1,1,1\n-1,-1,1\n1,-1,-1\n-1,1,-1\n")
        g = dict(GRID, data=["teacher:n=60,d=4,seed={seed},margin=0.05", str(csv)], width=[2], seed=[0])
        cfg = _write(tmp_path, g, SMALL)
        out = tmp_path / "out"
        first = run_sweep(cfg, out, workers=1)
        assert (first["cells"], first["done"], first["skipped"], first["failed"]) == (4, 2, 0, 2)
        files = sorted((out / "cells").glob("*.json"))
        assert len(files) == 4
        before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
        df = pd.read_parquet(out / "results.parquet")
        assert sorted(df["status"]) == ["failed", "failed", "ok", "ok"]
        # rerun: the finished cells are skipped (files untouched), the failed ones retried
        second = run_sweep(cfg, out, workers=1)
        assert (second["done"], second["skipped"], second["failed"]) == (0, 2, 2)
        for p in files:
            rec = json.loads(p.read_text())
            if rec["status"] == "ok":
                assert (p.read_bytes(), p.stat().st_mtime_ns) == before[p.name]

    def test_cli_json_and_report(self, tmp_path, capsys):
        from verify.cli import main

        out = tmp_path / "out"
        cfg = _write(tmp_path, dict(GRID, seed=[0]), SMALL)
        assert main(["sweep", str(cfg), "--out", str(out), "--workers", "1", "--json"]) == 0
        got = json.loads(capsys.readouterr().out)
        assert got == {"cells": 4, "done": 4, "skipped": 0, "failed": 0}
        assert main(["sweep-report", str(out), "--json"]) == 0
        rep = json.loads(capsys.readouterr().out)
        text = Path(rep["findings"]).read_text()
        assert "## By α" in text and "## By width k" in text
        assert "Certificates: all accepted by the independent checker in 4 of 4 runs." in text
        assert "zero training error at T in" in text
        assert rep["summary"]["ok"] == 4 and all(Path(p).is_file() for p in rep["figures"])
        # the findings table's row counts add up to the grid
        rows = [ln for ln in text.splitlines() if ln.startswith("| 0.1 |") or ln.startswith("| 0.5 |")]
        assert sum(int(r.split("|")[2]) for r in rows[:2]) == 4

# one fixed training set: cells differing only in seed form an ensemble group
FIXED = dict(GRID, data=["teacher:n=60,d=4,seed=3,margin=0.05"], width=[3], alpha=[0.5])


def _results(rec: dict) -> dict:
    """A record without its timing fields and `engine`: what must not depend on how a cell was trained."""
    out = {k: v for k, v in rec.items() if k not in ("seconds", "engine")}
    out["measures"] = {k: v for k, v in rec["measures"].items() if k != "exact_seconds"}
    return out


class TestEnsemble:
    def test_groups_only_seed_only_differences_on_fixed_data(self, tmp_path):
        fixed = "teacher:n=60,d=4,seed=9,margin=0.05"
        g = dict(GRID, data=["teacher:n=60,d=4,seed={seed},margin=0.05", fixed], alpha=[0.5], seed=[0, 1, 2, 3])
        cells = load_sweep(_write(tmp_path, g, SMALL)).cells
        assert len(cells) == 2 * 2 * 4
        for slots, sizes in ((1, [4, 4]), (2, [2, 2, 2, 2]), (8, [2, 2, 2, 2])):
            tasks = ensemble_groups(cells, slots)
            # every cell exactly once
            assert sorted(cell_hash(c) for t in tasks for c in t) == sorted(cell_hash(c) for c in cells)
            # data drawn with the cell's own seed: never grouped
            assert sorted(cell_hash(t[0]) for t in tasks if len(t) == 1) == \
                sorted(cell_hash(c) for c in cells if c["data"] != fixed)
            grouped = [t for t in tasks if len(t) > 1]
            assert sorted(len(t) for t in grouped) == sizes
            for t in grouped:
                # same data string, same everything but the seed; another width is another group
                assert {c["data"] for c in t} == {fixed}
                assert len({json.dumps({k: v for k, v in c.items() if k != "seed"}, sort_keys=True)
                            for c in t}) == 1
                assert len({c["seed"] for c in t}) == len(t)
        # the largest ensemble bounds the chunk size
        assert sorted(len(t) for t in ensemble_groups(cells, 1, max_runs=2) if len(t) > 1) == [2, 2, 2, 2]

    def test_sweep_records_equal_the_single_path(self, tmp_path):
        from verify.cli import main

        # per-step records (convergence) train in the ensemble's general engine; 5 seeds on 2 workers: 3 + 2
        g = dict(FIXED, seed=[0, 1, 2, 3, 4])
        cfg = _write(tmp_path, g, dict(SMALL, certify=["clustering", "convergence", "linearity"]))
        spec = load_sweep(cfg)
        assert [len(t) for t in ensemble_groups(spec.cells, 2)] == [2, 3]
        on = run_sweep(cfg, tmp_path / "on", workers=2)
        assert main(["sweep", str(cfg), "--out", str(tmp_path / "off"), "--workers", "2", "--no-ensemble",
                     "--json"]) == 0
        assert (on["done"], on["failed"]) == (5, 0)
        a, b = load_cells(tmp_path / "on", spec.hashes), load_cells(tmp_path / "off", spec.hashes)
        assert len(a) == len(b) == 5
        assert [r["engine"] for r in a] == ["ensemble"] * 5 and [r["engine"] for r in b] == ["single"] * 5
        assert all(r["status"] == "ok" and r["certificates"]["convergence"]["accepted"] for r in a)
        assert [_results(r) for r in a] == [_results(r) for r in b]
        assert json.loads((tmp_path / "off" / "sweep.json").read_text())["options"]["ensemble"] is False

    def test_column_engine_group_equals_run_cell(self, tmp_path):
        # batch-1 SGD without per-step records: the ensemble's vectorized engine
        cells = load_sweep(_write(tmp_path, dict(FIXED, seed=[4, 7]), dict(SMALL, certify=[]))).cells
        recs = run_group(cells)
        assert [r["engine"] for r in recs] == ["ensemble", "ensemble"]
        assert [_results(r) for r in recs] == [_results(run_cell(c)) for c in cells]
        assert recs[0]["measures"]["S_T"] != recs[1]["measures"]["S_T"]  # two different runs

    def test_one_failing_measurement_fails_only_its_cell(self, tmp_path, monkeypatch):
        from verify import _sweep

        cells = load_sweep(_write(tmp_path, dict(FIXED, seed=[0, 1, 2]), dict(SMALL, certify=[]))).cells
        measure = _sweep._measure_run

        def flaky(cell, data, run):
            if cell["seed"] == 1:
                raise RuntimeError("measurement broke")
            return measure(cell, data, run)

        monkeypatch.setattr(_sweep, "_measure_run", flaky)
        recs = run_group(cells)
        assert [r["status"] for r in recs] == ["ok", "failed", "ok"]
        assert "measurement broke" in recs[1]["error"] and recs[1]["measures"] == {}
        assert [r["hash"] for r in recs] == [cell_hash(c) for c in cells]

    def test_failed_ensemble_training_runs_each_cell_alone(self, tmp_path, monkeypatch):
        from verify import _ensemble

        cells = load_sweep(_write(tmp_path, dict(FIXED, seed=[0, 1]), dict(SMALL, certify=[]))).cells

        def broken(*args, **kwargs):
            raise InputError("training diverged for seeds [1]")

        monkeypatch.setattr(_ensemble, "train_ensemble", broken)
        recs = run_group(cells)
        assert [(r["engine"], r["status"]) for r in recs] == [("single", "ok"), ("single", "ok")]
        assert [_results(r) for r in recs] == [_results(run_cell(c)) for c in cells]

    def test_cached_cells_of_a_group_are_not_retrained(self, tmp_path):
        cfg = _write(tmp_path, dict(FIXED, seed=[0, 1, 2]), dict(SMALL, certify=[]))
        spec = load_sweep(cfg)
        out = tmp_path / "out"
        first = run_sweep(cfg, out, workers=1)
        assert (first["done"], first["skipped"], first["failed"]) == (3, 0, 0)
        files = [out / "cells" / f"{h}.json" for h in spec.hashes]
        original = [json.loads(p.read_text()) for p in files]
        assert [r["engine"] for r in original] == ["ensemble"] * 3
        kept = {i: (files[i].read_bytes(), files[i].stat().st_mtime_ns) for i in (0, 2)}
        files[1].unlink()
        res = run_sweep(cfg, out, workers=1)
        assert (res["cells"], res["done"], res["skipped"], res["failed"]) == (3, 1, 2, 0)
        for i, before in kept.items():  # the cached cells of the group: untouched
            assert (files[i].read_bytes(), files[i].stat().st_mtime_ns) == before
        # the one cell left of its group runs alone, with the same results
        rec = json.loads(files[1].read_text())
        assert rec["engine"] == "single" and _results(rec) == _results(original[1])


def test_findings_table_statistics():
    import pandas as pd

    from verify._sweep_report import findings_table

    df = pd.DataFrame({
        "alpha": [0.5, 0.5, 0.5, 0.01],
        "train_error": [0.0, 0.0, 0.1, 0.0],
        "train_loss": [1.0, 2.0, 9.0, 4.0],
        "two_clusters": [True, False, True, False],
        "angle_svm": [None, 3.0, 5.0, None],
    })
    rows = {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[2:-1]]
            for ln in findings_table(df, ["alpha"]).splitlines()[2:]}
    # runs, train err = 0 (fraction), loss (median), ∠svm (median of the non-null), 2 clusters (fraction)
    assert rows["0.5"] == ["3", "0.67", "2", "4", "0.67"]
    assert rows["0.01"] == ["1", "1", "4", "–", "0"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def test_kill_9_halfway_then_rerun(tmp_path):
    # cells slow enough (≈0.3 s each on one worker) that a kill lands in the middle
    g = dict(GRID, data=["teacher:n=200,d=10,seed={seed},margin=0.05"], width=[5], alpha=[0.5],
             steps=[1_500_000], seed=list(range(10)))
    cfg = _write(tmp_path, g, {"test_n": 200, "snapshots": 8, "certify": []})
    out = tmp_path / "out"
    cells = out / "cells"
    proc = subprocess.Popen([sys.executable, "-m", "verify", "sweep", str(cfg), "--out", str(out),
                             "--workers", "1", "--json"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if cells.is_dir() and len(list(cells.glob("*.json"))) >= 3:
                break
            assert proc.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        _kill_group(proc)  # the LocalCluster's worker processes too
    finished = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in cells.glob("*.json")}
    assert 3 <= len(finished) < 10, "the kill did not land halfway"
    assert not (out / "results.parquet").exists()
    res = run_sweep(cfg, out, workers=1)
    spec = load_sweep(cfg)
    assert (res["cells"], res["skipped"], res["done"], res["failed"]) == (10, len(finished), 10 - len(finished), 0)
    names = sorted(p.name for p in cells.iterdir())
    assert names == sorted(f"{h}.json" for h in spec.hashes)  # each cell exactly once, no stray temp files
    for name, (data, mtime) in finished.items():
        assert ((cells / name).read_bytes(), (cells / name).stat().st_mtime_ns) == (data, mtime)
    recs = load_cells(out, spec.hashes)
    assert len(recs) == 10 and all(r["status"] == "ok" for r in recs)
    import pandas as pd

    df = pd.read_parquet(build_results(out, spec.hashes))
    assert len(df) == 10 and df["hash"].is_unique


def test_external_scheduler_matches_local_cluster(tmp_path):
    from dask.distributed import Client

    cfg = _write(tmp_path, dict(GRID, seed=[0]), SMALL)
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    logs = open(tmp_path / "dask.log", "wb")
    sched = subprocess.Popen(["dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                              "--no-dashboard"], start_new_session=True, stdout=logs, stderr=logs)
    worker = None
    try:
        worker = subprocess.Popen(["dask", "worker", addr, "--nworkers", "1", "--nthreads", "1",
                                   "--no-dashboard", "--host", "127.0.0.1"],
                                  start_new_session=True, stdout=logs, stderr=logs)
        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(addr, timeout="5s") as c:
                    c.wait_for_workers(1, timeout=60)
                break
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        ext = run_sweep(cfg, tmp_path / "ext", scheduler=addr)
    finally:
        for p in (worker, sched):
            if p is not None:
                _kill_group(p)
        logs.close()
    loc = run_sweep(cfg, tmp_path / "loc", workers=2)
    assert ext["done"] == loc["done"] == 4 and ext["failed"] == loc["failed"] == 0
    spec = load_sweep(cfg)
    a = [_strip(r) for r in load_cells(tmp_path / "ext", spec.hashes)]
    b = [_strip(r) for r in load_cells(tmp_path / "loc", spec.hashes)]
    assert len(a) == 4 and a == b


@pytest.mark.slow  # the client retries for its whole connect timeout before giving up
def test_unreachable_scheduler_is_input_error(tmp_path):
    cfg = _write(tmp_path, dict(GRID, seed=[0], width=[2], alpha=[0.5]), SMALL)
    with pytest.raises(InputError, match="scheduler"):
        run_sweep(cfg, tmp_path / "out", scheduler=f"tcp://127.0.0.1:{_free_port()}")
    assert not (tmp_path / "out").exists()


# notebooks are part of the product: this one runs in the default suite (≈40 s on 2 cores)
def test_experiments_notebook_executes():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    path = Path(__file__).resolve().parents[1] / "notebooks" / "04_experiments.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    text = "".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
    # the findings table by α and the α × init contrast are shown, with every run counted
    assert "## By α" in text and "## Contrast: α × initialization scale" in text
    assert "24 cells, 24 finished, 0 failed." in text
    figures = sum(1 for o in outputs if "image/png" in o.get("data", {}))
    assert figures >= 3
