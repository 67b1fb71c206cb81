"""verify._bounds and `verify bound`: the certified root of F, the closed forms, the
corollaries, parameter validation and vacuous bounds."""

from __future__ import annotations

import json
import math

import mpmath
import pytest

from verify import InputError
from verify._bounds import convergence_bound
from verify.cli import main

BASE = dict(gamma=0.1, radius=1.0, alpha=0.5, width=10, lr=0.05, steps=10**6)


def F_mp(S, gamma, radius, alpha, width, lr, steps, init_norm=0.0, init_align=0.0, **_):
    """THEORY.md §2's F typed out independently (50 digits), to cross-check the lambdified one."""
    with mpmath.workdps(50):
        S, g, R, a, k, e, T, B, a0 = (mpmath.mpf(v) for v in (S, gamma, radius, alpha, width, lr, steps,
                                                                init_norm, init_align))
        c = 2 * k * a * g * e
        return (a0 + c * S) ** 2 - 2 * k * B**2 - 4 * k * e * S * mpmath.log(T / S - 1) - 4 * k**2 * a * e**2 * R**2 * S


def lambert_independent(gamma, radius, alpha, width, lr, steps, **_):
    """Root of S = a·log(T/S) + b by mpmath's solver (not via Lambert W)."""
    with mpmath.workdps(40):
        a = 1 / (mpmath.mpf(width) * alpha**2 * gamma**2 * lr)
        b = mpmath.mpf(radius) ** 2 / (alpha * gamma**2)
        return mpmath.findroot(lambda s: s - a * mpmath.log(steps / s) - b, (b, steps), solver="anderson")


class TestRoot:
    @pytest.mark.parametrize("kw", [BASE, BASE | dict(init_norm=0.01, init_align=-0.02),
                                    BASE | dict(init_norm=2.0, init_align=6.0, alpha=0.9, steps=5000, lr=0.5),
                                    BASE | dict(gamma=0.3, radius=2.0, alpha=0.1, width=3, lr=0.2, steps=10**8)])
    def test_enclosure_brackets_the_sign_change(self, kw):
        res = convergence_bound(**kw)
        lo, hi = res["S_star_interval"]
        assert res["S_star"] == hi and not res["vacuous"]
        assert F_mp(hi, **kw) > 0
        if lo > 0:
            assert F_mp(lo, **kw) < 0
        assert hi - lo <= 1e-12 * hi

    def test_monotone_in_parameters(self):
        s = convergence_bound(**BASE)["S_star"]
        assert convergence_bound(**(BASE | dict(steps=10**7)))["S_star"] > s
        assert convergence_bound(**(BASE | dict(gamma=0.2)))["S_star"] < s
        assert convergence_bound(**(BASE | dict(radius=2.0)))["S_star"] > s
        assert convergence_bound(**(BASE | dict(init_norm=1.0, init_align=-1.0)))["S_star"] > s

    def test_closed_form_is_above_the_root(self):
        for kw in (BASE, BASE | dict(init_norm=0.5, init_align=0.3), BASE | dict(gamma=0.02, steps=10**8)):
            res = convergence_bound(**kw)
            assert res["closed_form"] >= res["S_star"]

    def test_closed_form_is_not_within_half_a_percent_in_general(self):
        # THEORY.md claims 0.5%; when log T/(kα²γ²η) dominates the gap is tens of percent
        res = convergence_bound(**BASE)
        assert res["closed_form"] / res["S_star"] > 1.5


class TestZeroInit:
    @pytest.mark.parametrize("kw", [BASE, BASE | dict(gamma=0.3, alpha=0.9, width=2, lr=0.01, steps=10**9),
                                    BASE | dict(radius=3.0, alpha=0.2, steps=10**8)])
    def test_closed_forms_and_lambert(self, kw):
        res = convergence_bound(**kw)
        assert res["zero_init"]
        # THEORY.md's zero-init formula is the general closed form at a0 = B = 0, s0 = S0
        assert math.isclose(res["zero_init_closed_form"], res["closed_form"], rel_tol=1e-12)
        # the Lambert-W form is the exact root of S = a log(T/S) + b
        assert math.isclose(res["lambert_w"], float(lambert_independent(**kw)), rel_tol=1e-12)
        assert res["S_star"] <= res["lambert_w"]

    def test_cli_zero_init_json(self, capsys):
        args = ["bound", "--gamma", "0.1", "--radius", "1", "--alpha", "0.5", "--width", "10", "--lr", "0.05",
                "--steps", "1000000", "--eps", "0.1", "--json"]
        assert main(args) == 0
        out = json.loads(capsys.readouterr().out)
        assert math.isclose(out["lambert_w"], float(lambert_independent(**BASE)), rel_tol=1e-12)
        assert math.isclose(out["zero_init_closed_form"], out["closed_form"], rel_tol=1e-12)
        assert out["eps_count"] == math.floor(out["S_star"] / -math.expm1(-0.1) * (1 + 1e-15))


