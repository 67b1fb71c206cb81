"""Theorem 3 (THEORY.md §4): the monitor, the exact `clustering` certificate and its checker."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import verify
from verify import InputError, TrainConfig
from verify._clustering import band_beta, certify_clustering, clustering_monitor, spread
from verify.check import check_certificate

SHARED_DATA = "teacher:n=200,d=10,seed=0,margin=0.1"


def _shared_config(seed: int, **kw) -> TrainConfig:
    # α = 0.5, small init, small step: the regime where THEORY.md §4 saw the shared pattern
    base = dict(width=5, alpha=0.5, lr=0.001, steps=200_000, seed=seed, init_scale=1e-3, record_steps=True)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def shared_runs(tmp_path_factory):
    data = verify.load_dataset(SHARED_DATA)
    out = []
    for seed in (0, 1, 2):
        run = verify.train(data, _shared_config(seed))
        path = verify.save_run(tmp_path_factory.mktemp(f"run{seed}") / "run.npz", run)
        out.append((run, path))
    return out


@pytest.fixture(scope="module")
def certified(shared_runs, tmp_path_factory):
    run, path = shared_runs[0]
    folder = tmp_path_factory.mktemp("cert")
    return run, path, certify_clustering(path, None, folder)


def _replay_shared_last_fail(run) -> int:
    """Independent replay of the recorded SGD steps: last step whose σ' differ within a sign."""
    tr, cfg, data = run.trajectory, run.config, run.data
    Wp, Wn = run.init.W_pos.copy(), run.init.W_neg.copy()
    last = -1
    for t, i in enumerate(tr.step_idx):
        x, y = data.X[i], data.y[i]
        sp = np.where(Wp @ x > 0, 1.0, cfg.alpha)
        sn = np.where(Wn @ x > 0, 1.0, cfg.alpha)
        if np.ptp(sp) > 0 or np.ptp(sn) > 0:
            last = t
        c = cfg.lr * tr.step_g[t] * y
        Wp += (c * sp)[:, None] * x
        Wn -= (c * sn)[:, None] * x
    return last


