"""`verify._audit.audit` and the `verify audit` command (THEORY.md §3, §6)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import verify
from verify._audit import audit
from verify.cli import main


@pytest.fixture(scope="module")
def run2d(tmp_path_factory):
    data = verify.teacher_dataset(n=80, d=2, seed=5, margin=0.1)
    run = verify.train(data, verify.TrainConfig(width=4, alpha=0.5, lr=0.05, steps=6000, seed=2, snapshots=12))
    folder = tmp_path_factory.mktemp("audit")
    return data, run, verify.save_run(folder / "run.npz", run)


class TestAudit:
    def test_fields_and_consistency(self, run2d, tmp_path):
        data, run, path = run2d
        r = audit(run.final, data, run=run, report_dir=tmp_path / "rep")
        for key in ("direction", "band_beta", "certified_fraction", "band_probability", "clusters",
                    "angles_deg", "train_error", "predicted_limit", "run", "report"):
            assert key in r, key
        v = np.asarray(r["direction"])
        assert abs(np.linalg.norm(v) - 1) < 1e-12
        c = run.final.W_pos.sum(0) - run.final.W_neg.sum(0)
        np.testing.assert_allclose(v, c / np.linalg.norm(c), atol=1e-15)
        assert r["train_error"] == float(np.mean(run.final.predict(data.X) != data.y))
        assert 0 <= r["certified_fraction"]["train"] <= r["agreement_fraction"]["train"] <= 1
        assert r["band_fraction"]["train"] <= r["certified_fraction"]["train"]
        assert isinstance(r["predicted_limit"]["self_consistent"], bool)
        assert set(r["angles_deg"]) >= {"network-P*", "network-svm", "network-teacher", "P*-svm"}
        # angle to the teacher recomputed independently
        t = data.teacher / np.linalg.norm(data.teacher)
        assert abs(r["angles_deg"]["network-teacher"] - np.degrees(np.arccos(np.clip(v @ t, -1, 1)))) < 1e-5
        h = r["run"]
        assert len(h["beta"]) == len(h["steps"]) == len(h["cluster_count"]) == len(run.trajectory.snap_steps)
        assert h["beta"][-1] == pytest.approx(r["band_beta"])
        files = {p.name for p in (tmp_path / "rep").iterdir()}
        assert {"report.md", "cosine.png", "neurons.png", "margins.png", "boundary.png", "history.png"} <= files
        md = (tmp_path / "rep" / "report.md").read_text()
        assert "![Decision boundary](boundary.png)" in md and f"{r['band_beta']:.4g}" in md
        json.dumps(r)  # JSON-ready, no inf/NaN objects

    def test_exact_multiples(self, rng):
        v = np.array([0.5, -0.5, 0.5, 0.5])
        net = verify.Network(np.array([[1.0], [3.0]]) * v, np.array([[2.0], [0.5], [1.0]]) * (-v), 0.1)
        X = rng.standard_normal((500, 4))
        data = verify.Dataset(X, np.where(X @ v > 0, 1.0, -1.0))
        r = audit(net, data)
        assert r["band_beta"] == 0.0 and r["certified_fraction"]["train"] == 1.0
        assert r["direction"] == v.tolist()
        assert r["angles_deg"]["network-svm"] < 1.0 and r["train_error"] == 0.0
        assert r["clusters"]["two_clusters"]

    def test_counterexample_closer_to_limit_than_svm(self):
        """THEORY.md §6: on the 3 points SGD ends nearer P* (17.1° from the SVM) than the SVM."""
        from verify._limit import COUNTEREXAMPLE

        X, y, alpha = COUNTEREXAMPLE
        data = verify.Dataset(X, y)
        run = verify.train(data, verify.TrainConfig(width=3, alpha=alpha, lr=0.5, steps=400000, seed=0,
                                                    init_scale=1e-3, snapshots=8))
        r = audit(run.final, data)
        a = r["angles_deg"]
        assert a["P*-svm"] == pytest.approx(17.1, abs=0.05)
        assert r["predicted_limit"]["self_consistent"]
        assert a["network-P*"] < a["network-svm"]
        # convergence in direction is logarithmically slow: after 4·10⁵ steps about 6° remain
        assert a["network-P*"] < 10.0 and a["network-svm"] > 15.0


class TestCommand:
    def test_json_run_uses_stored_data(self, run2d, capsys):
        data, run, path = run2d
        assert main(["audit", str(path), "--json"]) == 0
        r = json.loads(capsys.readouterr().out)
        assert r["certified_fraction"]["train"] is not None and r["certified_fraction"]["test"] is None
        assert "run" in r and r["network"]["k_pos"] == 4

    def test_human_text(self, run2d, capsys, tmp_path):
        data, run, path = run2d
        test = tmp_path / "test.npz"
        rng = np.random.default_rng(0)
        Xt = rng.standard_normal((200, 2))
        verify.save_dataset(test, verify.Dataset(Xt, np.where(Xt @ data.teacher > 0, 1.0, -1.0)))
        assert main(["audit", str(path), "--test", str(test)]) == 0
        out = capsys.readouterr().out
        assert "band      β =" in out and "test      certified" in out

    def test_missing_alpha_for_state_dict(self, tmp_path, capsys):
        p = tmp_path / "net.pt"
        p.write_bytes(b"not read before --alpha is checked")
        rep = tmp_path / "rep"
        assert main(["audit", str(p), "--report", str(rep)]) == 2
        assert "--alpha" in capsys.readouterr().err
        assert not rep.exists()

    def test_shape_mismatch(self, run2d, tmp_path, capsys):
        data, run, path = run2d
        rep = tmp_path / "rep"
        assert main(["audit", str(path), "--data", "teacher:n=50,d=3,seed=0", "--report", str(rep)]) == 2
        assert "dimension" in capsys.readouterr().err
        assert not rep.exists()

    def test_non_finite_weights(self, tmp_path, capsys):
        p = tmp_path / "bad.npz"
        np.savez(p, W_pos=np.array([[1.0, np.nan]]), W_neg=np.array([[0.0, 1.0]]), alpha=np.float64(0.5))
        assert main(["audit", str(p)]) == 2
        assert "NaN" in capsys.readouterr().err

    def test_exact(self, run2d, capsys):
        pytest.importorskip("verify._disagreement")
        data, run, path = run2d
        assert main(["audit", str(path), "--exact", "--json"]) == 0
        r = json.loads(capsys.readouterr().out)
        ex = r["exact"]
        assert {"beta_plus", "beta_minus", "certified_interval"} <= set(ex)


class TestPyTorch:
    def test_imported_net_with_biases(self, tmp_path, capsys):
        torch = pytest.importorskip("torch")
        torch.manual_seed(0)
        rng = np.random.default_rng(3)
        w = np.array([1.0, -2.0, 0.5])
        X = rng.standard_normal((200, 3))
        y = np.where(X @ w + 0.3 > 0, 1.0, -1.0)
        model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.LeakyReLU(0.2), torch.nn.Linear(8, 1))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        Xt, yt = torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
        for _ in range(300):
            opt.zero_grad()
            loss = torch.nn.functional.softplus(-yt * model(Xt).squeeze(1)).mean()
            loss.backward()
            opt.step()
        path = tmp_path / "net.pt"
        torch.save(model.state_dict(), path)
        data = verify.Dataset(X, y)
        verify.save_dataset(tmp_path / "d.npz", data)
        assert main(["audit", str(path), "--alpha", "0.2", "--data", str(tmp_path / "d.npz"), "--json"]) == 0
        r = json.loads(capsys.readouterr().out)
        assert r["network"]["input_bias"] and len(r["direction"]) == 4
        net = verify.load_network(path, alpha=0.2)
        with torch.no_grad():
            ref = model.double()(torch.tensor(X)).squeeze(1).numpy()
        np.testing.assert_allclose(net(X), ref, rtol=1e-12, atol=1e-12)
        assert np.array_equal(net.predict(X), np.where(ref > 0, 1.0, -1.0))
        assert r["train_error"] == float(np.mean(np.where(ref > 0, 1.0, -1.0) != y))
        assert r["train_error"] < 0.1
        st = pytest.importorskip("safetensors.torch")
        st.save_file({k: v.float().contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "net.safetensors"))
        assert main(["audit", str(tmp_path / "net.safetensors"), "--alpha", "0.2", "--data", str(tmp_path / "d.npz"),
                     "--json"]) == 0
        r2 = json.loads(capsys.readouterr().out)
        assert r2["direction"] == r["direction"] and r2["band_beta"] == r["band_beta"]
