"""Tests for the exact worst-case disagreement (THEORY.md §6) and its certificate.

Cross-checks are independent of the solver: (1) enumeration of every activation region of
the hyperplane arrangement, with one scipy LP per region (N is linear there), and (2) a
textbook big-M MILP with one binary per neuron solved by scipy's HiGHS MILP interface.
"""

from __future__ import annotations

import copy
import json
from fractions import Fraction

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from verify import InputError, Network, from_two_layer, save_network
from verify._disagreement import certify_disagreement, default_direction, exact_disagreement
from verify.check import check_certificate
from verify.cli import main

# brute force and MILP answers agree with the certified interval to this absolute tolerance
# (their own LP tolerances are ~1e-9)
TOL = 1e-7


# ---------------------------------------------------------------- independent references
def _regions(H: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Sign vectors of every full-dimensional cell of the arrangement {h·x = 0} in the box."""
    m, d = H.shape
    out = []
    stack = [[]]
    bounds = list(zip(lo, hi)) + [(None, 1.0)]
    while stack:
        signs = stack.pop()
        i = len(signs)
        if i == m:
            out.append(signs)
            continue
        for s in (1.0, -1.0):
            cur = signs + [s]
            # max ε s.t. s_i h_i·x ≥ ε: a cell with interior has ε* > 0
            A = np.hstack([-(np.array(cur)[:, None] * H[: i + 1]), np.ones((i + 1, 1))])
            obj = np.zeros(d + 1)
            obj[-1] = -1.0
            r = linprog(obj, A_ub=A, b_ub=np.zeros(i + 1), bounds=bounds, method="highs")
            if r.status == 0 and -r.fun > 1e-9:
                stack.append(cur)
    return out


def brute_force(net: Network, v: np.ndarray) -> tuple[float, float]:
    """β⁺, β⁻ by one LP per activation region (−inf when a side is infeasible)."""
    d = net.d
    lo, hi = -np.ones(d), np.ones(d)
    if net.input_bias:
        lo[-1] = hi[-1] = 1.0
    H = np.vstack([net.W_pos, net.W_neg])
    kp = net.k_pos
    best = {1: -np.inf, -1: -np.inf}
    for signs in _regions(H, lo, hi):
        s = np.array(signs)
        slope = np.where(s > 0, 1.0, net.alpha)
        a = (slope[:kp] @ net.W_pos) - (slope[kp:] @ net.W_neg)  # N(x) = a·x on this cell
        cell = -(s[:, None] * H)
        for side in (1, -1):
            A = np.vstack([cell, side * a[None, :]])
            r = linprog(-side * v, A_ub=A, b_ub=np.zeros(A.shape[0]), bounds=list(zip(lo, hi)), method="highs")
            if r.status == 0:
                best[side] = max(best[side], -r.fun)
    return best[1], best[-1]


def milp_beta(net: Network, v: np.ndarray, side: int) -> float:
    """Naive big-M MILP (one binary per neuron, M from ‖w‖₁) for β⁺ (side=1) or β⁻ (side=−1)."""
    d, a = net.d, net.alpha
    H = np.vstack([net.W_pos, net.W_neg])
    sign = np.r_[np.ones(net.k_pos), -np.ones(net.k_neg)]
    m = H.shape[0]
    L = np.abs(H).sum(axis=1)
    # variables: x (d), y (m) = σ(h·x), δ (m) binary
    n = d + 2 * m
    rows, lb, ub = [], [], []

    def row(xc, yc=None, dc=None):
        r = np.zeros(n)
        r[:d] = xc
        if yc is not None:
            r[d:d + m] = yc
        if dc is not None:
            r[d + m:] = dc
        return r

    for j in range(m):
        e = np.zeros(m); e[j] = 1.0
        rows += [row(-H[j], e), row(-a * H[j], e),                          # y ≥ p, y ≥ αp
                 row(-H[j], e, (1 - a) * L[j] * -e * -1),                   # y ≤ p + (1−α)L(1−δ)
                 row(-a * H[j], e, -(1 - a) * L[j] * e),                    # y ≤ αp + (1−α)Lδ
                 row(H[j], None, -L[j] * e), row(H[j], None, -L[j] * e)]    # p ≤ Lδ ; p ≥ −L(1−δ)
        lb += [0, 0, -np.inf, -np.inf, -np.inf, -L[j]]
        ub += [np.inf, np.inf, (1 - a) * L[j], 0, 0, np.inf]
    rows.append(row(np.zeros(d), side * sign))
    lb.append(-np.inf)
    ub.append(0.0)
    A = np.array(rows)
    c = np.zeros(n); c[:d] = -side * v
    lo = np.r_[-np.ones(d), np.full(m, -np.inf), np.zeros(m)]
    hi = np.r_[np.ones(d), np.full(m, np.inf), np.ones(m)]
    if net.input_bias:
        lo[d - 1] = hi[d - 1] = 1.0
    res = milp(c, constraints=LinearConstraint(A, lb, ub), bounds=Bounds(lo, hi),
               integrality=np.r_[np.zeros(d + m), np.ones(m)],
               options={"mip_rel_gap": 1e-10, "time_limit": 60})
    assert res.status == 0, res.message
    return -res.fun


def clustered(rng, k, d, noise=0.3, alpha=0.5):
    v = rng.normal(size=d)
    v /= np.linalg.norm(v)
    return Network(v + noise * rng.normal(size=(k, d)), -v + noise * rng.normal(size=(k, d)), alpha), v


def _exactly_linear_net(rng, d):
    """Neurons exactly (power-of-two) multiples of v, plus canceling pairs ±e on both signs."""
    v = rng.normal(size=d)
    v /= np.linalg.norm(v)
    e = rng.normal(size=(2, d))
    W = np.vstack([np.array([0.5, 1.0, 4.0])[:, None] * v, e])
    U = np.vstack([-np.array([0.25, 2.0])[:, None] * v, e])
    return Network(W, U, 0.3), v


# ---------------------------------------------------------------- tests
class TestExactlyLinear:
    def test_parallel_and_canceling_neurons_certified_zero(self, tmp_path, rng):
        net, v = _exactly_linear_net(rng, 4)
        r = exact_disagreement(net, v)
        assert r.plus.upper == 0.0 and r.minus.upper == 0.0
        assert r.exactly_linear and r.to_dict()["exactly_linear"]
        save_network(tmp_path / "lin.npz", net)
        np.save(tmp_path / "v.npy", v)
        cert = certify_disagreement(tmp_path / "lin.npz", tmp_path / "out", v=tmp_path / "v.npy")
        rep = check_certificate(cert)
        assert rep.accepted, rep.to_dict()
        claims = {c["name"]: c for c in json.loads(cert.read_text())["claims"]}
        assert claims["beta_plus_upper"]["value"] == 0.0 and claims["beta_minus_upper"]["value"] == 0.0
        assert "exactly_linear" in claims

    def test_rounded_multiples_certified_tiny(self, rng):
        # 0.3·v rounds off v's line: exactly, the net is in general no longer a multiple of v;
        # what is certified is a tiny bound that still covers the enumerated truth
        v = rng.normal(size=3)
        v /= np.linalg.norm(v)
        net = Network(np.array([0.3, 0.7])[:, None] * v, -np.array([0.3])[:, None] * v, 0.5)
        r = exact_disagreement(net, v)
        assert r.plus.upper < 1e-12 and r.minus.upper < 1e-12
        bp, bm = brute_force(net, v)
        assert bp <= r.plus.upper + 1e-15 and bm <= r.minus.upper + 1e-15


class TestBruteForce:
    @pytest.mark.parametrize("case", range(8))
    def test_agrees_with_region_enumeration(self, case):
        rng = np.random.default_rng(100 + case)
        d = 2 if case < 5 else 3
        k = [8, 6, 5, 8, 3, 4, 3, 2][case]
        if case % 2 == 0:
            net, v = clustered(rng, k, d, noise=0.5, alpha=[0.1, 0.5, 0.9][case % 3])
        else:
            net = Network(rng.normal(size=(k, d)), rng.normal(size=(k + 1, d)), 0.2)
            v = default_direction(net)
        r = exact_disagreement(net, v)
        bp, bm = brute_force(net, v)
        for side, bf in (("plus", bp), ("minus", bm)):
            s = getattr(r, side)
            assert s.complete
            # same SAT/UNSAT answers just above and below the certified value
            assert not (bf >= s.upper + TOL), (side, bf, s.upper)   # UNSAT above
            assert bf >= s.lower - TOL, (side, bf, s.lower)          # SAT below
            assert s.upper - s.lower <= 1e-6
            if s.witness is not None:
                assert float(net(s.witness[None])[0]) * (1 if side == "plus" else -1) <= 1e-12

    @pytest.mark.slow
    @pytest.mark.parametrize("seed", range(12))
    def test_sweep_k8_d3(self, seed):
        rng = np.random.default_rng(1000 + seed)
        if seed % 2:
            net, v = clustered(rng, 8, 3, noise=0.4, alpha=0.3)
        else:
            net = Network(rng.normal(size=(8, 3)), rng.normal(size=(8, 3)), 0.4)
            v = default_direction(net)
        r = exact_disagreement(net, v)
        bp, bm = brute_force(net, v)
        for side, bf in (("plus", bp), ("minus", bm)):
            s = getattr(r, side)
            assert s.complete and s.lower - TOL <= bf <= s.upper + TOL

    def test_input_bias_net_against_enumeration(self):
        rng = np.random.default_rng(7)
        net = from_two_layer(rng.normal(size=(6, 2)), 0.3 * rng.normal(size=6), rng.normal(size=6), 0.2, 0.3)
        assert net.input_bias
        v = default_direction(net)
        r = exact_disagreement(net, v)
        bp, bm = brute_force(net, v)
        for side, bf in (("plus", bp), ("minus", bm)):
            s = getattr(r, side)
            if bf == -np.inf:
                assert s.lower is None
            else:
                assert s.lower - TOL <= bf <= s.upper + TOL
            if s.witness is not None:
                assert s.witness[-1] == 1.0

    @pytest.mark.parametrize("seed", range(3))
    def test_agrees_with_big_m_milp(self, seed):
        rng = np.random.default_rng(200 + seed)
        net, v = clustered(rng, 6, 6, noise=0.4)
        r = exact_disagreement(net, v)
        for side, sgn in (("plus", 1), ("minus", -1)):
            ref = milp_beta(net, v, sgn)
            s = getattr(r, side)
            assert s.lower - 1e-6 <= ref <= s.upper + 1e-6


class TestCertificate:
    @pytest.fixture(scope="class")
    def cert(self, tmp_path_factory):
        tmp = tmp_path_factory.mktemp("dis")
        net, v = clustered(np.random.default_rng(5), 6, 4, noise=0.4)
        save_network(tmp / "net.npz", net)
        np.save(tmp / "v.npy", v)
        path = certify_disagreement(tmp / "net.npz", tmp, v=tmp / "v.npy")
        return path

    def _tampered(self, cert, tmp_path, edit):
        obj = json.loads(cert.read_text())
        edit(obj)
        out = cert.parent / f"t-{tmp_path.name}.json"
        out.write_text(json.dumps(obj))
        return check_certificate(out)

    def test_accepted_and_closed(self, cert):
        rep = check_certificate(cert)
        assert rep.accepted, rep.to_dict()
        claims = {c["name"]: c["value"] for c in json.loads(cert.read_text())["claims"]}
        assert 0 < claims["beta_plus_lower"] <= claims["beta_plus_upper"] <= claims["beta_plus_lower"] + 1e-6

    def test_leaf_multipliers_as_floats_or_exact_strings(self, cert):
        """A leaf bound is the same whether its multipliers are floats or the same rationals as 'p/q'."""
        from verify.check.kinds.disagreement import side_enclosure

        obj = json.loads(cert.read_text())
        net_z = np.load(cert.parent / obj["inputs"][0]["path"], allow_pickle=False)
        args = (net_z["W_pos"], net_z["W_neg"], float(net_z["alpha"]), False, obj["parameters"]["direction"], "plus")
        wit = obj["witness"]["plus"]
        as_str = copy.deepcopy(wit)
        stack = [as_str["tree"]]
        while stack:
            node = stack.pop()
            if "leaf" in node:
                node["leaf"]["y"] = {k: "{}/{}".format(*Fraction(v).as_integer_ratio()) for k, v in node["leaf"]["y"].items()}
            else:
                stack += [node["active"], node["inactive"]]
        assert side_enclosure(*args, wit) == side_enclosure(*args, as_str)

    @pytest.mark.parametrize("side", ["plus", "minus"])
    def test_upper_strengthened_rejected(self, cert, tmp_path, side):
        def edit(o):
            for c in o["claims"]:
                if c["name"] == f"beta_{side}_upper":
                    c["value"] = c["value"] * (1 - 1e-6)
        rep = self._tampered(cert, tmp_path, edit)
        assert not rep.accepted
        bad = [r for r in rep.results if not r.accepted]
        assert [r.name for r in bad] == [f"beta_{side}_upper"]

    def test_lower_strengthened_rejected(self, cert, tmp_path):
        def edit(o):
            for c in o["claims"]:
                if c["name"] == "beta_plus_lower":
                    c["value"] = c["value"] * (1 + 1e-6)
        assert not self._tampered(cert, tmp_path, edit).accepted

    @staticmethod
    def _leaves(node, out):
        if "leaf" in node:
            out.append(node["leaf"])
        else:
            TestCertificate._leaves(node["active"], out)
            TestCertificate._leaves(node["inactive"], out)
        return out

    def test_leaf_multipliers_edited_rejected(self, cert, tmp_path):
        # a 1% edit of the largest multiplier breaks the tight leaves (a slack leaf may stay a
        # valid, looser proof: that is not a false claim); y0 = 0 breaks every nonempty leaf
        obj = json.loads(cert.read_text())
        leaves = self._leaves(obj["witness"]["plus"]["tree"], [])
        assert len(leaves) >= 2
        rejected_scaled = 0
        for idx in range(len(leaves)):
            def scale(o, idx=idx):
                leaf = self._leaves(o["witness"]["plus"]["tree"], [])[idx]
                key = max(leaf["y"], key=lambda k: float(Fraction(str(leaf["y"][k]))))
                leaf["y"][key] = float(Fraction(str(leaf["y"][key]))) * 1.01

            def drop_objective(o, idx=idx):
                self._leaves(o["witness"]["plus"]["tree"], [])[idx]["y0"] = 0.0

            rejected_scaled += not self._tampered(cert, tmp_path, scale).accepted
            assert not self._tampered(cert, tmp_path, drop_objective).accepted, idx
        assert rejected_scaled >= 1

    @pytest.mark.parametrize("edit", [
        lambda leaf: leaf["y"].update({"sum": -1.0}),                 # negative multiplier
        lambda leaf: leaf["y"].update({"bogus:0": 1.0}),              # no such row
        lambda leaf: leaf["y"].update({"p1:0": "nan"}),               # NaN
        lambda leaf: leaf.update({"y": {}}),                          # no multipliers
    ])
    def test_malformed_leaf_rejected(self, cert, tmp_path, edit):
        rep = self._tampered(cert, tmp_path, lambda o: edit(self._leaves(o["witness"]["plus"]["tree"], [])[0]))
        assert not rep.accepted

    def test_split_on_fixed_neuron_and_missing_child_rejected(self, cert, tmp_path):
        def resplit(o):
            tree = o["witness"]["plus"]["tree"]
            assert "split" in tree
            j = tree["split"]
            tree["active"] = {"split": j, "active": tree["active"], "inactive": tree["active"]}
        assert not self._tampered(cert, tmp_path, resplit).accepted

        def drop(o):
            del o["witness"]["plus"]["tree"]["inactive"]
        assert not self._tampered(cert, tmp_path, drop).accepted

    def test_witness_and_threshold_tampering_rejected(self, cert, tmp_path):
        def push_out(o):
            o["witness"]["plus"]["x"][0] = 1.5
        assert not self._tampered(cert, tmp_path, push_out).accepted

        def wrong_side(o):
            o["witness"]["plus"]["x"] = o["witness"]["minus"]["x"]
        assert not self._tampered(cert, tmp_path, wrong_side).accepted

        def raise_u(o):
            o["witness"]["plus"]["threshold"] = 2.0 * o["witness"]["plus"]["threshold"] + 1
        assert not self._tampered(cert, tmp_path, raise_u).accepted

        def lam(o):
            o["witness"]["plus"]["lam_hi"][0] = -1.0
        assert not self._tampered(cert, tmp_path, lam).accepted

    def test_network_edit_rejected(self, cert, tmp_path):
        import shutil

        obj = json.loads(cert.read_text())
        work = tmp_path / "copy"
        work.mkdir()
        net_rel = obj["inputs"][0]["path"]
        shutil.copy(cert, work / cert.name)
        z = dict(np.load(cert.parent / net_rel))
        z["W_pos"] = z["W_pos"] * 0.5
        np.savez(work / net_rel, **z)
        assert not check_certificate(work / cert.name).accepted


def _cut_nodes(node, path=(), out=None):
    """(node, fixed-on-path) for every tree node that carries cuts."""
    out = [] if out is None else out
    if node.get("cuts"):
        out.append(node)
    if "split" in node:
        _cut_nodes(node["active"], path, out)
        _cut_nodes(node["inactive"], path, out)
    return out


class TestCutsAndTightening:
    @pytest.fixture(scope="class")
    def cut_case(self, tmp_path_factory):
        """A clustered net and a direction off the cluster axis: needs branching and cuts."""
        rng = np.random.default_rng(1)
        net, v = clustered(rng, 6, 2, noise=0.3)
        v = v + 0.3 * rng.normal(size=2)
        v /= np.linalg.norm(v)
        tmp = tmp_path_factory.mktemp("cuts")
        save_network(tmp / "net.npz", net)
        np.save(tmp / "v.npy", v)
        return net, v, tmp

    def test_cuts_agree_with_enumeration(self, cut_case):
        net, v, _ = cut_case
        bp, bm = brute_force(net, v)
        for rounds in (0, 3):  # node-local cuts alone, and with root tightening
            r = exact_disagreement(net, v, obbt_rounds=rounds)
            assert r.plus.lower - TOL <= bp <= r.plus.upper + TOL
            assert r.minus.lower - TOL <= bm <= r.minus.upper + TOL
            assert r.plus.upper - r.plus.lower <= 1e-6
        assert _cut_nodes(exact_disagreement(net, v, obbt_rounds=0).plus.tree)

    def test_cut_tampering_rejected(self, cut_case, tmp_path):
        _, _, tmp = cut_case
        cert = certify_disagreement(tmp / "net.npz", tmp, v=tmp / "v.npy", obbt_rounds=0, name="cuts.json")
        assert check_certificate(cert).accepted
        obj = json.loads(cert.read_text())
        assert _cut_nodes(obj["witness"]["plus"]["tree"])
        edits = {
            "negative mu": lambda c: c.update({"mu": -1.0}),
            "row not on the path": lambda c: c.update({"row": next(j for j in range(6) if j not in (c["row"], c["cut"]))}),
            "unknown sense": lambda c: c.update({"sense": "mid"}),
        }
        for why, edit in edits.items():
            o = copy.deepcopy(obj)
            edit(_cut_nodes(o["witness"]["plus"]["tree"])[0]["cuts"][0])
            out = tmp / f"t-{tmp_path.name}.json"
            out.write_text(json.dumps(o))
            assert not check_certificate(out).accepted, why

    def test_tightening_tampering_rejected(self, cut_case, tmp_path):
        _, _, tmp = cut_case
        cert = certify_disagreement(tmp / "net.npz", tmp, v=tmp / "v.npy", name="tight.json")
        obj = json.loads(cert.read_text())
        steps = obj["witness"]["plus"]["tighten"]
        assert steps
        out = tmp / f"t-{tmp_path.name}.json"
        for why, edit in {
            "neuron out of range": lambda st: st.update({"j": 99}),
            "negative multiplier": lambda st: st["y"].update({"sum": -0.5}),
            "unknown sense": lambda st: st.update({"sense": "up"}),
        }.items():
            o = copy.deepcopy(obj)
            edit(o["witness"]["plus"]["tighten"][0])
            out.write_text(json.dumps(o))
            assert not check_certificate(out).accepted, why


def _all_nodes(node, out=None):
    """Every node of a tree, parents before children."""
    out = [] if out is None else out
    stack = [node]
    while stack:
        nd = stack.pop()
        out.append(nd)
        if "split" in nd:
            stack += [nd["inactive"], nd["active"]]
    return out


class TestCellCuts:
    """Node bounds from tiny LPs over the node's region: cuts with several region rows and the
    node's linearized row of N(x) ≤ 0 (`rows`, `lin`)."""

    @pytest.fixture(scope="class")
    def cell_case(self, tmp_path_factory):
        rng = np.random.default_rng(300)
        net, _ = clustered(rng, 10, 5, noise=0.4)
        v = default_direction(net)
        tmp = tmp_path_factory.mktemp("cell")
        save_network(tmp / "net.npz", net)
        np.save(tmp / "v.npy", v)
        cert = certify_disagreement(tmp / "net.npz", tmp, v=tmp / "v.npy", obbt_rounds=0, name="cell.json")
        ref = {"plus": milp_beta(net, v, 1), "minus": milp_beta(net, v, -1)}
        return net, v, cert, ref

    def _nodes_with(self, tree, key):
        return [nd for nd in _all_nodes(tree) if any(key in c for c in nd.get("cuts", []))]

    def test_agrees_with_milp_and_uses_both_kinds(self, cell_case):
        _, _, cert, ref = cell_case
        assert check_certificate(cert).accepted
        obj = json.loads(cert.read_text())
        claims = {c["name"]: c["value"] for c in obj["claims"]}
        for side in ("plus", "minus"):
            assert claims[f"beta_{side}_lower"] - 1e-6 <= ref[side] <= claims[f"beta_{side}_upper"] + 1e-6
            assert claims[f"beta_{side}_upper"] - claims[f"beta_{side}_lower"] <= 1e-6
        tree = obj["witness"]["plus"]["tree"]
        assert self._nodes_with(tree, "rows") and self._nodes_with(tree, "lin")

    def test_schema(self, cell_case):
        jsonschema = pytest.importorskip("jsonschema")
        from pathlib import Path

        schema = json.loads((Path(__file__).resolve().parents[1] / "certificates" / "schema.json").read_text())
        _, _, cert, _ = cell_case
        obj = json.loads(cert.read_text())
        jsonschema.validate(obj, schema, cls=jsonschema.Draft202012Validator)
        for edit in (lambda c: c.update(sense="mid"), lambda c: c.update(rows=[[0]]), lambda c: c.pop("lam")):
            bad = copy.deepcopy(obj)
            cut = next(c for c in self._nodes_with(bad["witness"]["plus"]["tree"], "rows")[0]["cuts"] if "rows" in c)
            edit(cut)
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)

    def _check(self, cert, obj, tmp_path):
        out = cert.parent / f"t-{tmp_path.name}.json"
        out.write_text(json.dumps(obj))
        return check_certificate(out)

    def test_structural_tampering_rejected(self, cell_case, tmp_path):
        _, _, cert, _ = cell_case
        obj = json.loads(cert.read_text())
        edits = {
            "row of a neuron not on the path": lambda nd, fixed: nd["cuts"][0].setdefault("rows", []).append(
                [next(j for j in range(10) if j not in fixed), 0.5]),
            "negative multiplier in rows": lambda nd, fixed: nd["cuts"][0].setdefault("rows", []).append(
                [nd["cuts"][0]["row"], -0.5]),
            "rows not pairs": lambda nd, fixed: nd["cuts"][0].update({"rows": [[nd["cuts"][0]["row"]]]}),
            "negative lin multiplier": lambda nd, fixed: nd["cuts"][0].update({"lin": -1.0}),
            "lin multiplier without the node's row": lambda nd, fixed: (nd.pop("lin"), nd["cuts"][0].update({"lin": 1.0})),
            "unknown P-neuron in lin": lambda nd, fixed: nd["lin"].update({"p_slope1": [10]}),
            "P-neuron listed twice": lambda nd, fixed: nd["lin"].update({"p_slope1": [0, 0]}),
            "lin without its list": lambda nd, fixed: nd.update({"lin": {}}),
        }
        for why, edit in edits.items():
            o = copy.deepcopy(obj)
            # the first node (depth-first) whose cuts use the linearized row, and its path
            tree = o["witness"]["plus"]["tree"]
            stack = [(tree, {})]
            while stack:
                nd, fixed = stack.pop()
                if nd.get("lin") and any("lin" in c for c in nd["cuts"]):
                    break
                if "split" in nd:
                    stack += [(nd["inactive"], {**fixed, nd["split"]: 0}), (nd["active"], {**fixed, nd["split"]: 1})]
            edit(nd, fixed)
            assert not self._check(cert, o, tmp_path).accepted, why

    def test_stated_bounds_proven_tight_and_tampering_rejected(self, cell_case, tmp_path):
        """Every cut states its bound `b`; the exact value of its multipliers is at most b
        (within rounding of it), and a b strengthened by 1e-9 relative is rejected."""
        net, v, cert, _ = cell_case
        obj = json.loads(cert.read_text())
        cuts = [c for nd in _all_nodes(obj["witness"]["plus"]["tree"]) for c in nd.get("cuts", [])]
        assert cuts and all("b" in c for c in cuts)
        # the exact value of every cut, as the checker derives it in the node's own state (the
        # stated bounds of earlier cuts shape later ones through the linearized row)
        from verify.check.kinds import disagreement as dk

        seen = []
        orig_cut, orig_lb = dk._Side.cut, dk._Side._lagrange_bound

        def spy_cut(self, step, fixed):
            self._spy = []
            orig_cut(self, step, fixed)
            (num, den), = self._spy
            seen.append((step["sense"], Fraction(step["b"]), Fraction(num, den)))

        def spy_lb(self, *args):
            out = orig_lb(self, *args)
            if hasattr(self, "_spy"):
                self._spy.append(out)
            return out

        dk._Side.cut, dk._Side._lagrange_bound = spy_cut, spy_lb
        try:
            self._node_bounds(net, v, "plus", obj["witness"]["plus"])
        finally:
            dk._Side.cut, dk._Side._lagrange_bound = orig_cut, orig_lb
        assert len(seen) == len(cuts)
        for sense, b, value in seen:
            # hi: ⟨m_k,x⟩ ≤ value ≤ b; lo: ⟨m_k,x⟩ ≥ −value ≥ b; and b is within rounding of it
            bound = value if sense == "hi" else -value
            assert (b >= bound) if sense == "hi" else (b <= bound)
            assert abs(b - bound) <= Fraction(1, 10**9) * (1 + abs(b))
        # strengthen one stated bound (hi and lo each): rejected
        for sense in ("hi", "lo"):
            o = copy.deepcopy(obj)
            cut = next(c for nd in _all_nodes(o["witness"]["plus"]["tree"]) for c in nd.get("cuts", []) if c["sense"] == sense)
            cut["b"] += (-1 if sense == "hi" else 1) * 1e-9 * (1 + abs(cut["b"]))
            rep = self._check(cert, o, tmp_path)
            assert not rep.accepted and "do not prove" in json.dumps(rep.to_dict()), sense

    @staticmethod
    def _node_bounds(net, v, side, wit):
        """(path, h, l) as floats for every node the checker enters, walking the tree as it does."""
        from verify.check._exact import Q, Q_vec
        from verify.check.kinds.disagreement import _box, _Side

        P, M, c = (net.W_pos, net.W_neg, v) if side == "plus" else (net.W_neg, net.W_pos, -v)
        lo, hi = _box(net.d, False)
        s = _Side([Q_vec(r) for r in P], [Q_vec(r) for r in M], Q(net.alpha), Q_vec(c), lo, hi, wit, side)
        s.bounds()
        out = []
        stack = [(wit["tree"], {}, (s.h, s.l, s.phase))]
        while stack:
            node, fixed, state = stack.pop()
            state = s.enter(node, fixed, state)
            if state is None:
                continue
            out.append((fixed, np.array([float(q) for q in state[0]]), np.array([float(q) for q in state[1]])))
            if "split" in node:
                j = node["split"]
                stack += [(node["active"], {**fixed, j: 1}, state), (node["inactive"], {**fixed, j: 0}, state)]
        return out

    def test_cut_bounds_hold_at_feasible_points(self, cell_case):
        """Every bound the checker derives in a node holds at sampled points of that node with
        ⟨c,x⟩ ≥ U and N(x) ≤ 0; so do the bounds from edited multipliers and slopes (any
        multipliers ≥ 0 and slopes in {α, 1} give valid cuts: only weaker ones, or a rejection).
        The threshold is lowered to 0 (every bound stays valid, weaker), so that H holds more
        feasible points than the maximizer alone."""
        from verify.check._exact import Reject

        net, v, cert, _ = cell_case
        wit = json.loads(cert.read_text())["witness"]
        rng = np.random.default_rng(0)
        X = rng.uniform(-1, 1, size=(400000, net.d))
        checked = 0
        for side, sgn in (("plus", 1), ("minus", -1)):
            M = net.W_neg if side == "plus" else net.W_pos
            c = sgn * v
            Z = X[(sgn * net(X) <= 0) & (X @ c >= 0)] @ M.T
            for trial in range(3):
                w = copy.deepcopy(wit[side])
                w["threshold"] = 0.0
                for nd in _all_nodes(w["tree"]):
                    for cut in nd.get("cuts", []):
                        cut.pop("b", None)  # the stated bounds assume the search's threshold
                if trial:
                    for nd in _all_nodes(w["tree"]):
                        for cut in nd.get("cuts", []):
                            cut["lam"] *= float(rng.uniform(0.5, 1.5))
                            cut["mu"] *= float(rng.uniform(0.5, 1.5))
                            for pair in cut.get("rows", []):
                                pair[1] *= float(rng.uniform(0.5, 1.5))
                            if "lin" in cut:
                                cut["lin"] *= float(rng.uniform(0.5, 1.5))
                        if "lin" in nd:
                            kp = net.k_pos if side == "plus" else net.k_neg
                            nd["lin"]["p_slope1"] = sorted(int(i) for i in rng.choice(kp, size=rng.integers(0, kp + 1), replace=False))
                try:
                    nodes = self._node_bounds(net, v, side, w)
                except Reject:
                    continue
                for fixed, h, l_ in nodes:
                    inside = np.ones(len(Z), dtype=bool)
                    for j, ph in fixed.items():
                        inside &= (Z[:, j] >= 0) if ph == 1 else (Z[:, j] <= 0)
                    if inside.any():
                        checked += 1
                        assert np.all(Z[inside] <= h + 1e-12) and np.all(Z[inside] >= l_ - 1e-12), (side, trial, fixed)
        assert checked > 20

    def test_linearized_row_holds_at_feasible_points(self):
        """The checker's row Σa_i⟨p_i,x⟩ − Σ slope⟨m_j,x⟩ − Σκ_j⟨m_j,x⟩ ≤ Σe_j, exactly, at
        sampled points of a node with N(x) ≤ 0."""
        from verify.check._exact import Q_vec
        from verify.check.kinds.disagreement import _box, _Side

        rng = np.random.default_rng(4)
        d, kP, kM = 4, 5, 6
        P, M = rng.normal(size=(kP, d)), rng.normal(size=(kM, d))
        net = Network(P, M, 0.3)
        lo, hi = _box(d, False)
        side = _Side([Q_vec(r) for r in P], [Q_vec(r) for r in M], Fraction(0.3), Q_vec(rng.normal(size=d)), lo, hi,
                     {"threshold": -10.0, "lam_hi": [0.0] * kM, "lam_lo": [0.0] * kM}, "plus")
        side.bounds()  # λ = 0: the box bounds of ⟨m_j,x⟩
        X = rng.uniform(-1, 1, size=(20000, d))
        X = X[net(X) <= 0]
        fixed = {0: 1, 3: 0}  # a path: ⟨m_0,x⟩ ≥ 0, ⟨m_3,x⟩ ≤ 0
        X = X[(X @ M[0] >= 0) & (X @ M[3] <= 0)]
        assert len(X) > 100
        for ones in ([], [0, 2, 4], list(range(kP))):
            side.linearized({"p_slope1": ones}, fixed)
            ints, den, (e_n, e_d) = side.lin
            for x in X[:200]:
                xq = [Fraction(float(t)) for t in x]
                lhs = sum((Fraction(a) * t for a, t in zip(ints, xq)), Fraction(0)) / (den * side.mat_den)
                assert lhs <= Fraction(e_n, e_d)


