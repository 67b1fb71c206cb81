"""Ensembles: each run equals the single run with its seed (bit for bit on the numba path,
to float tolerance on the PyTorch / Triton paths); memory stays bounded; CLI and files."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

import verify
from verify import _ensemble
from verify._ensemble import load_ensemble, save_ensemble, train_ensemble
from verify._train import IndexStream, train
from verify.cli import main

# float64 PyTorch / Triton engines sum in another order than the numba loop: a few ulps per
# step, so 1e-9 relative over a few hundred steps is loose enough and still catches any bug
TOL64 = dict(rtol=1e-9, atol=1e-11)

CONFIGS = {
    "sgd": verify.TrainConfig(width=3, alpha=0.3, lr=0.1, steps=700, snapshots=6),
    "epoch-minibatch": verify.TrainConfig(width=2, alpha=0.4, lr=0.2, steps=150, sampling="epoch", batch=4,
                                          snapshots=4),
    "records-zero-init": verify.TrainConfig(width=2, alpha=0.5, lr=0.05, steps=120, record_steps=True,
                                            init_scale=0.0, snapshots=3),
    "full-batch": verify.TrainConfig(width=2, alpha=0.2, lr=0.5, steps=40, batch=0, snapshots=2),
}
SEEDS = [0, 5, 5, 11]  # a repeated seed must give the same run twice


def _assert_same_run(a, b, exact=True, tol=TOL64):
    A, B = a.trajectory.to_arrays(), b.trajectory.to_arrays()
    assert A.keys() == B.keys()
    pairs = [(k, A[k], B[k]) for k in A]
    pairs += [("final_W_pos", a.final.W_pos, b.final.W_pos), ("final_W_neg", a.final.W_neg, b.final.W_neg),
              ("init_W_pos", a.init.W_pos, b.init.W_pos), ("init_W_neg", a.init.W_neg, b.init.W_neg)]
    for key, x, y in pairs:
        if exact:
            assert np.array_equal(x, y), key
        else:
            np.testing.assert_allclose(np.asarray(x, float), np.asarray(y, float), err_msg=key, **tol)
    assert a.config == b.config


@pytest.fixture(scope="module")
def data():
    return verify.teacher_dataset(n=50, d=4, seed=3, margin=0.1)


@pytest.fixture(scope="module")
def numba_runs(data):
    return {name: train_ensemble(data, cfg, SEEDS) for name, cfg in CONFIGS.items()}


class TestIndexStream:
    @pytest.mark.parametrize("sampling,batch", [("uniform", 1), ("uniform", 3), ("epoch", 1), ("epoch", 4)])
    def test_split_invariant(self, sampling, batch):
        # the ensemble cuts sample blocks differently from `train`; this is why that is exact
        whole = IndexStream(37, sampling, batch, seed=9).take(500)
        s = IndexStream(37, sampling, batch, seed=9)
        parts = np.concatenate([s.take(k) for k in (1, 3, 7, 89, 400)])
        assert np.array_equal(whole, parts)


class TestNumbaEqualsSingleRuns:
    @pytest.mark.parametrize("name", sorted(CONFIGS))
    def test_bitwise(self, data, numba_runs, name):
        cfg = CONFIGS[name]
        runs = numba_runs[name]
        assert [r.config.seed for r in runs] == SEEDS
        for s, r in zip(SEEDS, runs):
            _assert_same_run(train(data, replace(cfg, seed=s)), r, exact=True)

    def test_bitwise_at_benchmark_shape(self):
        # large enough that BLAS would use several threads for the snapshot statistics
        big = verify.teacher_dataset(n=1000, d=50, seed=0)
        cfg = verify.TrainConfig(width=50, alpha=0.5, lr=0.01, steps=40, snapshots=3)
        for s, r in zip([2, 3, 4], train_ensemble(big, cfg, [2, 3, 4])):
            _assert_same_run(train(big, replace(cfg, seed=s)), r, exact=True)

    @pytest.mark.parametrize("width,d", [(1, 7), (5, 9), (4, 3)])
    def test_blocks_engine_bitwise(self, width, d):
        # the vectorized batch-1 engine: columns d mod 4 ≠ 0 (the tail accumulator), one neuron per sign,
        # m = 2, 10 (padded to 8, 16 lanes) and 8 (no padding)
        small = verify.teacher_dataset(n=60, d=d, seed=1, margin=0.05)
        cfg = verify.TrainConfig(width=width, alpha=0.25, lr=0.3, steps=400, snapshots=3, eps=(0.05, 0.5))
        X, W = small.X, np.zeros((1, width, d))
        assert type(_ensemble.make_engine("cpu", None, None, X, small.y, W, W, cfg, None, np.ones(1))).__name__ \
            == "BlocksEngine"
        runs = train_ensemble(small, cfg, [7, 8, 9])
        for s, r in zip([7, 8, 9], runs):
            _assert_same_run(train(small, replace(cfg, seed=s)), r, exact=True)
        if width > 1:  # one neuron per sign always shares its σ'
            assert any(r.trajectory.shared_fail_count > 0 for r in runs)  # the σ'-sharing state is exercised

    def test_runs_differ_across_seeds(self, numba_runs):
        a, b = numba_runs["sgd"][0], numba_runs["sgd"][1]
        assert not np.array_equal(a.final.W_pos, b.final.W_pos)
        assert a.trajectory.S != b.trajectory.S

    def test_small_blocks_same_result(self, data, numba_runs, monkeypatch):
        # a tiny index budget forces many short blocks per snapshot interval
        monkeypatch.setattr(_ensemble, "INDEX_BUDGET", 13)
        runs = train_ensemble(data, CONFIGS["sgd"], SEEDS)
        for a, b in zip(numba_runs["sgd"], runs):
            _assert_same_run(a, b, exact=True)

    def test_shared_init_equals_train_with_init(self, data):
        cfg = CONFIGS["sgd"]
        net = verify.Network(np.full((3, 4), 0.01), np.full((3, 4), -0.02), cfg.alpha)
        runs = train_ensemble(data, cfg, [1, 2], init=net)
        for s, r in zip([1, 2], runs):
            _assert_same_run(train(data, replace(cfg, seed=s), init=net), r, exact=True)
            assert np.array_equal(r.init.W_pos, net.W_pos)

    def test_per_run_init_arrays(self, data):
        cfg = replace(CONFIGS["sgd"], steps=50)
        rng = np.random.default_rng(0)
        Wp, Wn = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4))
        runs = train_ensemble(data, cfg, [4, 4], init=(Wp, Wn))
        for r in range(2):
            _assert_same_run(train(data, replace(cfg, seed=4), init=(Wp[r], Wn[r])), runs[r], exact=True)

    def test_trajectory_identities_hold(self, numba_runs):
        # S' lies in [mα S, m S] and the per-step records sum to the running sums
        cfg = CONFIGS["records-zero-init"]
        m = 2 * cfg.width
        for r in numba_runs["records-zero-init"]:
            tr = r.trajectory
            assert m * cfg.alpha * tr.S <= tr.sums["S_prime"] * (1 + 1e-12)
            assert tr.sums["S_prime"] <= m * tr.S * (1 + 1e-12)
            np.testing.assert_allclose(tr.step_g.sum(), tr.S, rtol=1e-12)


class TestSnapshotStats:
    @pytest.mark.parametrize("kp,kn", [(3, 2), (1, 64), (70, 3), (64, 64), (50, 50)])
    def test_activate_matches_numpy(self, kp, kn):
        # σ in place and the pattern bits, words crossing 64 columns and a word shared by both signs
        rng = np.random.default_rng(kp * 100 + kn)
        n = 37
        P, Q = rng.normal(size=(n, kp)), rng.normal(size=(n, kn))
        P[0, 0], Q[1, 0], P[2, -1], Q[3, -1] = 0.0, -0.0, np.nan, np.inf  # σ'(0) = α; NaN is not > 0
        words = -(-(kp + kn) // 64)
        prev_pattern = rng.random((n, kp + kn)) < 0.5
        prev = np.zeros((n, words), np.uint64)
        for c in range(kp + kn):
            prev[:, c // 64] |= prev_pattern[:, c].astype(np.uint64) << np.uint64(c % 64)
        pattern = np.concatenate([P > 0, Q > 0], axis=1)
        sig_P, sig_Q = np.where(P > 0, P, 0.3 * P), np.where(Q > 0, Q, 0.3 * Q)
        bits = np.zeros((n, words), np.uint64)
        flips = _ensemble._activate(P, Q, 0.3, bits, prev)
        assert flips == np.count_nonzero(pattern != prev_pattern)
        assert np.array_equal(P.view(np.uint64), sig_P.view(np.uint64))  # the same bits, signed zeros too
        assert np.array_equal(Q.view(np.uint64), sig_Q.view(np.uint64))
        got = np.array([[(bits[i, c // 64] >> np.uint64(c % 64)) & np.uint64(1) for c in range(kp + kn)]
                        for i in range(n)], dtype=bool)
        assert np.array_equal(got, pattern)
        assert _ensemble._activate(sig_P.copy(), sig_Q.copy(), 0.3, np.zeros_like(bits), prev[:0]) == 0

    def test_stats_equal_train_stats_of_snapshots(self):
        # every snapshot's loss, error and flips are `_train_stats` of the snapshot weights themselves
        from verify._train import _train_stats

        big = verify.teacher_dataset(n=300, d=20, seed=2)
        cfg = verify.TrainConfig(width=40, alpha=0.5, lr=0.05, steps=300, snapshots=4)
        for dtype in ("float64", "float32"):
            for run in train_ensemble(big, cfg, [1, 2, 3, 4, 5], dtype=dtype):
                tr = run.trajectory
                prev = None
                for s in range(tr.snap_steps.shape[0]):
                    loss, err, pat = _train_stats(verify.Network(tr.snap_W_pos[s], tr.snap_W_neg[s], cfg.alpha), big)
                    assert (loss, err) == (tr.snap_train_loss[s], tr.snap_train_error[s])
                    assert tr.snap_pattern_flips[s] == (0 if prev is None else np.count_nonzero(pat != prev))
                    prev = pat
                assert np.any(tr.snap_pattern_flips > 0)


class TestFloat32:
    """The opt-in float32 CPU engine: float32 weights and step arithmetic, float64 sums; not `train`'s bits."""

    def test_close_over_short_horizon(self, data, numba_runs):
        runs = train_ensemble(data, CONFIGS["sgd"], SEEDS, dtype="float32")
        for a, b in zip(numba_runs["sgd"], runs):
            assert b.meta["ensemble"]["dtype"] == "float32" and a.meta["ensemble"]["dtype"] == "float64"
            np.testing.assert_allclose(b.final.W_pos, a.final.W_pos, rtol=1e-3, atol=1e-5)
            np.testing.assert_allclose(b.final.W_neg, a.final.W_neg, rtol=1e-3, atol=1e-5)
            for k, v in a.trajectory.sums.items():
                assert b.trajectory.sums[k] == pytest.approx(v, rel=1e-4)
            assert np.array_equal(b.trajectory.loss_gt_eps, a.trajectory.loss_gt_eps)
            # the weights it holds are float32 numbers, so this is not the float64 engine again
            assert np.array_equal(b.final.W_pos.astype(np.float32), b.final.W_pos)
            assert not np.array_equal(b.final.W_pos, a.final.W_pos)

    def test_close_at_benchmark_width(self):
        big = verify.teacher_dataset(n=400, d=50, seed=0, margin=0.1)
        cfg = verify.TrainConfig(width=50, alpha=0.5, lr=0.05, steps=200, snapshots=3)
        seeds = list(range(6))
        for a, b in zip(train_ensemble(big, cfg, seeds), train_ensemble(big, cfg, seeds, dtype="float32")):
            assert abs(b.trajectory.S - a.trajectory.S) <= 2e-3 * a.trajectory.S
            theta = a.final.theta()
            assert np.max(np.abs(b.final.theta() - theta)) <= 2e-3 * np.max(np.abs(theta))
            loss = a.trajectory.snap_train_loss[-1]
            assert abs(b.trajectory.snap_train_loss[-1] - loss) <= 2e-3 * loss

    def test_same_distribution_over_long_horizon(self):
        # σ' jumps separate individual trajectories over long runs; the distribution over seeds agrees
        big = verify.teacher_dataset(n=400, d=50, seed=0, margin=0.1)
        cfg = verify.TrainConfig(width=50, alpha=0.5, lr=0.05, steps=2000, snapshots=0)
        seeds = list(range(64))
        S64 = np.array([r.trajectory.S for r in train_ensemble(big, cfg, seeds)])
        S32 = np.array([r.trajectory.S for r in train_ensemble(big, cfg, seeds, dtype="float32")])
        se = np.sqrt((S64.var(ddof=1) + S32.var(ddof=1)) / len(seeds))
        assert abs(S64.mean() - S32.mean()) <= 4 * se

    @pytest.mark.filterwarnings("ignore::RuntimeWarning")
    def test_divergence_names_seed(self, data):
        # 1e38 fits in float32, its preactivations do not: inf − inf = NaN
        cfg = verify.TrainConfig(width=2, alpha=0.5, lr=0.1, steps=20, snapshots=0)
        Wp = np.stack([np.full((2, 4), 0.01), np.full((2, 4), 1e38)])
        with pytest.raises(verify.InputError, match=r"diverged.*seeds \[8\]"):
            train_ensemble(data, cfg, [7, 8], init=(Wp, Wp.copy()), dtype="float32")


