"""Convergence certificates (Theorem 1 on real runs): producer, independent checker,
tampering, the bound over many seeded runs, an adversarial near-linear net, notebook 01."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import numpy as np
import pytest

import verify
from verify import InputError
from verify._bounds import convergence_bound
from verify._convergence import certify_convergence, run_parameters
from verify._data import Dataset
from verify._io import atomic_savez, load_npz, atomic_write_json
from verify._train import TrainConfig, save_run, train
from verify.check import check_certificate
from verify.cli import main

ROOT = Path(__file__).resolve().parents[1]
BOUND_KEYS = ("gamma", "radius", "alpha", "width", "lr", "steps", "init_norm", "init_align")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conv")
    data = verify.teacher_dataset(n=80, d=5, seed=3, margin=0.3)
    run = train(data, TrainConfig(width=4, alpha=0.5, lr=0.1, steps=8000, seed=1, record_steps=True))
    run_path = save_run(folder / "run.npz", run)
    cert = certify_convergence(run_path, None, folder / "cert", direction="reference")
    return {"folder": folder, "data": data, "run": run, "run_path": run_path, "cert": cert}


def _claims(path):
    return {c["name"]: c for c in json.loads(Path(path).read_text())["claims"]}


def _rewrite(cert_path, name, value, out):
    c = json.loads(Path(cert_path).read_text())
    for cl in c["claims"]:
        if cl["name"] == name:
            cl["value"] = value
    return atomic_write_json(out, c)


def _perturbed_run(src, dst, edit):
    z = load_npz(src)
    edit(z)
    return atomic_savez(dst, z)


class TestCertificate:
    def test_accepted_with_every_claim(self, recorded):
        rep = check_certificate(recorded["cert"])
        assert rep.accepted, [(r.name, r.reason) for r in rep.results]
        assert {r.name for r in rep.results} == {"S_T", "S_star", "count_loss_gt_eps", "corollary1_count",
                                                  "sum_loss", "corollary2_bound", "L1_excess", "L2_excess",
                                                  "S_T_within_bound", "count_within_corollary1",
                                                  "sum_loss_within_corollary2"}

    def test_numbers_agree_with_the_trainer_and_the_bound(self, recorded):
        c = json.loads(Path(recorded["cert"]).read_text())
        info, cl = c["info"], _claims(recorded["cert"])
        tr = recorded["run"].trajectory
        assert math.isclose(info["S_T"], tr.S, rel_tol=1e-9)
        assert math.isclose(info["sum_loss"], tr.sums["sum_loss"], rel_tol=1e-9)
        assert info["count_loss_gt_eps"] == int(tr.loss_gt_eps[list(tr.eps).index(0.1)])
        assert 0 < info["tightness"] < 1 and info["effective_constants_nominal"]
        P = run_parameters(recorded["run"], direction="reference")
        b = convergence_bound(**{k: P[k] for k in BOUND_KEYS})
        assert math.isclose(cl["S_star"]["value"], b["S_star"], rel_tol=1e-9)
        assert 0 < info["L1_max_ratio"] < 1 and 0 < info["L2_max_ratio"] < 1

    @pytest.mark.parametrize("name", ["S_star", "S_T", "corollary1_count", "corollary2_bound", "sum_loss"])
    def test_strengthened_claim_is_rejected(self, recorded, name, tmp_path):
        # every numeric claim is tight: observed sums as well as the theorem's bounds
        cl = _claims(recorded["cert"])
        v = cl[name]["value"]
        target = v * (1 - 1e-6)
        out = _rewrite(recorded["cert"], name, target, recorded["cert"].parent / f"bad-{name}.json")
        rep = check_certificate(out)
        assert not rep.accepted
        assert [r.name for r in rep.results if not r.accepted] == [name]

    @pytest.mark.parametrize("name", ["S_T_within_bound", "count_within_corollary1", "sum_loss_within_corollary2"])
    @pytest.mark.parametrize("relation,value", [("==", 0), ("==", 2), ("<=", 1), (">=", 1)])
    def test_derived_fact_must_be_claimed_as_equal_one(self, recorded, name, relation, value):
        c = json.loads(Path(recorded["cert"]).read_text())
        for cl in c["claims"]:
            if cl["name"] == name:
                cl["relation"], cl["value"] = relation, value
        out = atomic_write_json(recorded["cert"].parent / f"fact-{name}-{relation}{value}.json", c)
        rep = check_certificate(out)
        assert [r.name for r in rep.results if not r.accepted] == [name]

    def test_count_claim_below_observed_is_rejected(self, recorded):
        obs = json.loads(Path(recorded["cert"]).read_text())["info"]["count_loss_gt_eps"]
        out = _rewrite(recorded["cert"], "count_loss_gt_eps", obs - 1, recorded["cert"].parent / "bad-count.json")
        assert not check_certificate(out).accepted

    def test_margin_direction(self, recorded, tmp_path):
        cert = certify_convergence(recorded["run_path"], recorded["data"], tmp_path, direction="margin")
        info = json.loads(cert.read_text())["info"]
        ref = json.loads(Path(recorded["cert"]).read_text())["info"]
        assert info["gamma"] >= ref["gamma"] and info["S_star"] <= ref["S_star"]
        assert check_certificate(cert).accepted


class TestTampering:
    """The per-step claims catch a run whose records do not follow the SGD dynamics."""

    def _certify_edit(self, recorded, tmp_path, edit):
        p = _perturbed_run(recorded["run_path"], tmp_path / "run.npz", edit)
        cert = certify_convergence(p, None, tmp_path / "c", direction="reference")
        rep = check_certificate(cert)
        return {r.name: r.accepted for r in rep.results}

    def test_norm_record_off_by_1e9(self, recorded, tmp_path):
        def edit(z):
            z["step_norm2"] = z["step_norm2"].copy()
            z["step_norm2"][100] *= 1 + 1e-9
        res = self._certify_edit(recorded, tmp_path, edit)
        assert res["L2_excess"] is False and res["L1_excess"] is True and res["S_star"] is True

    def test_alignment_record_off(self, recorded, tmp_path):
        def edit(z):
            z["step_align"] = z["step_align"].copy()
            z["step_align"][200] += 1e-9 * max(1.0, abs(z["step_align"][200]))
        res = self._certify_edit(recorded, tmp_path, edit)
        assert res["L1_excess"] is False and res["L2_excess"] is True

    def test_wrong_step_size_in_metadata(self, recorded, tmp_path):
        def edit(z):
            meta = json.loads(str(z["meta"][()]))
            meta["config"]["lr"] *= 1.01
            z["meta"] = np.array(json.dumps(meta))
        res = self._certify_edit(recorded, tmp_path, edit)
        assert res["L1_excess"] is False and res["L2_excess"] is False

    def test_margin_record_changed(self, recorded, tmp_path):
        def edit(z):
            z["step_z"] = z["step_z"].copy()
            z["step_z"][50] += 1e-6
        res = self._certify_edit(recorded, tmp_path, edit)
        assert res["L2_excess"] is False

    def test_changed_run_file_fails_its_hash(self, recorded, tmp_path):
        import shutil

        folder = tmp_path / "copy"
        shutil.copytree(recorded["cert"].parent, folder / "cert")
        shutil.copy(recorded["run_path"], folder / "run.npz")
        with open(folder / "run.npz", "ab") as fh:
            fh.write(b"\0")
        rep = check_certificate(folder / "cert" / "convergence.json")
        assert not rep.accepted and "sha256" in rep.error


class TestInputs:
    def test_run_without_step_records(self, recorded, tmp_path, capsys):
        run = train(recorded["data"], TrainConfig(width=2, alpha=0.5, lr=0.05, steps=200, seed=0))
        p = save_run(tmp_path / "plain.npz", run)
        with pytest.raises(InputError):
            certify_convergence(p, None, tmp_path / "c")
        assert main(["certify", str(p), "--kind", "convergence", "--out", str(tmp_path / "c2")]) == 2
        assert not (tmp_path / "c2").exists()

    def test_other_data(self, recorded, tmp_path):
        other = verify.teacher_dataset(n=80, d=5, seed=4, margin=0.3)
        with pytest.raises(InputError):
            certify_convergence(recorded["run_path"], other, tmp_path)

    def test_cli_certify_check_bound(self, recorded, tmp_path, capsys):
        out = tmp_path / "cli"
        assert main(["certify", str(recorded["run_path"]), "--kind", "convergence", "--out", str(out)]) == 0
        assert main(["check", str(out / "convergence.json")]) == 0
        capsys.readouterr()
        assert main(["bound", "--run", str(recorded["run_path"]), "--eps", "0.1", "--json"]) == 0
        res = json.loads(capsys.readouterr().out)
        assert res["S_star"] >= recorded["run"].trajectory.S

    def test_bound_run_bad_inputs_exit_2(self, recorded, tmp_path, capsys):
        assert main(["bound", "--run", str(tmp_path / "missing.npz")]) == 2
        assert main(["bound", "--run", str(recorded["run_path"]), "--data", "teacher:n=80,d=5,seed=4,margin=0.3"]) == 2

    def test_vacuous_run(self, tmp_path):
        data = verify.teacher_dataset(n=100, d=20, seed=0, margin=0.0)
        run = train(data, TrainConfig(width=2, alpha=0.1, lr=0.01, steps=300, seed=0, record_steps=True))
        p = save_run(tmp_path / "run.npz", run)
        cert = certify_convergence(p, None, tmp_path / "c", direction="reference")
        c = json.loads(cert.read_text())
        assert c["info"]["vacuous"] is True and "S_star" not in c["info"]
        assert {x["name"] for x in c["claims"]} == {"L1_excess", "L2_excess"}
        assert check_certificate(cert).accepted


def test_checker_kind_imports_only_the_checker():
    tree = ast.parse((ROOT / "verify/check/kinds/convergence.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level >= 1 or node.module in ("__future__", "fractions", "json", "numpy"), node.module
            if node.level == 1:
                pytest.fail("kinds must import from the checker core (..), not siblings")
        elif isinstance(node, ast.Import):
            for a in node.names:
                assert a.name.split(".")[0] in ("json", "math", "numpy", "flint", "fractions"), a.name


# --- the bound over many seeded runs -----------------------------------------------------------

def _random_run(seed: int):
    """d, n, k, α, η, T, the data margin and the init scale (zero and large included) drawn from `seed`."""
    rng = np.random.default_rng(seed)
    d = int(rng.integers(2, 21))
    n = int(rng.integers(20, 201))
    k = int(rng.integers(1, 11))
    alpha = float(rng.choice([0.1, 0.3, 0.5, 0.7, 0.9, 0.99]))
    lr = float(10 ** rng.uniform(-2, 0))
    init = float(rng.choice([0.0, 1e-3, 0.1, 1.0, 10.0]))
    steps = int(rng.integers(2000, 20001))
    data = verify.teacher_dataset(n=n, d=d, seed=seed, margin=float(rng.choice([0.3, 0.5, 1.0])))
    return train(data, TrainConfig(width=k, alpha=alpha, lr=lr, steps=steps, seed=seed, init_scale=init))


def _ratio(seed: int):
    run = _random_run(seed)
    P = run_parameters(run, direction="reference")
    b = convergence_bound(**{k: P[k] for k in BOUND_KEYS})
    return None if b["vacuous"] else run.trajectory.S / b["S_star"]


def _sweep(seeds):
    ratios = [_ratio(s) for s in seeds]
    live = [r for r in ratios if r is not None]
    return ratios, live


def test_bound_holds_on_30_seeded_runs():
    ratios, live = _sweep(range(30))
    assert len(live) >= 10
    assert max(live) <= 1.0, max(live)


@pytest.mark.slow
def test_bound_holds_on_2000_seeded_runs():
    ratios, live = _sweep(range(1000, 3000))
    assert len(live) >= 500
    assert max(live) <= 1.0
    print(f"\n2000 runs: {len(live)} non-vacuous, S_T/S* max {max(live):.4f}, median {np.median(live):.4f}")


def test_adversarial_near_linear_net_is_tight():
    # two points ±e1, margin = radius = 1, α = 0.99: the net is nearly linear and the
    # perceptron-style argument nearly tight
    data = Dataset(np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([1.0, -1.0]), teacher=np.array([1.0, 0.0]),
                   source="two points")
    run = train(data, TrainConfig(width=1, alpha=0.99, lr=0.1, steps=100000, seed=0, init_scale=0.0))
    P = run_parameters(run, direction="reference")
    b = convergence_bound(**{k: P[k] for k in BOUND_KEYS})
    ratio = run.trajectory.S / b["S_star"]
    assert 0.5 < ratio <= 1.0


def test_notebook_01_executes():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(ROOT / "notebooks/01_derivation.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not any(o.get("output_type") == "error" for o in outputs)
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "violations: 0" in text