class TestExactArithmetic:
    """The checker's integer-arithmetic primitives against the plain rational formulas."""

    @pytest.mark.parametrize("bias", [False, True])
    def test_lagrange_max_matches_fractions(self, bias):
        from verify.check.kinds.disagreement import _box, _Side

        rng = np.random.default_rng(3)
        d, kP, kM = 5, 3, 4
        P, M, c = rng.normal(size=(kP, d)), rng.normal(size=(kM, d)), rng.normal(size=d)
        Pq = [[Fraction(float(t)) for t in r] for r in P]
        Mq = [[Fraction(float(t)) for t in r] for r in M]
        cq = [Fraction(float(t)) for t in c]
        lo, hi = _box(d, bias)
        U = Fraction(float(rng.normal()))
        side = _Side(Pq, Mq, Fraction(1, 2), cq, lo, hi,
                     {"threshold": float(U), "lam_hi": [0.0] * kM, "lam_lo": [0.0] * kM}, "plus")
        side.bounds()
        for _ in range(20):
            terms = [(int(j), Fraction(float(q))) for j, q in zip(rng.integers(0, kM, 2), rng.normal(size=2))]
            lam = Fraction(float(abs(rng.normal())))
            vec = [sum((q * Mq[j][i] for j, q in terms), Fraction(0)) + lam * cq[i] for i in range(d)]
            want = sum((max(g * a, g * b) for g, a, b in zip(vec, lo, hi)), Fraction(0)) - lam * U
            assert side._lagrange_max(terms, lam) == want


