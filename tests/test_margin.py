"""Tests for the certified max-margin separator (`verify._margin`, THEORY.md §5) and its
two checker kinds (`separability`, `non-separability`).

Every certificate written here is validated against certificates/schema.json and re-read
by the independent checker; tamper tests show that each claim is tight (1e-6 relative) and
that the checker recomputes from the data and the witness rather than trusting them.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import verify
from verify import _margin
from verify._data import Dataset, save_dataset
from verify._io import sha256_file
from verify._margin import MarginUndecided, certify_separability, max_margin
from verify.check import check_certificate
from verify.cli import main

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "certificates" / "schema.json").read_text())


def validate_schema(path) -> dict:
    import jsonschema

    cert = json.loads(Path(path).read_text())
    jsonschema.validate(cert, SCHEMA, cls=jsonschema.Draft202012Validator)
    return cert


def certify_and_check(data: Dataset, folder: Path, bias: bool = False, name: str = "c.json"):
    """Certificate for `data` → (result, certificate path, checker report)."""
    res = max_margin(data, bias)
    path = certify_separability(data, folder / name, bias=bias, result=res)
    validate_schema(path)
    return res, path, check_certificate(path)


def independent_margin(Z: np.ndarray) -> tuple[float, float]:
    """γ* of `min ½‖w‖² s.t. Zw ≥ 1` by scipy's SLSQP (no cvxpy, no Clarabel): returns the
    solver's margin 1/‖w‖ and the valid lower bound min(Zw)/‖w‖ of its w."""
    from scipy.optimize import minimize

    w0 = np.linalg.lstsq(Z, np.ones(len(Z)), rcond=None)[0]
    w0 *= 1.5 / max(np.min(Z @ w0), 1e-3)
    res = minimize(lambda w: 0.5 * w @ w, w0, jac=lambda w: w, method="SLSQP",
                   constraints=[{"type": "ineq", "fun": lambda w: Z @ w - 1, "jac": lambda w: Z}],
                   options={"ftol": 1e-15, "maxiter": 1000})
    w = res.x
    return 1.0 / np.linalg.norm(w), float(np.min(Z @ w) / np.linalg.norm(w))


def signed(data: Dataset, bias: bool) -> np.ndarray:
    X = np.hstack([data.X, np.ones((data.n, 1))]) if bias else data.X
    return data.y[:, None] * X


