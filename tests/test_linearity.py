"""Theorem 2 (THEORY.md §3): band, per-point test, probability, and the `linearity` certificate."""

from __future__ import annotations

import ast
import json
import math
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from scipy.special import betainc

import verify
from verify._linearity import band, band_probability, certify_linearity, linearity_report, per_point, side_spread
from verify.check import check_certificate

# float tolerance on N(x) − Lin(x) identities: sums of ≤ 40 products of O(10) numbers
TOL = 1e-9


def clustered_net(rng, d=6, k=8, alpha=0.5, spread=0.05, k_neg=None):
    """Neurons near one center per sign: w_j = w̄ + noise, u_j = ū + noise."""
    k_neg = k if k_neg is None else k_neg
    c = rng.standard_normal(d)
    Wp = c + spread * rng.standard_normal((k, d))
    Wn = -c + 0.3 * rng.standard_normal(d) + spread * rng.standard_normal((k_neg, d))
    return verify.Network(Wp, Wn, alpha)


def sigma(z, a):
    return np.where(z > 0, z, a * z)


def teacher_test_set(data, n, seed):
    """Fresh points labelled by the same teacher as `data`."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, data.d))
    return verify.Dataset(X, np.where(X @ data.teacher > 0, 1.0, -1.0), teacher=data.teacher, source="test")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data = verify.teacher_dataset(n=120, d=5, seed=3, margin=0.1)
    run = verify.train(data, verify.TrainConfig(width=5, alpha=0.5, lr=0.05, steps=8000, seed=1))
    folder = tmp_path_factory.mktemp("lin")
    path = verify.save_run(folder / "run.npz", run)
    return data, run, path


class TestBounds:
    def test_nonlinearity_in_caps_and_exact_identity(self, rng):
        """0 ≤ Σσ(w_j·x) − σ(W·x) ≤ cap_w ≤ (1−α)D_w‖x‖, and correction 1's identity holds."""
        for trial in range(20):
            a = rng.uniform(0.05, 0.95)
            net = clustered_net(rng, d=5, k=int(rng.integers(1, 9)), alpha=a, spread=rng.uniform(0.01, 2),
                                k_neg=int(rng.integers(1, 9)))
            X = rng.standard_normal((300, 5))
            P = X @ net.W_pos.T
            S = P.sum(1)
            nonlin = sigma(P, a).sum(1) - sigma(S, a)
            k = net.k_pos
            abar = S / k
            dev = P - abar[:, None]
            cap_theory = (1 - a) * np.maximum(np.abs(dev) - np.abs(abar)[:, None], 0).sum(1)
            s = np.where(abar >= 0, 1.0, -1.0)
            identity = (1 - a) * (np.maximum(np.abs(dev) - np.abs(abar)[:, None], 0) * (s[:, None] * dev < 0)).sum(1)
            sw = side_spread(net.W_pos)
            assert np.all(nonlin >= -TOL)
            assert np.all(nonlin <= cap_theory + TOL)
            np.testing.assert_allclose(nonlin, identity, atol=TOL)
            assert np.all(cap_theory <= (1 - a) * sw["sum_delta"] * np.linalg.norm(X, axis=1) + TOL)
            assert np.all(nonlin <= (1 - a) * sw["D"] * np.linalg.norm(X, axis=1) + TOL)

    def test_projected_spread_never_larger(self, rng):
        for _ in range(20):
            W = rng.standard_normal(4) + 0.3 * rng.standard_normal((6, 4))
            s = side_spread(W)
            if s["projected"]:
                assert s["sum_e"] <= s["sum_delta"] * (1 + 1e-12)
                assert s["op_e"] <= s["op_delta"] * (1 + 1e-12)
            dev = np.linalg.norm(W - W.mean(0), axis=1)
            # ‖Δ‖_op ≥ its largest row norm; both spreads are upper bounds rounded up
            assert s["op_delta"] >= math.sqrt(6) * dev.max() * (1 - 1e-12)
            assert s["sum_delta"] >= dev.sum() * (1 - 1e-12) and s["sum_delta"] <= dev.sum() * (1 + 1e-12)
            assert s["D"] == min(x for x in (s["sum_delta"], s["op_delta"], s["sum_e"], s["op_e"]) if x is not None)

    def test_band_statement(self, rng):
        """Every point outside the band gets sign N(x) = sign⟨v,x⟩ (unequal k₊, k₋ included)."""
        checked = 0
        for trial in range(15):
            net = clustered_net(rng, d=6, k=7, alpha=rng.uniform(0.2, 0.9), spread=0.05, k_neg=int(rng.integers(1, 10)))
            b = band(net)
            assert b["beta"] < 1
            v = b["direction"]
            X = rng.standard_normal((4000, 6))
            out = net(X)
            t = X @ v
            outside = np.abs(t) > b["beta"] * np.linalg.norm(X, axis=1)
            assert np.all(np.sign(out[outside]) == np.sign(t[outside]))
            pos = t > b["beta_pos"] * np.linalg.norm(X, axis=1)
            neg = -t > b["beta_neg"] * np.linalg.norm(X, axis=1)
            assert np.all(out[pos] > 0) and np.all(out[neg] < 0)
            checked += int(outside.sum())
        assert checked > 10000

    def test_per_point_sound_and_at_least_band(self, rng):
        net = clustered_net(rng, d=6, k=6, alpha=0.3, spread=0.3)
        b = band(net)
        X = rng.standard_normal((5000, 6))
        pp = per_point(net, X)
        cert = pp["certified"]
        assert np.all(np.sign(pp["out"][cert]) == pp["sign"][cert])
        assert np.all(pp["sign"][cert] == pp["lin_sign"][cert])
        outside = np.abs(X @ b["direction"]) > b["beta"] * np.linalg.norm(X, axis=1) * (1 + 1e-9)
        assert np.all(cert[outside])  # the band implies the per-point test
        # exact agreement is the sharpest per-point statement (correction 1)
        assert np.all(pp["agree"][cert])
        assert pp["agree"].sum() >= cert.sum()