class TestBudget:
    def test_budget_exhausted_gives_a_proven_interval(self, tmp_path):
        rng = np.random.default_rng(0)
        net = Network(rng.normal(size=(8, 2)), rng.normal(size=(8, 2)), 0.3)
        v = default_direction(net)
        r = exact_disagreement(net, v, max_nodes=12, obbt_rounds=0)
        bp, bm = brute_force(net, v)
        assert not (r.plus.complete or r.minus.complete)
        d = r.to_dict()
        for side, bf in (("plus", bp), ("minus", bm)):
            s = getattr(r, side)
            assert s.upper - s.lower > 1e-3  # a real interval: the budget was too small
            assert s.lower - TOL <= bf <= s.upper + TOL
            assert d[f"beta_{side}"] is None  # never an unproven point value
        # with the full budget the interval closes on the brute-force value
        full = exact_disagreement(net, v)
        assert full.plus.upper - full.plus.lower <= 1e-6 and abs(full.plus.lower - bp) <= TOL
        save_network(tmp_path / "n.npz", net)
        np.save(tmp_path / "v.npy", v)
        cert = certify_disagreement(tmp_path / "n.npz", tmp_path, v=tmp_path / "v.npy", max_nodes=12, obbt_rounds=0)
        assert check_certificate(cert).accepted