class TestClosedForms:
    def test_two_points(self, tmp_path):
        # z1 = (2,1), z2 = (0,−1): the nearest point of the segment to 0 is (1/2, −1/2)
        data = Dataset(np.array([[2.0, 1.0], [0.0, 1.0]]), np.array([1.0, -1.0]))
        res, path, rep = certify_and_check(data, tmp_path)
        assert rep.accepted
        assert res.lower <= math.sqrt(0.5) <= res.upper
        assert res.gap <= 1e-12
        assert sorted(res.support.tolist()) == [0, 1]
        np.testing.assert_allclose(res.direction, [1 / math.sqrt(2), -1 / math.sqrt(2)], atol=1e-12)

    def test_two_points_with_bias(self, tmp_path):
        # x = 3 (+1), x = 1 (−1) with a bias column: z = (3,1), (−1,−1); nearest point (0.2, −0.4)
        data = Dataset(np.array([[3.0], [1.0]]), np.array([1.0, -1.0]))
        res, path, rep = certify_and_check(data, tmp_path, bias=True)
        assert rep.accepted
        assert res.lower <= math.sqrt(0.2) <= res.upper and res.gap <= 1e-12
        assert res.d == 2

    def test_symmetric_square_is_degenerate_but_exact(self, tmp_path):
        # four support vectors in d = 2: the active set is rank deficient, γ* = 1 exactly
        X = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0], [3.0, 0.5]])
        y = np.array([1.0, 1.0, -1.0, -1.0, 1.0])
        res, path, rep = certify_and_check(Dataset(X, y), tmp_path)
        assert rep.accepted
        assert res.lower <= 1.0 <= res.upper and res.gap <= 1e-12
        assert 4 not in res.support.tolist()

    def test_symmetric_random_set(self, tmp_path, rng):
        # z_i = c·u + v_i with v_i ⟂ u and the v_i symmetric: c·u is in the hull and on the
        # plane ⟨u,z⟩ = c that bounds it, so γ* = c and the separator is u
        d, c = 5, 0.37
        u = rng.standard_normal(d)
        u /= np.linalg.norm(u)
        V = rng.standard_normal((6, d))
        V -= np.outer(V @ u, u)
        Zs = c * u + np.vstack([V, -V, 3 * V + 2 * u])  # the last block lies strictly inside
        y = np.where(rng.random(len(Zs)) < 0.5, 1.0, -1.0)
        data = Dataset(y[:, None] * Zs, y)
        res, path, rep = certify_and_check(data, tmp_path)
        assert rep.accepted
        assert res.lower <= c * (1 + 1e-12) and res.upper >= c * (1 - 1e-12)
        assert res.gap <= 1e-9
        assert abs(res.direction @ u) > 1 - 1e-9

    def test_known_support(self, tmp_path, rng):
        # support {(1, 1), (1, −1)} (in z-space); every other point has ⟨e1, z⟩ ≥ 2
        far = np.column_stack([2 + rng.random(40) * 3, rng.standard_normal(40) * 4])
        Zs = np.vstack([[1.0, 1.0], far, [1.0, -1.0]])
        y = np.where(np.arange(len(Zs)) % 3 == 0, -1.0, 1.0)
        res, path, rep = certify_and_check(Dataset(y[:, None] * Zs, y), tmp_path)
        assert rep.accepted
        assert sorted(res.support.tolist()) == [0, len(Zs) - 1]
        assert res.lower <= 1.0 <= res.upper and res.gap <= 1e-12

    def test_gordan_closed_form(self, tmp_path):
        # z = (1,0), (−1,0), (0,1): 0 = ½z1 + ½z2 lies on the hull, so no strict separator
        data = Dataset(np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, -1.0]]), np.array([1.0, 1.0, -1.0]))
        res, path, rep = certify_and_check(data, tmp_path)
        assert not res.separable and rep.accepted and rep.kind == "non-separability"
        assert sorted(res.lam_index) == [0, 1] and res.lam == [Fraction(1, 2)] * 2


class TestMustShow:
    @pytest.mark.parametrize("spec,bias", [("sklearn:iris:0,1", True), ("sklearn:digits:0,1", False)])
    def test_sklearn_sets_contain_independent_margin(self, tmp_path, spec, bias):
        data = verify.load_dataset(spec)
        res, path, rep = certify_and_check(data, tmp_path, bias=bias)
        assert rep.accepted and res.separable
        assert res.gap <= 1e-9
        solver_margin, valid_lower = independent_margin(signed(data, bias))
        # SLSQP is accurate to ~1e-8 here; its w gives a rigorous lower bound up to float rounding
        assert res.lower <= solver_margin * (1 + 1e-6) and solver_margin * (1 - 1e-6) <= res.upper
        assert valid_lower <= res.upper * (1 + 1e-12)

    def test_iris_versicolor_virginica_not_separable(self, tmp_path, capsys):
        out = tmp_path / "ns.json"
        assert main(["margin", "sklearn:iris:1,2", "--bias", "--out", str(out)]) == 1
        assert "not separable" in capsys.readouterr().out
        cert = validate_schema(out)
        assert cert["kind"] == "non-separability"
        assert (tmp_path / "ns.data.npz").is_file()  # a spec's data is written beside the certificate
        assert main(["check", str(out)]) == 0