class TestExactMultiples:
    def test_beta_zero_all_certified_direction_v(self, tmp_path, rng):
        v = np.array([0.5, 0.5, -0.5, 0.5])  # unit and exact in binary
        Wp = np.array([1.0, 2.0, 0.25, 3.0])[:, None] * v
        Wn = np.array([0.5, 4.0, 1.0])[:, None] * (-v)
        net = verify.Network(Wp, Wn, 0.1)
        b = band(net)
        assert b["beta"] == 0.0 and b["beta_pos"] == 0.0
        np.testing.assert_array_equal(b["direction"], v)
        X = rng.standard_normal((3000, 4))
        pp = per_point(net, X)
        assert pp["certified"].all() and pp["agree"].all()
        assert np.all(pp["sign"] == np.sign(X @ v))
        # mean-center deviations alone would not give 0: the projected spread does
        assert side_spread(Wp)["sum_delta"] > 1
        path = verify.save_network(tmp_path / "net.npz", net)
        y = np.where(X @ v > 0, 1.0, -1.0)
        data = verify.Dataset(X[:200], y[:200])
        cert_path = certify_linearity(path, data, tmp_path / "c", test=verify.Dataset(X[200:], y[200:]))
        cert = json.loads(cert_path.read_text())
        values = {c["name"]: c["value"] for c in cert["claims"]}
        assert values["band_beta"] == 0.0 and values["band_probability"] == 0.0
        assert values["certified_fraction_train"] == "1/1" and values["certified_fraction_test"] == "1/1"
        assert check_certificate(cert_path).accepted

    def test_float_multiples_tiny_beta(self, rng):
        v = rng.standard_normal(7)
        v /= np.linalg.norm(v)
        net = verify.Network(rng.uniform(0.5, 2, (5, 1)) * v, rng.uniform(0.5, 2, (4, 1)) * (-v), 0.5)
        b = band(net)
        assert b["beta"] < 1e-13
        assert np.linalg.norm(b["direction"] - v) < 1e-14