class TestMonitor:
    def test_condition_met_and_frozen(self, shared_runs):
        for run, _ in shared_runs:
            mon = clustering_monitor(run)
            assert mon["condition_met"], mon["reason"]
            assert 0 < mon["t0"] < run.config.steps // 2
            assert mon["frozen"] and mon["bound_holds_all"]
            rows = mon["snapshots"]
            assert len(rows) >= 10 and rows[0]["step"] == mon["s0"] >= mon["t0"]
            # D constant to rounding, β decreasing like the bound
            D = np.array([max(r["D_w"], r["D_u"]) for r in rows])
            assert np.allclose(D, D[0], rtol=1e-9, atol=0)
            assert np.all(np.diff([r["beta"] for r in rows]) < 0)
            assert all(r["beta"] <= r["bound"] for r in rows)

    def test_t0_matches_an_independent_replay(self):
        data = verify.load_dataset(SHARED_DATA)
        run = verify.train(data, _shared_config(2, steps=30_000, lr=0.01, init_scale=1e-6))
        assert run.trajectory.shared_last_fail == _replay_shared_last_fail(run)
        mon = clustering_monitor(run)
        assert mon["t0"] == run.trajectory.shared_last_fail + 1

    def test_frozen_differences_are_real_not_vacuous(self, shared_runs):
        run, _ = shared_runs[0]
        mon = clustering_monitor(run)
        # before t₀ the differences moved by far more than the rounding tolerance after it
        tr = run.trajectory
        before = np.flatnonzero(tr.snap_steps < mon["t0"])
        diff = lambda W: W - W[:1]  # noqa: E731
        moved = np.max(np.abs(diff(tr.snap_W_pos[before[-1]]) - diff(tr.snap_W_pos[before[len(before) // 2]])))
        assert moved > 1e4 * max(r["tolerance"] for r in mon["snapshots"])

    def test_bound_formula_from_its_parts(self, shared_runs):
        run, _ = shared_runs[1]
        mon = clustering_monitor(run)
        tr, cfg = run.trajectory, run.config
        w = run.reference
        gamma = np.min(run.data.y * (run.data.X @ w))
        a0 = float(run.init.W_pos.sum(0) @ w - run.init.W_neg.sum(0) @ w)
        last = mon["snapshots"][-1]
        D0 = mon["D_t0"]
        expected = (1 - cfg.alpha) * D0 / (cfg.alpha * (a0 + cfg.lr * gamma * tr.sums["S_prime"]))
        assert np.isclose(last["bound"], expected, rtol=1e-12)
        # β with the k-per-sign mean form of THEORY.md §3 is the same number
        k = cfg.width
        wbar, ubar = run.final.W_pos.mean(0), run.final.W_neg.mean(0)
        beta_k = (1 - cfg.alpha) * max(spread(run.final.W_pos), spread(run.final.W_neg)) / (
            k * cfg.alpha * np.linalg.norm(wbar - ubar))
        assert np.isclose(band_beta(run.final.W_pos, run.final.W_neg, cfg.alpha), beta_k, rtol=1e-12)

    def test_zero_init_is_one_cluster_per_sign_from_the_start(self):
        data = verify.load_dataset("teacher:n=50,d=4,seed=3,margin=0.1")
        run = verify.train(data, TrainConfig(width=4, alpha=0.3, lr=0.1, steps=5000, seed=0, init_scale=0.0))
        mon = clustering_monitor(run)
        assert mon["t0"] == 0 and mon["condition_met"] and mon["frozen"]
        assert mon["beta_final"] == 0.0 and all(r["drift"] == 0.0 for r in mon["snapshots"])

    def test_condition_not_met_is_reported(self):
        data = verify.load_dataset("teacher:n=400,d=10,seed=0,margin=0.1")
        run = verify.train(data, TrainConfig(width=10, alpha=0.1, lr=0.05, steps=20_000, seed=1, init_scale=1e-3))
        mon = clustering_monitor(run)
        assert not mon["condition_met"] and mon["reason"].startswith("condition not met")
        assert mon["snapshots"] == [] and mon["frozen"] is None
        assert np.isfinite(mon["beta_final"])


class TestCertificate:
    def test_accepted_with_every_claim(self, certified):
        _, _, cert_path = certified
        cert = json.loads(cert_path.read_text())
        names = [c["name"] for c in cert["claims"]]
        assert names == ["shared_since", "condition_met", "beta_final", "difference_drift", "differences_frozen",
                         "shared_at_snapshots", "margin_gamma", "beta_bound_all_snapshots", "beta_bound_final"]
        rep = check_certificate(cert_path)
        assert rep.accepted, rep.to_dict()

    def test_values_are_tight(self, certified):
        run, _, cert_path = certified
        cert = json.loads(cert_path.read_text())
        v = {c["name"]: c["value"] for c in cert["claims"]}
        assert np.isclose(v["beta_final"], band_beta(run.final.W_pos, run.final.W_neg, 0.5), rtol=1e-12)
        mon = clustering_monitor(run)
        assert v["difference_drift"] == max(r["drift"] for r in mon["snapshots"])
        assert v["shared_since"] == mon["t0"]

    @pytest.mark.parametrize("name,factor", [("beta_final", 1 - 1e-6), ("beta_bound_final", 1 - 1e-6),
                                             ("margin_gamma", 1 + 1e-6), ("difference_drift", 0.5)])
    def test_strengthened_claims_are_rejected(self, certified, tmp_path, name, factor):
        _, run_path, cert_path = certified
        cert = json.loads(cert_path.read_text())
        for c in cert["claims"]:
            if c["name"] == name:
                c["value"] = c["value"] * factor
        self._rewrite(cert, run_path, tmp_path)
        rep = check_certificate(tmp_path / "c.json")
        assert not rep.accepted
        assert [r.name for r in rep.results if not r.accepted] == [name]

    @pytest.mark.parametrize("name,value", [("shared_since", 16768), ("condition_met", 0)])
    def test_wrong_exact_claims_are_rejected(self, certified, tmp_path, name, value):
        _, run_path, cert_path = certified
        cert = json.loads(cert_path.read_text())
        for c in cert["claims"]:
            if c["name"] == name:
                c["value"] = value
        self._rewrite(cert, run_path, tmp_path)
        assert not check_certificate(tmp_path / "c.json").accepted

    @staticmethod
    def _rewrite(cert, run_path, folder, arrays=None):
        """Write `cert` (and optionally a modified run) into `folder`, hashes made consistent."""
        from verify._certificate import input_entry

        target = folder / "run.npz"
        if arrays is None:
            target.write_bytes(run_path.read_bytes())
        else:
            np.savez_compressed(target, **arrays)
        cert["inputs"] = [input_entry("run", target, folder)]
        (folder / "c.json").write_text(json.dumps(cert))

    def _tampered(self, certified, tmp_path, edit):
        _, run_path, cert_path = certified
        with np.load(run_path, allow_pickle=False) as z:
            arrays = {k: z[k].copy() for k in z.files}
        edit(arrays)
        self._rewrite(json.loads(cert_path.read_text()), run_path, tmp_path, arrays)
        return check_certificate(tmp_path / "c.json")

    def test_moved_snapshot_breaks_frozen(self, certified, tmp_path):
        def edit(a):
            a["snap_W_pos"][-3, 2, 4] += 1e-7

        rep = self._tampered(certified, tmp_path, edit)
        bad = {r.name for r in rep.results if not r.accepted}
        assert {"differences_frozen", "difference_drift"} <= bad

    def test_inflated_gradient_sum_breaks_the_bound(self, certified, tmp_path):
        def edit(a):
            a["snap_sums"][-5:, 1] *= 50  # a recorded S' 50× larger makes the bound too small

        rep = self._tampered(certified, tmp_path, edit)
        assert {r.name for r in rep.results if not r.accepted} == {"beta_bound_all_snapshots"}

    def test_deflated_gradient_sum_breaks_the_final_bound_value(self, certified, tmp_path):
        def edit(a):
            a["snap_sums"][-1, 1] *= 0.5  # a smaller S' at T makes the bound at T larger than claimed

        rep = self._tampered(certified, tmp_path, edit)
        assert "beta_bound_final" in {r.name for r in rep.results if not r.accepted}

    def test_inconsistent_sharing_record_rejects(self, certified, tmp_path):
        def edit(a):
            a["snap_shared_last_fail"][-1] -= 100

        rep = self._tampered(certified, tmp_path, edit)
        assert not rep.accepted and "sharing record" in rep.error

    def test_nonseparating_reference_rejects(self, certified, tmp_path):
        _, run_path, cert_path = certified
        cert = json.loads(cert_path.read_text())
        cert["witness"]["reference"] = ["1/1"] + ["0/1"] * 9
        self._rewrite(cert, run_path, tmp_path)
        rep = check_certificate(tmp_path / "c.json")
        assert not rep.accepted and "separate" in rep.error

    def test_changed_run_file_fails_its_hash(self, certified, tmp_path):
        _, run_path, cert_path = certified
        cert = json.loads(cert_path.read_text())
        self._rewrite(cert, run_path, tmp_path)
        raw = bytearray((tmp_path / "run.npz").read_bytes())
        raw[-40] ^= 1
        (tmp_path / "run.npz").write_bytes(bytes(raw))
        rep = check_certificate(tmp_path / "c.json")
        assert not rep.accepted and "sha256" in rep.error

    def test_condition_not_met_certificate(self, tmp_path):
        data = verify.load_dataset("teacher:n=100,d=5,seed=0,margin=0.3")
        run = verify.train(data, TrainConfig(width=5, alpha=0.5, lr=0.01, steps=20_000, seed=0, init_scale=1e-3))
        path = verify.save_run(tmp_path / "run.npz", run)
        cert_path = certify_clustering(path, data, tmp_path / "c")
        cert = json.loads(cert_path.read_text())
        v = {c["name"]: c["value"] for c in cert["claims"]}
        assert set(v) == {"shared_since", "condition_met", "beta_final"} and v["condition_met"] == 0
        assert check_certificate(cert_path).accepted

    def test_data_mismatch_is_an_input_error(self, shared_runs, tmp_path):
        _, path = shared_runs[0]
        other = verify.load_dataset("teacher:n=200,d=10,seed=1,margin=0.1")
        with pytest.raises(InputError, match="does not match"):
            certify_clustering(path, other, tmp_path)
        assert not any(tmp_path.iterdir())


class TestCLI:
    def test_certify_and_check_exit_codes(self, shared_runs, tmp_path):
        _, path = shared_runs[2]
        from verify.cli import main

        assert main(["certify", str(path), "--kind", "clustering", "--out", str(tmp_path / "c")]) == 0
        cert = tmp_path / "c" / "clustering.json"
        assert main(["check", str(cert)]) == 0
        doc = json.loads(cert.read_text())
        doc["claims"][2]["value"] *= 0.5
        cert.write_text(json.dumps(doc))
        assert main(["check", str(cert)]) == 1
        assert main(["certify", str(tmp_path / "missing.npz"), "--kind", "clustering", "--out", str(tmp_path)]) == 2


def test_checker_kind_imports_nothing_outside_verify_check():
    code = ("import sys, verify.check.kinds.clustering; "
            "bad = [m for m in sys.modules if m.startswith('verify.') and not m.startswith('verify.check')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.slow
def test_regimes_of_the_shared_pattern(tmp_path):
    """THEORY.md §4's measurement: the pattern is shared at α=0.5 with a small init and step, not at α=0.1."""
    data = verify.load_dataset(SHARED_DATA)
    met = {}
    for alpha in (0.5, 0.1):
        met[alpha] = 0
        for seed in range(20):
            run = verify.train(data, _shared_config(seed, alpha=alpha))
            mon = clustering_monitor(run)
            if mon["condition_met"]:
                met[alpha] += 1
                assert mon["frozen"] and mon["bound_holds_all"]
            path = verify.save_run(tmp_path / f"run-{alpha}-{seed}.npz", run)
            assert check_certificate(certify_clustering(path, None, tmp_path / f"c-{alpha}-{seed}")).accepted
    assert met[0.5] >= 15 and met[0.1] == 0