class TestWorkers:
    def test_two_processes_same_answer_as_one(self, tmp_path):
        """β⁻ in a forked process: the same proven values, trees and node counts as one after
        the other (a closing search is deterministic), and the certificate is accepted."""
        rng = np.random.default_rng(7)
        net, _ = clustered(rng, 6, 4, noise=0.4)
        v = default_direction(net)
        one = exact_disagreement(net, v, workers=1)
        two = exact_disagreement(net, v, workers=2)
        assert one.plus.complete and one.minus.complete and two.plus.complete and two.minus.complete
        for side in ("plus", "minus"):
            a, b = getattr(one, side), getattr(two, side)
            assert (a.lower, a.upper, a.nodes) == (b.lower, b.upper, b.nodes)
            assert a.tree == b.tree
        save_network(tmp_path / "n.npz", net)
        np.save(tmp_path / "v.npy", v)
        cert = certify_disagreement(tmp_path / "n.npz", tmp_path, v=tmp_path / "v.npy", workers=2)
        assert check_certificate(cert).accepted

    def test_bad_worker_count(self):
        rng = np.random.default_rng(0)
        net = Network(rng.normal(size=(2, 3)), rng.normal(size=(2, 3)), 0.5)
        with pytest.raises(InputError, match="workers"):
            exact_disagreement(net, workers=3)