class TestWorkingSet:
    def test_large_n_uses_working_set_and_matches_full_qp(self, tmp_path):
        data = verify.teacher_dataset(n=6000, d=8, seed=3)
        res, path, rep = certify_and_check(data, tmp_path)
        assert rep.accepted and res.gap <= 1e-9
        assert res.working_set < data.n  # the QP never saw all points
        solver_margin, _ = independent_margin(signed(data, False)[np.argsort(np.abs(data.X @ data.teacher))[:600]])
        # the 600 points nearest the teacher's boundary contain the support here
        assert res.lower <= solver_margin * (1 + 1e-6) and solver_margin * (1 - 1e-6) <= res.upper

    def test_non_separable_found_on_working_set(self, tmp_path):
        data = verify.teacher_dataset(n=5000, d=6, seed=4)
        X, y = data.X.copy(), data.y.copy()
        y[np.argmax(data.X @ data.teacher)] *= -1  # one flipped label far on the wrong side
        res, path, rep = certify_and_check(Dataset(X, y), tmp_path)
        assert not res.separable and rep.accepted


class TestPolish:
    def test_active_set_drops_a_spurious_point_and_finds_the_support(self):
        # support {(1,1), (1,−1)}: w* = (1, 0); point 1 sits 1e-7 off the margin and gets a
        # solver weight, as interior-point solutions do; the polish must drop it
        Z = np.array([[1.0, 1.0], [1.0 + 1e-7, 0.3], [3.0, -2.0], [1.0, -1.0]])
        w0 = np.array([1.0 + 3e-9, 2e-9])
        got = _margin._polish(Z, w0, np.arange(4), np.array([1.0, 1e-3, 0.0, 1.0]))
        assert got is not None
        w, S, alpha = got
        assert sorted(S.tolist()) == [0, 3]
        np.testing.assert_allclose(w, [1.0, 0.0], atol=1e-15)
        np.testing.assert_allclose(alpha, [0.5, 0.5], atol=1e-15)

    def test_leftover_violators_after_the_last_round(self, tmp_path):
        # one working-set round only: the active-set polish must finish on all points
        data = verify.teacher_dataset(n=6000, d=8, seed=3)
        res = max_margin(data, max_rounds=1)
        full = max_margin(data)
        assert res.rounds == 1 and res.gap <= 1e-9 and "active-set polish" in res.solver
        assert res.lower <= full.upper and full.lower <= res.upper
        path = certify_separability(data, tmp_path / "c.json", result=res)
        assert check_certificate(path).accepted


class TestDegenerate:
    def test_margin_far_below_float_resolution(self, tmp_path):
        # z1 = (1, 0), z2 = (−1, −e), e = 1e-20: separable with γ*² = e²/(4 + e²) exactly
        # (distance from 0 to the segment); float64 solvers cannot see it, the exact
        # nearest-point fallback must
        e = Fraction(1e-20)
        data = Dataset(np.array([[1.0, 0.0], [1.0, 1e-20]]), np.array([1.0, -1.0]))
        res, path, rep = certify_and_check(data, tmp_path)
        assert res.separable and rep.accepted
        g2 = e * e / (4 + e * e)
        assert Fraction(res.lower) ** 2 <= g2 <= Fraction(res.upper) ** 2
        assert res.gap <= 1e-12

    def test_hull_touching_zero_by_a_hair(self, tmp_path):
        # z1 = (1, 1e-20), z2 = (−1, 1e-20), z3 = (0, −1): 0 is in the hull with λ3 ≈ 1e-20
        Zs = np.array([[1.0, 1e-20], [-1.0, 1e-20], [0.0, -1.0]])
        y = np.array([1.0, -1.0, 1.0])
        res, path, rep = certify_and_check(Dataset(y[:, None] * Zs, y), tmp_path)
        assert not res.separable and rep.accepted
        assert sorted(res.lam_index) == [0, 1, 2] and 0 < res.lam[2] < Fraction(1, 10**19)

    def test_undecided_when_exact_fallback_is_out_of_reach(self, monkeypatch):
        monkeypatch.setattr(_margin, "_solve_qp", lambda A: ("error", None, None))
        monkeypatch.setattr(_margin, "_gordan", lambda *a: None)
        monkeypatch.setattr(_margin, "EXACT_MAX", 0)
        with pytest.raises(MarginUndecided, match="undecided at float64 precision"):
            max_margin(verify.teacher_dataset(n=50, d=3, seed=0))

    def test_undecided_is_exit_3_and_writes_nothing(self, tmp_path, monkeypatch, capsys):
        monkeypatch.setattr(_margin, "_solve_qp", lambda A: ("error", None, None))
        monkeypatch.setattr(_margin, "_gordan", lambda *a: None)
        monkeypatch.setattr(_margin, "EXACT_MAX", 0)
        out = tmp_path / "u.json"
        assert main(["margin", "teacher:n=50,d=3,seed=0", "--out", str(out)]) == 3
        assert "undecided" in capsys.readouterr().err
        assert list(tmp_path.iterdir()) == []