class TestProbability:
    @pytest.mark.parametrize("d", [2, 3, 5, 20])
    def test_matches_scipy_and_closed_forms(self, d):
        for beta in (0.0, 1e-3, 0.1, 0.5, 0.93):
            p = band_probability(beta, d)
            ref = betainc(0.5, (d - 1) / 2, beta * beta)
            assert p >= ref - 1e-15 and p <= ref * (1 + 1e-12) + 1e-300
            if d == 3:  # Archimedes: ⟨v,x⟩ is uniform on [−1,1] for x uniform on S²
                assert p >= beta and p <= beta * (1 + 1e-14) + 1e-300
            if d == 2:
                assert abs(p - 2 / math.pi * math.asin(beta)) <= 1e-14
        assert band_probability(1.0, d) == 1.0 and band_probability(3.0, d) == 1.0

    def test_monte_carlo(self, rng):
        d, beta = 6, 0.3
        X = rng.standard_normal((200000, d))
        frac = np.mean(np.abs(X[:, 0]) <= beta * np.linalg.norm(X, axis=1))
        p = band_probability(beta, d)
        assert abs(frac - p) < 5 * math.sqrt(p * (1 - p) / X.shape[0])

    def test_not_for_d1(self):
        assert band_probability(0.1, 1) is None


def _violations(net, rng, n_points, chunk=200000):
    bad, cert_total = 0, 0
    for start in range(0, n_points, chunk):
        X = rng.standard_normal((min(chunk, n_points - start), net.d))
        pp = per_point(net, X)
        c = pp["certified"]
        cert_total += int(c.sum())
        bad += int(np.count_nonzero(np.sign(pp["out"][c]) != pp["sign"][c]))
        bad += int(np.count_nonzero(pp["sign"][c] != np.sign(X[c] @ (net.W_pos.sum(0) - net.W_neg.sum(0)))))
    return bad, cert_total


class TestNoViolations:
    def test_small(self):
        """A few trained nets, 2·10⁴ points each: no certified sign is ever wrong."""
        total = 0
        for seed, alpha in enumerate((0.1, 0.5, 0.1, 0.5)):
            data = verify.teacher_dataset(n=100, d=5, seed=seed, margin=0.05)
            run = verify.train(data, verify.TrainConfig(width=4, alpha=alpha, lr=0.05, steps=5000, seed=seed))
            bad, cert = _violations(run.final, np.random.default_rng(seed), 20000)
            assert bad == 0
            total += cert
        assert total > 40000

    @pytest.mark.slow
    def test_fifty_nets_million_points(self):
        """0 violations of any certified sign over 10⁶ test points on each of 50 trained nets."""
        total = 0
        for seed in range(50):
            alpha = (0.1, 0.5)[seed % 2]
            data = verify.teacher_dataset(n=200, d=10, seed=100 + seed, margin=0.05)
            run = verify.train(data, verify.TrainConfig(width=10, alpha=alpha, lr=0.05, steps=20000, seed=seed))
            bad, cert = _violations(run.final, np.random.default_rng(seed), 10 ** 6)
            assert bad == 0
            total += cert
        assert total > 10 ** 7


