"""The trainer: per-step identities of THEORY.md §2 (L1, L2), gradients, sampling, records."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import verify
from verify import InputError, TrainConfig

U = np.finfo(np.float64).eps / 2  # unit roundoff


def _sq_slopes(s, m, alpha):
    # σ' ∈ {α, 1}: s = c + α(m − c) determines c = #(σ' = 1), hence Σσ'² = c + α²(m − c)
    c = np.rint((s - alpha * m) / (1 - alpha))
    return c + alpha**2 * (m - c)


@pytest.fixture(scope="module")
def recorded():
    data = verify.teacher_dataset(n=80, d=5, seed=2, margin=0.05)
    cfg = TrainConfig(width=4, alpha=0.3, lr=0.2, steps=3000, seed=7, init_scale=0.5, record_steps=True)
    return data, cfg, verify.train(data, cfg)


class TestStepIdentities:
    def test_L2_norm_identity_every_step(self, recorded):
        data, cfg, run = recorded
        tr = run.trajectory
        m, d = 2 * cfg.width, data.d
        N = tr.step_norm2
        final = float(np.sum(run.final.theta() ** 2))
        N_next = np.append(N[1:], final)
        x2 = np.einsum("ij,ij->i", data.X, data.X)[tr.step_idx]
        eta, g, z = cfg.lr, tr.step_g, tr.step_z
        second = eta**2 * g**2 * x2 * _sq_slopes(tr.step_s, m, cfg.alpha)
        residual = N_next - (N + 2 * eta * g * z + second)
        # rounding: sums of m·d products in ‖θ‖², ⟨w,x⟩ and the update, each ≤ (md)u·|terms|
        scale = N + N_next + 2 * eta * g * np.sqrt(m * N * x2) + second
        tol = 4 * (m * d + 8) * U * scale
        assert np.all(np.abs(residual) <= tol)
        # the test has teeth: dropping the second-order term breaks it on many steps
        assert np.mean(np.abs(residual + second) > tol) > 0.5

    def test_L1_alignment_every_step(self, recorded):
        data, cfg, run = recorded
        tr = run.trajectory
        m, d = 2 * cfg.width, data.d
        w = run.reference
        A = tr.step_align
        A_next = np.append(A[1:], float(np.sum(run.final.W_pos @ w) - np.sum(run.final.W_neg @ w)))
        i = tr.step_idx
        yw = data.y[i] * (data.X[i] @ w)
        increment = cfg.lr * tr.step_g * yw * tr.step_s
        N = tr.step_norm2
        tol = 4 * (m * d + 8) * U * (np.sqrt(m * N) + np.abs(A) + np.abs(increment))
        assert np.all(np.abs(A_next - A - increment) <= tol)
        gamma = np.min(data.y * (data.X @ w))
        assert gamma > 0
        assert np.all(A_next - A >= cfg.lr * gamma * tr.step_g * tr.step_s - tol)

    def test_running_sums_match_records(self, recorded):
        _, cfg, run = recorded
        tr = run.trajectory
        assert np.isclose(tr.sums["S"], tr.step_g.sum(), rtol=1e-12)
        assert np.isclose(tr.sums["S_prime"], (tr.step_g * tr.step_s).sum(), rtol=1e-12)
        assert np.isclose(tr.sums["sum_gz"], (tr.step_g * tr.step_z).sum(), rtol=1e-12)
        loss = np.logaddexp(0, -tr.step_z)
        assert np.isclose(tr.sums["sum_loss"], loss.sum(), rtol=1e-12)
        assert tr.loss_gt_eps.tolist() == [int(np.sum(loss > e)) for e in cfg.eps]
        assert np.allclose(tr.step_g, 1 / (1 + np.exp(tr.step_z)), rtol=1e-14)
        m = 2 * cfg.width
        assert np.all((tr.step_s >= m * cfg.alpha - 1e-12) & (tr.step_s <= m + 1e-12))

    def test_snapshots(self, recorded):
        _, cfg, run = recorded
        tr = run.trajectory
        assert tr.snap_steps[0] == 0 and tr.snap_steps[-1] == cfg.steps
        assert np.all(np.diff(tr.snap_steps) > 0)
        assert np.array_equal(tr.snap_W_pos[0], run.init.W_pos)
        assert np.array_equal(tr.snap_W_pos[-1], run.final.W_pos)
        k = int(np.searchsorted(tr.snap_steps, 1000))
        t = tr.snap_steps[k]
        assert np.isclose(tr.snap_sums[k, 0], tr.step_g[:t].sum(), rtol=1e-12)


class TestGradient:
    def test_update_is_minus_eta_times_finite_difference_gradient(self, rng):
        X = rng.standard_normal((2, 3))
        data = verify.Dataset(X, [1.0, -1.0])
        alpha, eta, width = 0.25, 0.01, 3
        Wp, Wn = rng.standard_normal((width, 3)), rng.standard_normal((width, 3))
        cfg = TrainConfig(width=width, alpha=alpha, lr=eta, steps=1, seed=0, record_steps=True)
        run = verify.train(data, cfg, init=(Wp, Wn))
        i = int(run.trajectory.step_idx[0])
        theta0 = np.concatenate([Wp.ravel(), Wn.ravel()])

        def loss(theta):
            net = verify.Network(theta[: width * 3].reshape(width, 3), theta[width * 3:].reshape(width, 3), alpha)
            return float(np.logaddexp(0, -data.y[i] * net(X[i:i + 1])[0]))

        h = 1e-6
        grad = np.array([(loss(theta0 + h * e) - loss(theta0 - h * e)) / (2 * h) for e in np.eye(theta0.size)])
        step = run.final.theta() - theta0
        assert np.allclose(step, -eta * grad, rtol=1e-6, atol=1e-10)

    def test_zero_initialization_moves(self, teacher_small):
        # σ'(0) = α: from θ = 0 the first update is η·½·y·α·x ≠ 0
        cfg = TrainConfig(width=2, alpha=0.5, lr=0.1, steps=1, init_scale=0.0, record_steps=True)
        run = verify.train(teacher_small, cfg)
        i = int(run.trajectory.step_idx[0])
        expected = 0.1 * 0.5 * teacher_small.y[i] * 0.5 * teacher_small.X[i]
        assert np.allclose(run.final.W_pos, expected) and np.allclose(run.final.W_neg, -expected)


class TestConvergenceAndModes:
    def test_reaches_zero_training_error(self):
        data = verify.teacher_dataset(n=200, d=10, seed=0, margin=0.05)
        run = verify.train(data, TrainConfig(width=5, alpha=0.5, lr=0.05, steps=30000, seed=1))
        s = run.summary()
        assert s["train_error"] == 0.0 and s["train_loss"] < 0.05
        assert run.trajectory.snap_train_loss[-1] < run.trajectory.snap_train_loss[0]

    def test_full_batch_gd_matches_numpy(self, teacher_small, rng):
        alpha, eta, width = 0.4, 0.3, 2
        Wp, Wn = rng.standard_normal((width, 4)) * 0.3, rng.standard_normal((width, 4)) * 0.3
        run = verify.train(teacher_small, TrainConfig(width=width, alpha=alpha, lr=eta, steps=5, batch=0),
                           init=(Wp, Wn))
        X, y = teacher_small.X, teacher_small.y
        for _ in range(5):
            net = verify.Network(Wp, Wn, alpha)
            g = 1 / (1 + np.exp(net.margins(X, y)))
            sp, sn = net.slopes(X)
            coef = (eta * g * y)[:, None]
            Wp = Wp + ((coef * sp).T @ X) / len(y)
            Wn = Wn - ((coef * sn).T @ X) / len(y)
        assert np.allclose(run.final.W_pos, Wp, atol=1e-12) and np.allclose(run.final.W_neg, Wn, atol=1e-12)

    def test_epoch_sampling_is_reshuffled_passes(self):
        stream = verify.IndexStream(n=7, sampling="epoch", batch=1, seed=3)
        idx = np.concatenate([stream.take(5).ravel(), stream.take(16).ravel()])
        for p in range(3):
            assert sorted(idx[7 * p: 7 * p + 7].tolist()) == list(range(7))

    def test_minibatch_runs_and_is_deterministic(self, teacher_small):
        cfg = TrainConfig(width=3, alpha=0.5, lr=0.1, steps=400, batch=8, sampling="epoch", seed=5)
        a, b = verify.train(teacher_small, cfg), verify.train(teacher_small, cfg)
        c = verify.train(teacher_small, replace(cfg, seed=6))
        assert np.array_equal(a.final.W_pos, b.final.W_pos)
        assert not np.array_equal(a.final.W_pos, c.final.W_pos)

    def test_no_per_step_arrays_unless_asked(self, teacher_small):
        run = verify.train(teacher_small, TrainConfig(width=2, alpha=0.5, lr=0.1, steps=100))
        assert run.trajectory.step_z is None and run.trajectory.step_norm2 is None

    @pytest.mark.parametrize("change,match", [
        ({"alpha": 1.0}, "alpha"), ({"alpha": 0.0}, "alpha"), ({"width": 0}, "width"),
        ({"steps": 0}, "steps"), ({"lr": -1.0}, "lr"), ({"lr": float("nan")}, "lr"),
        ({"sampling": "bogus"}, "sampling"), ({"batch": 2, "record_steps": True}, "batch-1"),
        ({"batch": 1000}, "larger"), ({"init_scale": float("inf")}, "init_scale"),
    ])
    def test_bad_config(self, teacher_small, change, match):
        cfg = replace(TrainConfig(width=2, alpha=0.5, lr=0.1, steps=10), **change)
        with pytest.raises(InputError, match=match):
            verify.train(teacher_small, cfg)


class TestRunFiles:
    def test_roundtrip(self, tmp_path, recorded):
        data, cfg, run = recorded
        path = verify.save_run(tmp_path / "run.npz", run)
        back = verify.load_run(path)
        assert back.config == cfg
        assert np.array_equal(back.final.W_neg, run.final.W_neg)
        assert np.array_equal(back.trajectory.step_z, run.trajectory.step_z)
        assert back.trajectory.sums == run.trajectory.sums
        assert back.data.sha256() == data.sha256()
        net = verify.load_network(path)  # a run file is also a network file
        assert np.array_equal(net.W_pos, run.final.W_pos) and net.alpha == cfg.alpha

    def test_not_a_run(self, tmp_path):
        np.savez(tmp_path / "x.npz", W_pos=np.ones((1, 2)), W_neg=np.ones((1, 2)), alpha=0.5)
        with pytest.raises(InputError, match="not a verify run"):
            verify.load_run(tmp_path / "x.npz")