class TestCLI:
    def test_separable_exit_0_json(self, tmp_path, capsys):
        out = tmp_path / "m.json"
        assert main(["margin", "teacher:n=200,d=5,seed=2,margin=0.1", "--out", str(out), "--json"]) == 0
        obj = json.loads(capsys.readouterr().out)
        assert obj["separable"] and obj["lower"] <= obj["upper"] and obj["gap"] <= 1e-9
        assert abs(np.linalg.norm(obj["direction"]) - 1) < 1e-12
        cert = validate_schema(out)
        entry = cert["inputs"][0]
        assert entry["path"] == "m.data.npz" and entry["sha256"] == sha256_file(tmp_path / "m.data.npz")
        assert main(["check", str(out)]) == 0

    def test_npz_data_is_referenced_not_copied(self, tmp_path):
        data = verify.teacher_dataset(n=80, d=3, seed=5)
        save_dataset(tmp_path / "d.npz", data)
        (tmp_path / "c").mkdir()
        out = tmp_path / "c" / "m.json"
        assert main(["margin", str(tmp_path / "d.npz"), "--out", str(out)]) == 0
        assert validate_schema(out)["inputs"][0]["path"] == "../d.npz"
        assert not (tmp_path / "c" / "m.data.npz").exists()

    @pytest.mark.parametrize("argv", [["margin", "teacher:n=1,d=2"], ["margin", "nope.npz"],
                                      ["margin", "teacher:n=20,d=2", "--out", "{tmp}/x.txt"]])
    def test_bad_input_exit_2_nothing_written(self, tmp_path, argv, capsys):
        argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
        assert main(argv) == 2
        assert capsys.readouterr().err.startswith("verify: error:")
        assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- tampering

def _rewrite(path: Path, cert: dict) -> None:
    path.write_text(json.dumps(cert))


def _strengthen(value, relation):
    q = float(Fraction(value) if isinstance(value, str) else value)
    if q == 0.0:  # a zero bound cannot be strengthened relatively; move it by 1e-6
        return 1e-6 if relation == ">=" else -1e-6
    return q * (1 + 1e-6) if (relation == ">=") == (q > 0) else q * (1 - 1e-6)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """One certificate of each kind, on data of their own."""
    folder = tmp_path_factory.mktemp("tamper")
    out = {}
    for kind, spec, bias in [("separability", "sklearn:iris:0,1", True),
                             ("non-separability", "sklearn:iris:1,2", True)]:
        data = verify.load_dataset(spec)
        res = max_margin(data, bias)
        sub = folder / kind
        path = certify_separability(data, sub / "c.json", bias=bias, result=res)
        out[kind] = (path, res)
    return out


def _fresh_copy(src: Path, tmp_path: Path) -> Path:
    for f in src.parent.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    return tmp_path / src.name