class TestCorollaries:
    def test_corollary1_count(self):
        res = convergence_bound(**BASE, eps=0.01)
        assert res["eps_count"] == math.floor(res["eps_count_real"])
        assert res["eps_count_real"] >= res["S_star"] / -math.expm1(-0.01)
        assert res["eps_count_real"] <= res["S_star"] / -math.expm1(-0.01) * (1 + 1e-12)

    def test_corollary2_value_and_applicability(self):
        kw = BASE | dict(init_norm=0.3, init_align=0.5)
        res = convergence_bound(**kw)
        S, k, e, R, T = res["S_star"], 10, 0.05, 1.0, 10**6
        expect = (2 * math.log(2) + k * e * R**2 + math.log(T / S - 1)) * S + (2 * k * 0.09 - 0.25) / (4 * k * e)
        assert math.isclose(res["loss_bound"], expect, rel_tol=1e-12)
        # S* between 0.2178·T and T/2: the bound exists, Corollary 2 does not apply
        tight = convergence_bound(gamma=0.2, radius=1.0, alpha=0.5, width=10, lr=0.01, steps=6000)
        assert not tight["vacuous"] and tight["S_star"] > 0.2178 * 6000 and tight["loss_bound"] is None


class TestValidation:
    @pytest.mark.parametrize("bad", [dict(gamma=0.0), dict(gamma=-1.0), dict(gamma=float("nan")), dict(alpha=0.0),
                                     dict(alpha=1.0), dict(alpha=1.5), dict(steps=0), dict(lr=0.0), dict(lr=-1.0),
                                     dict(width=0), dict(init_norm=-1.0), dict(gamma=2.0, radius=1.0),
                                     dict(init_norm=0.1, init_align=1.0)])
    def test_library_raises_input_error(self, bad):
        with pytest.raises(InputError):
            convergence_bound(**(BASE | bad))

    @pytest.mark.parametrize("flags", [["--gamma", "0"], ["--gamma", "-0.1"], ["--alpha", "1.2"], ["--alpha", "0"],
                                       ["--steps", "0"], ["--lr", "0"], ["--lr", "-0.1"]])
    def test_cli_exit_2(self, flags, capsys):
        args = dict(zip(["--gamma", "--radius", "--alpha", "--width", "--lr", "--steps"],
                        ["0.1", "1", "0.5", "10", "0.05", "1000"]))
        args.update(dict(zip(flags[::2], flags[1::2])))
        argv = ["bound"] + [x for kv in args.items() for x in kv]
        assert main(argv) == 2
        assert "error" in capsys.readouterr().err

    def test_missing_parameters_exit_2(self, capsys):
        assert main(["bound", "--gamma", "0.1"]) == 2


class TestVacuous:
    def test_vacuous_is_reported_not_a_number(self, capsys):
        kw = dict(gamma=0.01, radius=3.0, alpha=0.1, width=10, lr=0.05, steps=10000)
        res = convergence_bound(**kw, eps=0.1)
        assert res["vacuous"] and res["S_star"] is None and res["eps_count"] is None and res["loss_bound"] is None
        assert res["closed_form"] is None
        assert F_mp(kw["steps"] / 2, **kw) <= 0  # S* really is ≥ T/2
        argv = ["bound", "--gamma", "0.01", "--radius", "3", "--alpha", "0.1", "--width", "10", "--lr", "0.05",
                "--steps", "10000"]
        assert main(argv) == 0
        assert "VACUOUS" in capsys.readouterr().out
        assert main(argv + ["--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["vacuous"] is True and out["S_star"] is None
