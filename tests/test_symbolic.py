"""verify.symbolic: every lemma proved by its declared route, falsifiers that catch false
variants, the sympy-derived SGD step against the trainer, and `verify derive`."""

from __future__ import annotations

import json

import mpmath
import pytest
import sympy as sp

from verify.cli import main
from verify.symbolic import LEMMAS, false_variants, lemma
from verify.symbolic import _expressions as E
from verify.symbolic._dynamics import check_against_trainer, derive_gradient, network_expr
from verify.symbolic._lemma import interval_cover, lambdify_arb, positive_on

ROUTES = {"proved (sympy)", "proved (interval cover)"}


@pytest.fixture(scope="module")
def proofs():
    return {lem.name: lem.prove() for lem in LEMMAS}


class TestLemmas:
    def test_every_lemma_is_proved_with_a_named_route(self, proofs):
        assert len(proofs) == 17
        for name, res in proofs.items():
            assert res.proved, (name, res.steps)
            assert res.route in ROUTES, (name, res.route)
            assert res.steps, name

    def test_both_routes_are_used(self, proofs):
        routes = {r.route for r in proofs.values()}
        assert routes == ROUTES
        assert proofs["loss_le_g"].route == "proved (interval cover)"
        assert proofs["corollary2_constant"].route == "proved (interval cover)"
        assert proofs["L2"].route == "proved (sympy)"

    def test_dependencies_name_existing_lemmas_that_come_first(self):
        seen = set()
        for lem in LEMMAS:
            assert set(lem.depends) <= seen, lem.name
            seen.add(lem.name)

    @pytest.mark.parametrize("name", [lem.name for lem in LEMMAS])
    def test_no_counterexample_on_true_lemmas(self, name):
        # theorem-level falsifiers solve for S* by bisection in mpmath: fewer samples there
        heavy = {"combine_root", "closed_form", "lambert_w"}
        assert lemma(name).falsify(seed=7, trials=12 if name in heavy else 150) is None

    @pytest.mark.parametrize("name", sorted(false_variants()))
    def test_false_variant_is_caught_and_not_proved(self, name):
        bad = false_variants()[name]
        ce = bad.falsify(seed=0, trials=400)
        assert ce is not None and ce["value"] < 0
        res = bad.prove()
        assert not res.proved and res.route == "not proved"

    def test_corollary2_constant_brackets_the_true_maximizer(self):
        # u*: root of log(1/u − 1) = 1/(1 − u), solved independently by mpmath
        with mpmath.workdps(30):
            ustar = mpmath.findroot(lambda x: mpmath.log(1 / x - 1) - 1 / (1 - x), 0.2)
        assert float(E.U_STAR_CONSTANT) <= ustar < 0.2179

    def test_latex_export(self):
        tex = lemma("closed_form").latex()
        assert "\\sqrt" in tex and "\\log" in tex
        assert "\\max" in tex


class TestHelpers:
    def test_positive_on_distinguishes_signs(self):
        x = sp.Symbol("x", positive=True)
        assert positive_on(x * (1 - x), {x: (0, 1)})
        assert not positive_on(x - sp.Rational(1, 2), {x: (0, 1)})

    def test_interval_cover_proves_and_refuses(self):
        x = sp.Symbol("x")
        ok, boxes = interval_cover(lambdify_arb([x], sp.exp(x) - 1 - x + sp.Rational(1, 10**6)), -1.0, 1.0)
        assert ok and boxes >= 1
        ok, _ = interval_cover(lambdify_arb([x], x**2 - sp.Rational(1, 4)), 0.0, 1.0, max_boxes=500)
        assert not ok

    def test_arb_lambdify_encloses_mpmath_value(self):
        import flint

        f = lambdify_arb((E.S,) + (E.T, E.k, E.alpha, E.gamma, E.eta, E.R, E.B, E.a0), E.F)
        vals = (1234.5, 1e6, 10, 0.5, 0.1, 0.05, 1.0, 0.01, -0.02)
        ball = f(*[flint.arb(v) for v in vals])
        with mpmath.workdps(40):
            S, T, k, al, ga, et, R, B, a0 = (mpmath.mpf(v) for v in vals)
            ref = (a0 + 2 * k * al * ga * et * S) ** 2 - 2 * k * B**2 - 4 * k * et * S * mpmath.log(T / S - 1) \
                - 4 * k**2 * al * et**2 * R**2 * S
        assert ball.contains(flint.arb(str(ref))) or abs(float(ball.mid()) - float(ref)) <= float(ball.rad()) + 1e-20


class TestDynamics:
    def test_gradient_matches_closed_form_in_every_region(self):
        res = derive_gradient(network_expr(1, 2))
        assert res["ok"] and res["regions"] == 4

    def test_sympy_update_matches_the_trainer_kernel(self):
        assert check_against_trainer(seed=3, trials=25, k=2, d=3) <= 1e-14


class TestDeriveCommand:
    def test_json_lists_every_route(self, capsys):
        assert main(["derive", "--json", "--falsify", "3"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["all_proved"] and out["dynamics"]["ok"]
        assert all("counterexample" in r and r["counterexample"] is None for r in out["lemmas"])
        assert [r["name"] for r in out["lemmas"]] == [lem.name for lem in LEMMAS]
        assert all(r["route"] in ROUTES for r in out["lemmas"])

    def test_text_and_latex(self, capsys):
        assert main(["derive", "--latex"]) == 0
        text = capsys.readouterr().out
        assert "proved (interval cover)" in text and "proved (sympy)" in text and "$$" in text
        assert "17/17 lemmas proved" in text

    def test_bad_flag_exits_2(self, capsys):
        assert main(["derive", "--falsify", "-1"]) == 2