KINDS = ["separability", "non-separability"]


@pytest.mark.parametrize("kind", KINDS)
def test_untouched_accepted(certs, kind):
    rep = check_certificate(certs[kind][0])
    assert rep.accepted and rep.kind == kind
    validate_schema(certs[kind][0])


@pytest.mark.parametrize("kind", KINDS)
def test_strengthened_claims_rejected(certs, kind, tmp_path):
    path = _fresh_copy(certs[kind][0], tmp_path)
    cert = json.loads(path.read_text())
    for k, c in enumerate(cert["claims"]):
        bad = json.loads(json.dumps(cert))
        bad["claims"][k]["value"] = _strengthen(c["value"], c["relation"])
        _rewrite(path, bad)
        rep = check_certificate(path)
        assert not rep.accepted
        assert [r.accepted for r in rep.results] == [j != k for j in range(len(cert["claims"]))]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("update_hash", [True, False])
def test_edited_data_point_rejected(certs, kind, update_hash, tmp_path):
    path = _fresh_copy(certs[kind][0], tmp_path)
    cert = json.loads(path.read_text())
    res = certs[kind][1]
    data_file = path.parent / cert["inputs"][0]["path"]
    with np.load(data_file) as z:
        X, y = z["X"].copy(), z["y"].copy()
    i = int(res.lam_index[0])  # a point carrying dual weight
    if kind == "separability":
        j = int(np.argmax(np.abs(res.w[:-1])))
        X[i, j] -= y[i] * np.sign(res.w[j]) * 0.05  # toward the boundary: the margin shrinks
    else:
        X[i, 0] += 0.01  # breaks Σλ_i y_i x_i = 0 in coordinate 0
    np.savez(data_file, X=X, y=y)
    if update_hash:
        cert["inputs"][0]["sha256"] = sha256_file(data_file)
        _rewrite(path, cert)
    rep = check_certificate(path)
    assert not rep.accepted
    if not update_hash:
        assert "sha256" in rep.error


@pytest.mark.parametrize("kind,edit", [("separability", "w"), ("separability", "lambda_move"),
                                       ("separability", "lambda_sum"), ("non-separability", "lambda_move"),
                                       ("non-separability", "lambda_sum"), ("non-separability", "index")])
def test_edited_witness_rejected(certs, kind, edit, tmp_path):
    path = _fresh_copy(certs[kind][0], tmp_path)
    cert = json.loads(path.read_text())
    wit = cert["witness"]
    lam = [Fraction(v) for v in wit["lambda"]["value"]]
    if edit == "w":
        w = [Fraction(v) for v in wit["w"]]
        j = max(range(len(w)), key=lambda k: abs(w[k]))
        w[j] *= Fraction(101, 100)
        wit["w"] = [f"{v.numerator}/{v.denominator}" for v in w]
    elif edit == "lambda_move":  # keeps Σλ = 1, moves the combination
        delta = min(lam[0], Fraction(1, 100))
        lam[0] -= delta
        lam[1] += delta
    elif edit == "lambda_sum":
        lam[0] *= Fraction(1_000_001, 1_000_000)
    else:
        others = set(range(100)) - set(wit["lambda"]["index"])
        wit["lambda"]["index"][0] = min(others)
    wit["lambda"]["value"] = [f"{v.numerator}/{v.denominator}" for v in lam]
    _rewrite(path, cert)
    assert not check_certificate(path).accepted


# ----------------------------------------------------------------------------- fuzzing

def _independent_separable(Z: np.ndarray) -> bool:
    """LP (HiGHS via scipy, not our code path) for: is there w with Zw ≥ 1?"""
    from scipy.optimize import linprog

    r = linprog(np.zeros(Z.shape[1]), A_ub=-Z, b_ub=-np.ones(len(Z)), bounds=(None, None), method="highs")
    return r.status == 0