class TestCertificate:
    def test_accepted_and_fractions_exact(self, trained, tmp_path):
        data, run, path = trained
        test = teacher_test_set(data, 700, seed=9)
        cp = certify_linearity(path, None, tmp_path, test=test)
        rep = check_certificate(cp)
        assert rep.accepted, [r.reason for r in rep.results]
        cert = json.loads(cp.read_text())
        names = {c["name"] for c in cert["claims"]}
        assert {"direction_error", "band_beta", "band_probability", "certified_fraction_train",
                "agreement_fraction_train", "certified_fraction_test", "agreement_fraction_test"} <= names
        # the run file itself carries the training points
        assert [i["name"] for i in cert["inputs"]] == ["network", "train", "test"]
        assert cert["inputs"][1]["path"] == "../" + path.name or cert["inputs"][1]["path"].endswith(path.name)
        rpt = linearity_report(run.final, data, test)
        values = {c["name"]: c["value"] for c in cert["claims"]}
        assert Fraction(values["certified_fraction_test"]) == Fraction(round(rpt["certified_fraction"]["test"] * 700), 700)

    def _tamper(self, cp: Path, fn) -> bool:
        cert = json.loads(cp.read_text())
        fn(cert)
        out = cp.parent / "tampered.json"
        out.write_text(json.dumps(cert))
        return check_certificate(out).accepted

    def test_strengthened_claims_rejected(self, trained, tmp_path):
        data, run, path = trained
        test = teacher_test_set(data, 300, seed=4)
        cp = certify_linearity(path, None, tmp_path, test=test)
        cert = json.loads(cp.read_text())
        for i, c in enumerate(cert["claims"]):
            q = Fraction(c["value"]) if isinstance(c["value"], str) else Fraction(c["value"])
            if c["relation"] == "<=":
                new = q * (1 - Fraction(1, 10 ** 6))
            else:
                new = q * (1 + Fraction(1, 10 ** 6))
            if c["relation"] == ">=" and q == 0:
                continue

            def edit(cc, i=i, new=new):
                cc["claims"][i]["value"] = f"{new.numerator}/{new.denominator}"
            assert not self._tamper(cp, edit), c["name"]

    def test_edited_weight_rejected(self, trained, tmp_path):
        data, run, path = trained
        local = tmp_path / "run.npz"
        shutil.copy(path, local)
        cp = certify_linearity(local, None, tmp_path)
        assert check_certificate(cp).accepted
        z = dict(np.load(local, allow_pickle=False))
        z["W_pos"] = z["W_pos"].copy()
        z["W_pos"][0, 0] += 3.0
        np.savez(local, **z)
        assert not check_certificate(cp).accepted  # sha256 mismatch
        from verify._io import sha256_file

        cert = json.loads(cp.read_text())
        for e in cert["inputs"]:
            if e["path"].endswith("run.npz"):
                e["sha256"] = sha256_file(local)
        cp.write_text(json.dumps(cert))
        rep = check_certificate(cp)
        assert not rep.accepted
        assert not {r.name: r.accepted for r in rep.results}["band_beta"]

    def test_edited_witness_rejected(self, tmp_path, rng):
        # scattered deviations in 20 dimensions: the operator-norm spread wins and needs a witness
        c = rng.standard_normal(20)
        net = verify.Network(c + 0.05 * rng.standard_normal((10, 20)), -c + 0.05 * rng.standard_normal((10, 20)), 0.5)
        b = band(net)
        assert b["D_w"]["method"].startswith("op") and b["D_u"]["method"].startswith("op")
        path = verify.save_network(tmp_path / "net.npz", net)
        cp = certify_linearity(path, None, tmp_path / "c")
        assert check_certificate(cp).accepted

        def low_lambda(cc):
            cc["witness"]["lambda_pos"] *= 0.99

        def bad_direction(cc):
            cc["witness"]["direction"][3] += 1e-6

        def wrong_basis(cc):
            cc["witness"]["basis_neg"] = "other"

        for fn in (low_lambda, bad_direction, wrong_basis):
            assert not self._tamper(cp, fn), fn.__name__

    def test_bias_network_lifted_no_probability(self, tmp_path, rng):
        from verify._network import from_two_layer

        d = 3
        W1 = np.vstack([rng.standard_normal(d) + 0.05 * rng.standard_normal((6, d))])
        a2 = np.array([1.0, 1, 1, -1, -1, -1])
        W1[3:] = -W1[3:]
        net = from_two_layer(W1, rng.standard_normal(6) * 0.1, a2, 0.2, 0.3)
        assert net.input_bias and net.d == d + 1
        X = rng.standard_normal((100, d))
        data = verify.Dataset(X, np.where(net(X) > 0, 1.0, -1.0))
        path = verify.save_network(tmp_path / "net.npz", net)
        cp = certify_linearity(path, data, tmp_path / "c")
        cert = json.loads(cp.read_text())
        assert "band_probability" not in {c["name"] for c in cert["claims"]}
        assert check_certificate(cp).accepted
        r = linearity_report(net, data)
        assert r["lifted"] and r["band_probability"] is None and len(r["direction"]) == d + 1

    def test_one_sided_network(self, tmp_path, rng):
        """k₋ = 0 (e.g. an imported net whose output weights are all positive): U = 0, D_u = 0."""
        c = rng.standard_normal(3)
        net = verify.Network(c + 0.1 * rng.standard_normal((4, 3)), np.zeros((0, 3)), 0.4)
        X = rng.standard_normal((300, 3))
        pp = per_point(net, X)
        assert np.all(np.sign(pp["out"][pp["certified"]]) == pp["sign"][pp["certified"]])
        path = verify.save_network(tmp_path / "n.npz", net)
        cp = certify_linearity(path, verify.Dataset(X, np.where(net(X) > 0, 1.0, -1.0)), tmp_path / "c")
        assert check_certificate(cp).accepted

    def test_schema(self, trained, tmp_path):
        jsonschema = pytest.importorskip("jsonschema")
        data, run, path = trained
        cp = certify_linearity(path, None, tmp_path)
        schema = json.loads((Path(verify.__file__).parents[1] / "certificates" / "schema.json").read_text())
        jsonschema.validate(json.loads(cp.read_text()), schema)

    def test_zero_direction_is_input_error(self, tmp_path):
        W = np.array([[1.0, 2.0]])
        path = verify.save_network(tmp_path / "n.npz", verify.Network(W, W, 0.5))
        with pytest.raises(verify.InputError):
            certify_linearity(path, None, tmp_path / "c")

    def test_certify_command(self, trained, tmp_path):
        from verify.cli import main

        data, run, path = trained
        assert main(["certify", str(path), "--kind", "linearity", "--out", str(tmp_path / "o")]) == 0
        assert main(["check", str(tmp_path / "o" / "linearity.json")]) == 0


