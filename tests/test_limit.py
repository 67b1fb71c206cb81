"""The predicted limit direction P* (THEORY.md §6): QP, self-consistency, the 3-point counterexample."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

import verify
from verify import Dataset, InputError, TrainConfig
from verify._limit import COUNTEREXAMPLE, angle_deg, network_direction, predicted_limit


def _slsqp_qp(X, y, alpha):
    """The same QP solved by scipy's SLSQP (an independent solver) from a feasible start."""
    d = X.shape[1]

    def f(z):
        return z @ z

    cons = {"type": "ineq", "fun": lambda z: (1 + alpha) * y * (X @ z[:d]) + (1 - alpha) * (X @ z[d:]) - 2,
            "jac": lambda z: np.hstack([(1 + alpha) * y[:, None] * X, (1 - alpha) * X])}
    res = minimize(f, np.ones(2 * d), jac=lambda z: 2 * z, constraints=[cons], method="SLSQP",
                   options={"ftol": 1e-13, "maxiter": 1000})
    # status 8 ("positive directional derivative") is SLSQP stalling at the optimum; feasibility is asserted
    assert res.status in (0, 8)
    assert np.all(cons["fun"](res.x) >= -1e-8)
    return res.x[:d], res.x[d:]


def _slsqp_svm(X, y):
    d = X.shape[1]
    cons = {"type": "ineq", "fun": lambda w: y * (X @ w) - 1, "jac": lambda w: y[:, None] * X}
    res = minimize(lambda w: w @ w, np.ones(d), jac=lambda w: 2 * w, constraints=[cons], method="SLSQP",
                   options={"ftol": 1e-13, "maxiter": 1000})
    assert res.status in (0, 8)
    assert np.all(cons["fun"](res.x) >= -1e-8)
    return res.x


@pytest.fixture(scope="module")
def counterexample():
    X, y, a = COUNTEREXAMPLE
    return Dataset(X, y, source="counterexample"), a