class TestDraw:
    def test_pool_equals_serial(self):
        from concurrent.futures import ThreadPoolExecutor

        mk = lambda: [IndexStream(23, "epoch", 2, seed=s) for s in range(37)]  # noqa: E731
        a = np.empty((37, 11, 2), np.int32)
        b = np.empty((37, 11, 2), np.int32)
        serial, pooled = mk(), mk()
        with ThreadPoolExecutor(3) as pool:
            for _ in range(3):  # successive blocks continue each run's own stream
                _ensemble._draw(serial, a, None, 1)
                _ensemble._draw(pooled, b, pool, 3)
                assert np.array_equal(a, b)
        assert not np.array_equal(a[0], a[1])


class TestBounded:
    def test_index_blocks_within_budget(self, data, monkeypatch):
        seen = []

        def spying(cls):
            orig = cls.advance

            def spy(self, idx, t_base):
                seen.append((type(self).__name__, idx.size))
                return orig(self, idx, t_base)

            monkeypatch.setattr(cls, "advance", spy)

        monkeypatch.setattr(_ensemble, "INDEX_BUDGET", 64)
        spying(_ensemble.NumbaEngine)
        spying(_ensemble.BlocksEngine)
        R = 4
        for cfg, engine in [(CONFIGS["sgd"], "BlocksEngine"), (CONFIGS["records-zero-init"], "NumbaEngine")]:
            seen.clear()
            train_ensemble(data, replace(cfg, steps=300, snapshots=0), list(range(R)))
            assert seen and {name for name, _ in seen} == {engine}
            assert max(size for _, size in seen) <= 64 and sum(size for _, size in seen) == 300 * R

    def test_no_per_step_arrays_unless_asked(self, data):
        X, y = data.X, data.y
        W = np.zeros((5, 2, 4))
        eng = _ensemble.NumbaEngine(X, y, W, W, 0.5, 0.1, None, np.array([0.5]), False, 10**9)
        assert all(r.size == 0 for r in eng.recs)  # T = 10⁹ steps costs nothing without records
        runs = train_ensemble(data, replace(CONFIGS["sgd"], steps=20), [0, 1])
        assert runs[0].trajectory.step_g is None

    def test_snapshot_memory_refused(self, data, monkeypatch):
        monkeypatch.setattr(_ensemble, "SNAPSHOT_BYTES_LIMIT", 10_000)
        with pytest.raises(verify.InputError, match="snapshots"):
            train_ensemble(data, CONFIGS["sgd"], list(range(50)))


