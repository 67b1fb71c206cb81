"""Tests for the tiny-LP bounds of `verify._cell_lp` against scipy's HiGHS."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from verify._cell_lp import cell_bounds


def _instance(rng, d, R, bias, feasible):
    lo, hi = -np.ones(d), np.ones(d)
    x0 = rng.uniform(-1, 1, d)
    if bias:  # a fixed coordinate, as the constant input of a net with biases
        lo[-1] = hi[-1] = x0[-1] = 1.0
    A = rng.normal(size=(R, d))
    slack = rng.uniform(0, 0.5, R) if feasible else rng.uniform(-1, 0.5, R)
    return A, A @ x0 - slack, lo, hi


class TestCellBounds:
    @pytest.mark.parametrize("seed", range(40))
    def test_optimal_value_and_valid_multipliers(self, seed):
        rng = np.random.default_rng(seed)
        d, R = int(rng.integers(2, 12)), int(rng.integers(1, 30))
        A, b, lo, hi = _instance(rng, d, R, bias=seed % 3 == 0, feasible=seed % 4 != 3)
        W = rng.normal(size=(5, d))
        val, theta, status = cell_bounds(W, A, b, lo, hi)
        assert theta.shape == (5, R) and np.all(theta >= 0)
        for k in range(5):
            ref = linprog(-W[k], A_ub=-A, b_ub=-b, bounds=list(zip(lo, hi)), method="highs")
            if ref.status == 2:
                assert status[k] == 1
                continue
            assert status[k] == 0
            # the returned value is the weak-duality bound of theta, recomputed here
            g = W[k] + theta[k] @ A
            assert val[k] == pytest.approx(np.maximum(g * lo, g * hi).sum() - theta[k] @ b, abs=1e-12)
            assert -ref.fun - 1e-9 <= val[k] <= -ref.fun + 1e-9

    def test_empty_polyhedron(self):
        c = np.array([1.0, 0.5, -0.2])
        A, b = np.vstack([c, -c]), np.array([0.5, 0.0])  # ⟨c,x⟩ ≥ 0.5 and ⟨c,x⟩ ≤ 0
        _, _, status = cell_bounds(np.eye(3), A, b, -np.ones(3), np.ones(3))
        assert np.all(status == 1)


class TestLpMax:
    @pytest.mark.parametrize("seed", range(20))
    def test_against_highs(self, seed):
        from verify._cell_lp import lp_max

        rng = np.random.default_rng(100 + seed)
        d, R = int(rng.integers(2, 30)), int(rng.integers(1, 60))
        A, b, lo, hi = _instance(rng, d, R, bias=seed % 3 == 0, feasible=seed % 5 != 4)
        lo, hi = lo * rng.uniform(0.5, 3.0, d), hi * rng.uniform(0.5, 3.0, d)  # a general box
        lo[hi < lo] = hi[hi < lo]
        w = rng.normal(size=d)
        status, theta, x = lp_max(w, A, b, lo, hi)
        ref = linprog(-w, A_ub=-A, b_ub=-b, bounds=list(zip(lo, hi)), method="highs")
        if ref.status == 2:
            assert status == 1
            return
        assert status == 0 and np.all(theta >= 0)
        # x is feasible and optimal; theta proves it by weak duality
        assert np.all(A @ x >= b - 1e-9) and np.all(x >= lo - 1e-12) and np.all(x <= hi + 1e-12)
        assert w @ x == pytest.approx(-ref.fun, abs=1e-9)
        g = w + theta @ A
        assert np.maximum(g * lo, g * hi).sum() - theta @ b == pytest.approx(-ref.fun, abs=1e-9)


class TestProvenBounds:
    """`proven_bounds` against the exact value in rationals, the rows known only within errors."""

    @staticmethod
    def _exact(W, TH, Aex, bex, lo, hi):
        from fractions import Fraction as F

        out = []
        for w, th in zip(W, TH):
            g = [F(float(wi)) + sum((F(float(t)) * Aex[r][i] for r, t in enumerate(th)), F(0)) for i, wi in enumerate(w)]
            val = sum((max(gi * F(float(a)), gi * F(float(b))) for gi, a, b in zip(g, lo, hi)), F(0))
            out.append(val - sum((F(float(t)) * bex[r] for r, t in enumerate(th)), F(0)))
        return out

    @pytest.mark.parametrize("seed", range(30))
    def test_above_exact_and_tight(self, seed):
        from fractions import Fraction as F

        from verify._cell_lp import proven_bounds

        rng = np.random.default_rng(500 + seed)
        d, R, K = int(rng.integers(2, 12)), int(rng.integers(1, 25)), 6
        lo, hi = -np.ones(d), np.ones(d)
        if seed % 3 == 0:
            lo[-1] = hi[-1] = 1.0
        # rows with large canceling entries, so that rounding is visible; each exact row and
        # right side is the float one moved by up to its stated error
        scale = 10.0 ** rng.integers(-3, 6, size=(R, 1))
        A = rng.normal(size=(R, d)) * scale
        b = rng.normal(size=R) * scale[:, 0]
        Aerr = np.abs(A) * rng.choice([0.0, 1e-15, 1e-12], size=(R, 1))
        berr = np.abs(b) * rng.choice([0.0, 1e-14], size=R)
        Aex = [[F(float(a)) + F(float(e)) * F(int(rng.integers(-1, 2))) for a, e in zip(ra, re)] for ra, re in zip(A, Aerr)]
        bex = [F(float(v)) + F(float(e)) * F(int(rng.integers(-1, 2))) for v, e in zip(b, berr)]
        W = rng.normal(size=(K, d)) * 1e3
        TH = np.abs(rng.normal(size=(K, R))) * (rng.uniform(size=(K, R)) < 0.6)
        TH[0] = 0.0  # no rows at all
        ub = proven_bounds(W, TH, A, b, Aerr, berr, lo, hi)
        for k, ex in enumerate(self._exact(W, TH, Aex, bex, lo, hi)):
            assert F(float(ub[k])) >= ex
            mag = float(np.abs(W[k]).sum() + TH[k] @ (np.abs(A).sum(axis=1) + np.abs(b)))
            assert float(ub[k]) - float(ex) <= 1e-10 * mag + 1e-300  # the slack is rounding-sized