class TestCLI:
    def test_exact_command_and_check(self, tmp_path, capsys):
        net, v = clustered(np.random.default_rng(3), 4, 3)
        save_network(tmp_path / "n.npz", net)
        assert main(["exact", str(tmp_path / "n.npz"), "--out", str(tmp_path / "c.json"), "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert set(out["certified_interval"]) == {"plus", "minus"}
        assert main(["check", str(tmp_path / "c.json")]) == 0

    def test_bad_input_exit_2_writes_nothing(self, tmp_path, capsys):
        net, v = clustered(np.random.default_rng(3), 3, 3)
        save_network(tmp_path / "n.npz", net)
        np.save(tmp_path / "v.npy", np.zeros(5))
        assert main(["exact", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "c.json")]) == 2
        assert main(["exact", str(tmp_path / "n.npz"), "--direction", str(tmp_path / "v.npy"),
                     "--out", str(tmp_path / "c.json")]) == 2
        assert main(["exact", str(tmp_path / "n.npz"), "--out", str(tmp_path / "c.txt")]) == 2
        assert not (tmp_path / "c.json").exists()

    def test_direction_errors(self):
        net = Network(np.ones((2, 3)), np.ones((2, 3)), 0.5)
        with pytest.raises(InputError):
            default_direction(net)
        with pytest.raises(InputError):
            exact_disagreement(net, np.zeros(3))
        with pytest.raises(InputError):
            exact_disagreement(net, np.array([np.nan, 1, 1]))