def test_checker_kind_imports_only_checker_and_stdlib():
    src = Path(verify.__file__).parent / "check" / "kinds" / "linearity.py"
    tree = ast.parse(src.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = ("." * node.level) + (node.module or "")
            assert node.level >= 1 or mod.split(".")[0] in {"__future__", "fractions", "numpy", "flint", "math"}, mod
            if node.level:
                assert node.level <= 2, mod  # verify.check.* only
        elif isinstance(node, ast.Import):
            for a in node.names:
                assert a.name.split(".")[0] in {"numpy", "flint", "math", "fractions"}, a.name


def test_checker_counts_match_fraction_arithmetic(rng):
    """The checker's scaled-integer counts equal a plain Fraction evaluation of N(x) and the caps."""
    from verify.check.kinds.linearity import _Side, _cert_sets, _ints

    for trial in range(4):
        a = Fraction(float(rng.uniform(0.05, 0.95)))
        net = clustered_net(rng, d=3, k=3, alpha=float(a), spread=0.4, k_neg=2)
        X = rng.standard_normal((60, 3)) * rng.uniform(0.1, 10)
        Wi, E = _ints(np.vstack([net.W_pos, net.W_neg]))
        pos, neg = _Side(Wi[:3], E), _Side(Wi[3:], E)
        Xi, _ = _ints(X)
        cert_n, agree_n = _cert_sets(Wi[:3], Wi[3:], Xi, a.numerator, a.denominator, pos, neg)

        def sig(z):
            return z if z > 0 else a * z

        Wp = [[Fraction(float(t)) for t in w] for w in net.W_pos]
        Wn = [[Fraction(float(t)) for t in w] for w in net.W_neg]

        def caps(Ws, x):
            k = len(Ws)
            pre = [sum(p * q for p, q in zip(w, x)) for w in Ws]
            S = sum(pre)
            cd = (1 - a) * sum(max(abs(p - S / k) - abs(S / k), 0) for p in pre)
            W = [sum(col) for col in zip(*Ws)]
            nW2 = sum(t * t for t in W)
            g = [sum(p * q for p, q in zip(w, W)) for w in Ws]
            if nW2 > 0 and all(t >= 0 for t in g):
                ce = (1 - a) * sum(max(abs(p - gj / nW2 * S) - gj / nW2 * abs(S), 0) for p, gj in zip(pre, g))
                cd = min(cd, ce)
            return S, cd, pre

        c_ref = a_ref = 0
        for row in X:
            x = [Fraction(float(t)) for t in row]
            SP, cw, P = caps(Wp, x)
            SQ, cu, Qp = caps(Wn, x)
            lin = sig(SP) - sig(SQ)
            c_ref += (lin - cu > 0) or (lin + cw < 0)
            out = sum(sig(p) for p in P) - sum(sig(q) for q in Qp)
            a_ref += (out > 0 and SP - SQ > 0) or (out < 0 and SP - SQ < 0)
        assert (cert_n, agree_n) == (c_ref, a_ref)
        pp = per_point(net, X)
        assert int(pp["certified"].sum()) <= cert_n and int(pp["agree"].sum()) <= agree_n