small_sets = st.tuples(st.integers(2, 10), st.integers(1, 4), st.integers(0, 2**32 - 1),
                       st.sampled_from(["teacher", "random", "integer"]), st.booleans())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(small_sets)
def test_fuzz_never_accepts_a_false_claim(tmp_path, params):
    n, d, seed, mode, bias = params
    rng = np.random.default_rng(seed)
    if mode == "integer":  # small integer grids: exact ties and hulls through 0 are common
        X = rng.integers(-2, 3, size=(n, d)).astype(float)
        y = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    else:
        X = rng.standard_normal((n, d))
        y = np.sign(X @ rng.standard_normal(d)) if mode == "teacher" else np.where(rng.random(n) < 0.5, 1.0, -1.0)
        y[y == 0] = 1.0
    y[0], y[-1] = 1.0, -1.0
    try:
        data = Dataset(X, y)
    except verify.InputError:
        return  # a point with both labels: rejected on entry, as it should be
    Z = signed(data, bias)
    try:
        res = max_margin(data, bias)
    except MarginUndecided:
        return
    path = certify_separability(data, tmp_path / f"f{seed}.json", bias=bias, result=res)
    validate_schema(path)
    rep = check_certificate(path)
    assert rep.accepted  # generic small sets are always decided and certified
    assert res.separable == _independent_separable(Z)
    if res.separable:
        solver_margin, valid_lower = independent_margin(Z)
        assert valid_lower <= res.upper * (1 + 1e-12)
        assert res.lower <= solver_margin * (1 + 1e-6)


def _exact_gamma2(Z: np.ndarray) -> Fraction:
    """γ*² by brute force in exact rationals (independent of the producer): the nearest
    point of the hull to 0 is the affine minimizer, with weights ≥ 0, of some affinely
    independent subset of at most d+1 points (Carathéodory); 0 when 0 is in the hull."""
    import itertools

    import sympy

    n, d = Z.shape
    Zq = [[sympy.Rational(*float(v).as_integer_ratio()) for v in row] for row in Z]
    best = None
    for k in range(1, min(n, d + 1) + 1):
        for T in itertools.combinations(range(n), k):
            A = sympy.Matrix([Zq[i] for i in T])
            if sympy.Matrix.hstack(A, sympy.ones(k, 1)).rank() < k:
                continue  # affinely dependent
            K = sympy.BlockMatrix([[A * A.T, sympy.ones(k, 1)], [sympy.ones(1, k), sympy.zeros(1, 1)]]).as_explicit()
            mu = K.LUsolve(sympy.Matrix([0] * k + [1]))[:k]
            if any(m < 0 for m in mu):
                continue
            x = A.T * sympy.Matrix(mu)
            g2 = (x.T * x)[0, 0]
            best = g2 if best is None or g2 < best else best
    return Fraction(int(best.p), int(best.q))


tiny_sets = st.tuples(st.integers(2, 6), st.integers(1, 3), st.integers(0, 2**32 - 1), st.booleans())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tiny_sets)
def test_fuzz_degenerate_sets_against_exact_brute_force(tmp_path, params):
    # integer grids nudged by 2^-60: hulls through or next to 0, margins below float resolution
    n, d, seed, bias = params
    rng = np.random.default_rng(seed)
    X = rng.integers(-2, 3, size=(n, d)).astype(float)
    X += rng.choice([0.0, 2.0**-60, -(2.0**-60)], size=(n, d), p=[0.6, 0.2, 0.2])
    y = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    y[0], y[-1] = 1.0, -1.0
    try:
        data = Dataset(X, y)
    except verify.InputError:
        return
    res, path, rep = certify_and_check(data, tmp_path, bias=bias, name=f"t{seed}.json")
    assert rep.accepted
    g2 = _exact_gamma2(signed(data, bias))
    assert res.separable == (g2 > 0)
    if res.separable:
        assert Fraction(res.lower) ** 2 <= g2 <= Fraction(res.upper) ** 2