class TestBadInput:
    @pytest.mark.parametrize("seeds", [[], [-1], [1.5], "ab"])
    def test_bad_seeds(self, data, seeds):
        with pytest.raises(verify.InputError):
            train_ensemble(data, CONFIGS["sgd"], seeds)

    def test_bad_init_shape(self, data):
        with pytest.raises(verify.InputError, match="initial"):
            train_ensemble(data, CONFIGS["sgd"], [0, 1], init=(np.zeros((2, 4)), np.zeros((3, 4))))
        with pytest.raises(verify.InputError, match="3 runs"):
            train_ensemble(data, CONFIGS["sgd"], [0, 1, 2], init=[(np.zeros((3, 4)), np.zeros((3, 4)))] * 2)

    def test_bad_backend(self, data):
        with pytest.raises(verify.InputError, match="backend"):
            train_ensemble(data, CONFIGS["sgd"], [0], backend="opencl")
        with pytest.raises(verify.InputError, match="dtype"):
            train_ensemble(data, CONFIGS["sgd"], [0], dtype="float16")
        for name in ("epoch-minibatch", "records-zero-init"):  # float32 is the batch-1 engine's only
            with pytest.raises(verify.InputError, match="float32"):
                train_ensemble(data, CONFIGS[name], [0], dtype="float32")

    @pytest.mark.filterwarnings("ignore::RuntimeWarning")
    def test_divergence_names_seed(self, data):
        # run 1 starts at 1e308: its output is inf − inf = NaN, so its weights turn NaN
        cfg = verify.TrainConfig(width=2, alpha=0.5, lr=0.1, steps=20, snapshots=0)
        Wp = np.stack([np.full((2, 4), 0.01), np.full((2, 4), 1e308)])
        with pytest.raises(verify.InputError, match=r"diverged.*seeds \[8\]"):
            train_ensemble(data, cfg, [7, 8], init=(Wp, Wp.copy()))


