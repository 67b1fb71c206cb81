"""The `verify` command: exit codes, JSON output, nothing written on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from verify.cli import main

TRAIN = ["train", "teacher:n=60,d=4,seed=0", "--width", "2", "--alpha", "0.5", "--lr", "0.1", "--steps", "200"]


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_train_json(tmp_path, capsys):
    out_file = tmp_path / "run.npz"
    code, out, err = _run(TRAIN + ["--out", str(out_file), "--json"], capsys)
    assert code == 0, err
    s = json.loads(out)
    assert {"train_loss", "train_error", "S_T", "steps", "seconds"} <= set(s)
    assert s["steps"] == 200 and out_file.is_file()


@pytest.fixture
def bad_files(tmp_path):
    X = np.random.default_rng(0).standard_normal((10, 3))
    y = np.where(X[:, 0] > 0, 1.0, -1.0)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    np.savez(tmp_path / "nan.npz", X=Xn, y=y)
    np.savez(tmp_path / "01.npz", X=X, y=(y > 0).astype(int))
    obj = np.empty(1, dtype=object)
    obj[0] = {"x": 1}
    np.savez(tmp_path / "pickle.npz", X=obj, y=y[:1])
    return tmp_path


@pytest.mark.parametrize("data,extra,needle", [
    ("nan.npz", [], "NaN"),
    ("01.npz", [], "--labels01"),
    ("pickle.npz", [], "pickle"),
    ("missing.npz", [], "no such file"),
    ("teacher:n=60,d=4", ["--alpha", "1.5"], "alpha"),
    ("teacher:n=60,d=4", ["--width", "0"], "width"),
    ("teacher:n=60,d=4", ["--steps", "0"], "steps"),
])
def test_bad_input_exit_2_writes_nothing(bad_files, capsys, data, extra, needle):
    out_file = bad_files / "out" / "run.npz"
    base = {"--width": "2", "--alpha": "0.5", "--lr": "0.1", "--steps": "50"}
    for k, v in zip(extra[::2], extra[1::2]):
        base[k] = v
    src = data if data.startswith("teacher:") else str(bad_files / data)
    argv = ["train", src] + [a for kv in base.items() for a in kv] + ["--out", str(out_file)]
    code, out, err = _run(argv, capsys)
    assert code == 2
    assert needle in err and err.count("\n") == 1  # one line
    assert not out_file.exists() and not (bad_files / "out").exists()


def test_labels01_flag_accepts(bad_files, capsys):
    out_file = bad_files / "ok.npz"
    argv = ["train", str(bad_files / "01.npz"), "--labels01", "--width", "1", "--alpha", "0.5",
            "--lr", "0.1", "--steps", "20", "--out", str(out_file)]
    assert _run(argv, capsys)[0] == 0 and out_file.exists()


def test_usage_error_is_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train"])
    assert exc.value.code == 2


def test_module_entry_point(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "verify", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("verify ")
    proc = subprocess.run([sys.executable, "-m", "verify", "train", "teacher:n=5", "--width", "1", "--alpha",
                           "nan", "--lr", "1", "--steps", "1", "--out", str(tmp_path / "r.npz")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "alpha" in proc.stderr and not (tmp_path / "r.npz").exists()


def test_certify_all_skips_convergence_without_step_records(tmp_path, capsys):
    run_file = tmp_path / "run.npz"
    assert _run(TRAIN + ["--out", str(run_file)], capsys)[0] == 0
    code, out, err = _run(["certify", str(run_file), "--out", str(tmp_path / "c"), "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert set(res["certificates"]) == {"clustering", "linearity"}
    assert "record-steps" in res["skipped"]["convergence"]
    code, out, err = _run(["check"] + list(res["certificates"].values()), capsys)
    assert code == 0, out
    # asked for explicitly, the convergence certificate is refused (exit 2) and nothing is written
    code, _, err = _run(["certify", str(run_file), "--kind", "convergence", "--out", str(tmp_path / "c2")], capsys)
    assert code == 2 and "record-steps" in err and not (tmp_path / "c2").exists()