class TestCounterexample:
    def test_P_star_values_and_angle(self, counterexample):
        data, a = counterexample
        lim = predicted_limit(data, a)
        assert np.allclose(lim["P"], [-0.4455, -1.4464], atol=2e-4)
        # w_svm = (0, −1): the hard-margin SVM of these points (checked independently below)
        assert abs(angle_deg(lim["P"], [0.0, -1.0]) - 17.1) < 0.05
        assert lim["self_consistent"] and lim["margin_slack"] > 0.5
        assert lim["q_ratio"] > 0.3  # Q* ≠ 0 is exactly why P* is not the SVM direction

    def test_svm_of_the_three_points(self, counterexample):
        data, _ = counterexample
        w = _slsqp_svm(data.X, data.y)
        assert angle_deg(w, [0.0, -1.0]) < 1e-4

    def test_kkt_active_constraints(self, counterexample):
        data, a = counterexample
        lim = predicted_limit(data, a)
        X, y = data.X, data.y
        g = (1 + a) * y * (X @ lim["P"]) + (1 - a) * (X @ lim["Q"])
        assert np.all(g >= 2 - 1e-7)
        # stationarity: (P, Q) = Σ λ_i ((1+α)y_i x_i, (1−α)x_i)/2 with λ ≥ 0 on active constraints only
        active = g < 2 + 1e-6
        A = np.hstack([(1 + a) * y[active, None] * X[active], (1 - a) * X[active]]).T / 2
        lam, *_ = np.linalg.lstsq(A, np.hstack([lim["P"], lim["Q"]]), rcond=None)
        assert np.all(lam > -1e-7)
        assert np.allclose(A @ lam, np.hstack([lim["P"], lim["Q"]]), atol=1e-7)

    def test_sgd_ends_closer_to_P_star_than_to_svm(self, counterexample):
        data, a = counterexample
        lim = predicted_limit(data, a)
        run = verify.train(data, TrainConfig(width=10, alpha=a, lr=1.0, steps=200_000, seed=0, init_scale=0.1,
                                             sampling="epoch"))
        v = network_direction(run.final)
        to_p, to_svm = angle_deg(v, lim["P"]), angle_deg(v, [0.0, -1.0])
        assert to_p < 1.0 and to_svm > 16.0
        # the hypothesis of §6 holds at the end: every w_j fires exactly on y=+1, every u_j on y=−1
        Pp, Pn = run.final.patterns(data.X)
        assert np.all(Pp == (data.y > 0)[:, None]) and np.all(Pn == (data.y < 0)[:, None])

    @pytest.mark.slow
    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_long_uniform_sgd_run(self, counterexample, seed):
        data, a = counterexample
        lim = predicted_limit(data, a)
        run = verify.train(data, TrainConfig(width=5, alpha=a, lr=1.0, steps=2_000_000, seed=seed,
                                             init_scale=1e-3))
        tr = run.trajectory
        angles = [angle_deg(Wp.sum(0) - Wn.sum(0), lim["P"]) for Wp, Wn in zip(tr.snap_W_pos, tr.snap_W_neg)]
        v = network_direction(run.final)
        assert angle_deg(v, lim["P"]) < angle_deg(v, [0.0, -1.0]) - 10
        # direction convergence is slow (∝ 1/log t) but monotone over the second half of the run
        late = np.array(angles[len(angles) // 2:])
        assert np.all(np.diff(late) <= 1e-9)


class TestQP:
    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_matches_independent_solver(self, seed):
        data = verify.teacher_dataset(n=30, d=4, seed=seed, margin=0.2)
        for a in (0.1, 0.5):
            lim = predicted_limit(data, a)
            P, Qv = _slsqp_qp(data.X, data.y, a)
            assert abs(lim["objective"] - (P @ P + Qv @ Qv)) <= 1e-6 * lim["objective"]
            assert angle_deg(lim["P"], P) < 1e-3

    def test_symmetric_data_gives_svm(self):
        base = verify.teacher_dataset(n=20, d=3, seed=4, margin=0.2)
        data = Dataset(np.vstack([base.X, -base.X]), np.concatenate([base.y, -base.y]))
        lim = predicted_limit(data, 0.3)
        assert lim["q_ratio"] < 1e-6
        w = _slsqp_svm(data.X, data.y)
        assert angle_deg(lim["P"], w) < 1e-3
        # Q = 0 turns the QP into the SVM scaled by 2/(1+α)
        assert np.allclose(lim["P"], 2 / 1.3 * w, rtol=1e-5, atol=1e-7)

    def test_self_consistency_flag_matches_the_pattern_definition(self):
        found = {True: 0, False: 0}
        rng = np.random.default_rng(3)
        for _ in range(40):
            X = rng.standard_normal((4, 2))
            y = np.array([1.0, 1.0, -1.0, -1.0])
            w = rng.standard_normal(2)
            y = np.where(X @ w > 0, 1.0, -1.0)
            if abs(y.sum()) == 4:
                continue
            lim = predicted_limit(Dataset(X, y), 0.1)
            W, Uv = lim["W"], lim["U"]
            # the aligned pattern: w fires exactly on y=+1, u exactly on y=−1
            aligned = bool(np.all(np.where(y > 0, X @ W > 0, X @ W < 0)) and
                           np.all(np.where(y < 0, X @ Uv > 0, X @ Uv < 0)))
            assert lim["self_consistent"] == aligned
            found[aligned] += 1
        assert found[True] > 0 and found[False] > 0

    def test_bad_inputs(self):
        X = np.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 0.0]])
        with pytest.raises(InputError, match="not linearly separable"):
            predicted_limit(Dataset(X, np.array([1.0, 1.0, -1.0])), 0.2)
        data = verify.teacher_dataset(n=10, d=2, seed=0)
        for a in (0.0, 1.0, float("nan")):
            with pytest.raises(InputError):
                predicted_limit(data, a)


def test_angle_deg_precise_for_small_angles():
    a = np.array([1.0, 0.0])
    b = np.array([1.0, 1e-9])
    assert abs(angle_deg(a, b) - np.degrees(1e-9)) < 1e-18
    assert np.isnan(angle_deg(a, [0.0, 0.0]))
    assert abs(angle_deg([1, 0], [-1, 0]) - 180.0) < 1e-12


def test_limit_angles_names_every_pair():
    pytest.importorskip("verify._margin")
    from verify._limit import limit_angles

    data = verify.teacher_dataset(n=60, d=3, seed=5, margin=0.2)
    run = verify.train(data, TrainConfig(width=3, alpha=0.5, lr=0.1, steps=20_000, seed=0))
    out = limit_angles(run.final, data)
    ang = out["angles_deg"]
    assert set(ang) == {"network-P*", "network-svm", "network-teacher", "P*-svm", "P*-teacher", "svm-teacher"}
    for name, v in out["directions"].items():
        assert abs(np.linalg.norm(v) - 1) < 1e-12, name
    # the triangle inequality on the sphere ties the reported angles together
    assert ang["network-svm"] <= ang["network-P*"] + ang["P*-svm"] + 1e-9