class TestFiles:
    def test_save_load_roundtrip(self, tmp_path, numba_runs):
        runs = numba_runs["records-zero-init"]
        paths = save_ensemble(tmp_path / "ens", runs)
        assert [p.name for p in paths] == ["run-0000.npz", "run-0001.npz", "run-0002.npz", "run-0003.npz"]
        back = load_ensemble(tmp_path / "ens")
        for a, b in zip(runs, back):
            _assert_same_run(a, b, exact=True)
        manifest = json.loads((tmp_path / "ens" / "ensemble.json").read_text())
        assert manifest["seeds"] == SEEDS and manifest["summary"]["runs"] == 4
        # each file is an ordinary run file: networks load directly
        net = verify.load_network(paths[2])
        assert np.array_equal(net.W_pos, runs[2].final.W_pos)

    def test_load_rejects_non_ensemble(self, tmp_path):
        with pytest.raises(verify.InputError, match="ensemble.json"):
            load_ensemble(tmp_path)
        (tmp_path / "ensemble.json").write_text('{"format": "other"}')
        with pytest.raises(verify.InputError, match="manifest"):
            load_ensemble(tmp_path)


class TestCLI:
    ARGS = ["teacher:n=40,d=3,seed=2,margin=0.1", "--width", "2", "--alpha", "0.5", "--lr", "0.1",
            "--steps", "300", "--snapshots", "3"]

    def test_runs_folder_equals_single_runs(self, tmp_path, capsys):
        out = tmp_path / "ens"
        assert main(["train", *self.ARGS, "--runs", "3", "--seed", "7", "--out", str(out), "--json"]) == 0
        s = json.loads(capsys.readouterr().out)
        assert s["runs"] == 3 and s["seeds"] == [7, 8, 9] and s["backend"] == "numba"
        single = tmp_path / "one.npz"
        assert main(["train", *self.ARGS, "--seed", "8", "--out", str(single)]) == 0
        _assert_same_run(verify.load_run(single), verify.load_run(out / "run-0001.npz"), exact=True)

    def test_dtype_float32(self, tmp_path, capsys):
        out = tmp_path / "ens"
        assert main(["train", *self.ARGS, "--runs", "2", "--dtype", "float32", "--out", str(out), "--json"]) == 0
        s = json.loads(capsys.readouterr().out)
        assert s["dtype"] == "float32" and s["backend"] == "numba"
        run = verify.load_run(out / "run-0000.npz")
        assert run.meta["ensemble"]["dtype"] == "float32"
        assert np.array_equal(run.final.W_pos.astype(np.float32), run.final.W_pos)

    @pytest.mark.parametrize("extra,msg", [
        (["--runs", "2", "--out", "x.npz"], "folder"),
        (["--runs", "0", "--out", "ens"], "--runs"),
        (["--runs", "2", "--backend", "triton", "--record-steps", "--out", "ens"], "Triton"),
        (["--runs", "2", "--dtype", "float32", "--record-steps", "--out", "ens"], "float32"),
    ])
    def test_bad_usage_exit_2_writes_nothing(self, tmp_path, monkeypatch, capsys, extra, msg):
        monkeypatch.chdir(tmp_path)
        assert main(["train", *self.ARGS, *extra]) == 2
        assert msg in capsys.readouterr().err
        assert not any(tmp_path.iterdir())

    def test_non_empty_folder_refused(self, tmp_path, capsys):
        (tmp_path / "keep.txt").write_text("x")
        assert main(["train", *self.ARGS, "--runs", "2", "--out", str(tmp_path)]) == 2
        assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


HAVE_TORCH = importlib.util.find_spec("torch") is not None


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch not installed")
class TestTorchEngine:
    @pytest.mark.parametrize("name", sorted(CONFIGS))
    def test_float64_matches_numba(self, data, numba_runs, name):
        runs = train_ensemble(data, CONFIGS[name], SEEDS, backend="torch")
        assert runs[0].meta["ensemble"]["backend"] == "torch"
        for a, b in zip(numba_runs[name], runs):
            _assert_same_run(a, b, exact=False)

    def test_float32_close(self, data, numba_runs):
        cfg = CONFIGS["sgd"]
        runs = train_ensemble(data, cfg, SEEDS, backend="torch", dtype="float32")
        for a, b in zip(numba_runs["sgd"], runs):
            np.testing.assert_allclose(b.final.W_pos, a.final.W_pos, rtol=1e-3, atol=1e-5)
            for k, v in a.trajectory.sums.items():
                assert b.trajectory.sums[k] == pytest.approx(v, rel=1e-4)

    def test_triton_needs_device(self, data):
        if importlib.util.find_spec("triton") is None:
            pytest.skip("triton not installed")
        if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
            pytest.skip("the interpreter runs Triton on the CPU")
        with pytest.raises(verify.InputError, match="Triton cannot run"):
            train_ensemble(data, CONFIGS["sgd"], [0], backend="triton")

    @pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton not installed")
    def test_triton_kernel_matches_numba_in_interpreter(self, tmp_path):
        # the interpreter must be chosen before triton compiles anything: a fresh process
        script = tmp_path / "cmp.py"
        script.write_text(_TRITON_SCRIPT)
        root = os.path.dirname(os.path.dirname(os.path.abspath(verify.__file__)))
        env = dict(os.environ, TRITON_INTERPRET="1",
                   PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "triton ok" in proc.stdout


_TRITON_SCRIPT = """
import numpy as np
from dataclasses import replace
import verify
from verify._ensemble import train_ensemble
data = verify.teacher_dataset(n=30, d=3, seed=4, margin=0.1)
for cfg in (verify.TrainConfig(width=3, alpha=0.3, lr=0.2, steps=60, snapshots=2),
            verify.TrainConfig(width=1, alpha=0.7, lr=0.1, steps=40, init_scale=0.0, snapshots=1)):
    a = train_ensemble(data, cfg, [0, 9])
    b = train_ensemble(data, cfg, [0, 9], backend="triton")
    assert b[0].meta["ensemble"]["backend"] == "triton"
    for x, y in zip(a, b):
        A, B = x.trajectory.to_arrays(), y.trajectory.to_arrays()
        for k in A:
            np.testing.assert_allclose(np.asarray(B[k], float), np.asarray(A[k], float), rtol=1e-9, atol=1e-11,
                                       err_msg=k)
        np.testing.assert_allclose(y.final.W_neg, x.final.W_neg, rtol=1e-9, atol=1e-12)
    # float32 weights (the GPU default), float64 sums: close over this short horizon
    c = train_ensemble(data, cfg, [0, 9], backend="triton", dtype="float32")
    for x, y in zip(a, c):
        np.testing.assert_allclose(y.final.theta(), x.final.theta(), rtol=1e-4, atol=1e-6)
        assert abs(y.trajectory.S - x.trajectory.S) <= 1e-5 * x.trajectory.S
        assert np.array_equal(y.trajectory.loss_gt_eps, x.trajectory.loss_gt_eps)
print("triton ok")
"""


@pytest.mark.skipif(not (HAVE_TORCH and __import__("torch").cuda.is_available()), reason="no CUDA GPU")
class TestCuda:
    @pytest.mark.parametrize("backend", ["torch", "triton"])
    def test_cuda_float64_matches_numba(self, data, numba_runs, backend):
        if backend == "triton" and importlib.util.find_spec("triton") is None:
            pytest.skip("triton not installed")
        runs = train_ensemble(data, CONFIGS["sgd"], SEEDS, device="cuda", backend=backend, dtype="float64")
        for a, b in zip(numba_runs["sgd"], runs):
            _assert_same_run(a, b, exact=False)

