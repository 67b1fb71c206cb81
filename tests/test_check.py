"""Generic tests of the independent checker (`verify check`, `verify.check`).

Exit codes: 0 every claim accepted, 1 any claim rejected (a failed hash or NaN included),
2 unreadable certificate or unknown schema/kind. The checker must work with the trainer,
the solvers and the symbolic code unimportable; the subprocess test below blocks them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import verify
from verify._io import sha256_file
from verify._margin import certify_separability
from verify.check import Unreadable, check_certificate, load_certificate
from verify.check._exact import Q, Reject
from verify.check.kinds.separability import min_signed_dot
from verify.cli import main

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "certificates" / "schema.json").read_text())


def validate_schema(cert: dict) -> None:
    import jsonschema

    jsonschema.validate(cert, SCHEMA, cls=jsonschema.Draft202012Validator)


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory):
    """A separability and a non-separability certificate with their data."""
    folder = tmp_path_factory.mktemp("certs")
    sep = certify_separability(verify.teacher_dataset(n=300, d=6, seed=7, margin=0.05), folder / "sep.json")
    non = certify_separability(verify.load_dataset("sklearn:iris:1,2"), folder / "non.json", bias=True)
    return folder, sep, non


def _copy(cert_dir, tmp_path, name: str) -> tuple[Path, dict]:
    folder = cert_dir[0]
    for f in folder.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    path = tmp_path / name
    return path, json.loads(path.read_text())


def test_certificates_validate_against_schema(cert_dir):
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    for path in cert_dir[1:]:
        validate_schema(json.loads(path.read_text()))


def test_schema_rejects_malformed_certificates(cert_dir):
    import jsonschema

    cert = json.loads(cert_dir[1].read_text())
    for mutate in (lambda c: c.pop("witness"), lambda c: c.update(kind="margin"),
                   lambda c: c["claims"][0].update(relation="<"), lambda c: c["claims"][0].update(value="nan"),
                   lambda c: c["inputs"][0].update(sha256="xyz"), lambda c: c["witness"].pop("lambda"),
                   lambda c: c.update(claims=[])):
        bad = json.loads(json.dumps(cert))
        mutate(bad)
        with pytest.raises(jsonschema.ValidationError):
            validate_schema(bad)


@pytest.mark.parametrize("name", ["sep.json", "non.json"])
def test_cli_accepts_untouched(cert_dir, name, capsys):
    assert main(["check", str(cert_dir[0] / name), "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["accepted"] and all(c["accepted"] for c in obj["certificates"][0]["claims"])


@pytest.mark.parametrize("mutate,needle", [
    (lambda c: c.update(schema="verify.certificate/2"), "unknown schema"),
    (lambda c: c.pop("inputs"), "missing field"),
    (lambda c: c.update(kind="no-such-kind"), "unknown certificate kind"),
    (lambda c: c.update(kind="../_core"), "unknown certificate kind"),
    (lambda c: c.update(claims=[]), "non-empty"),
    (lambda c: c["claims"].append(dict(c["claims"][0])), "unique"),
    (lambda c: c["claims"][0].update(relation="<"), "relation"),
])
def test_schema_errors_exit_2(cert_dir, tmp_path, mutate, needle, capsys):
    path, cert = _copy(cert_dir, tmp_path, "sep.json")
    mutate(cert)
    path.write_text(json.dumps(cert))
    assert main(["check", str(path)]) == 2
    assert needle in capsys.readouterr().err


def test_unreadable_files_exit_2(tmp_path, cert_dir, capsys):
    (tmp_path / "junk.json").write_text("{not json")
    assert main(["check", str(tmp_path / "junk.json")]) == 2
    assert main(["check", str(tmp_path / "absent.json")]) == 2
    path, cert = _copy(cert_dir, tmp_path, "sep.json")
    (tmp_path / cert["inputs"][0]["path"]).unlink()
    assert main(["check", str(path)]) == 2
    assert "not found" in capsys.readouterr().err


def test_nan_token_is_never_accepted(cert_dir, tmp_path):
    path, cert = _copy(cert_dir, tmp_path, "sep.json")
    text = path.read_text()
    value = cert["claims"][0]["value"]
    path.write_text(text.replace(f'"value": {json.dumps(value)}', '"value": NaN', 1))
    with pytest.raises(Unreadable):
        load_certificate(path)
    assert main(["check", str(path)]) == 2


@pytest.mark.parametrize("where", ["claim", "w", "lambda", "data"])
def test_nan_anywhere_is_rejected(cert_dir, tmp_path, where):
    path, cert = _copy(cert_dir, tmp_path, "sep.json")
    if where == "claim":
        cert["claims"][0]["value"] = "nan"
    elif where == "w":
        cert["witness"]["w"][0] = "nan"
    elif where == "lambda":
        cert["witness"]["lambda"]["value"][0] = "NaN"
    else:
        data_file = tmp_path / cert["inputs"][0]["path"]
        with np.load(data_file) as z:
            X, y = z["X"].copy(), z["y"].copy()
        X[0, 0] = np.nan
        np.savez(data_file, X=X, y=y)
        cert["inputs"][0]["sha256"] = sha256_file(data_file)
    path.write_text(json.dumps(cert))
    rep = check_certificate(path)
    assert not rep.accepted
    assert main(["check", str(path)]) == 1


def test_hash_mismatch_rejected(cert_dir, tmp_path):
    path, cert = _copy(cert_dir, tmp_path, "non.json")
    cert["inputs"][0]["sha256"] = "0" * 64
    path.write_text(json.dumps(cert))
    rep = check_certificate(path)
    assert not rep.accepted and "sha256" in rep.error
    assert main(["check", str(path)]) == 1


def test_claim_without_a_rule_is_rejected(cert_dir, tmp_path):
    path, cert = _copy(cert_dir, tmp_path, "sep.json")
    cert["claims"].append({"name": "teacher_angle", "relation": "<=", "value": 1})
    path.write_text(json.dumps(cert))
    rep = check_certificate(path)
    assert not rep.accepted and [r.accepted for r in rep.results] == [True, True, False]


def test_labels_and_bias_are_checked(cert_dir, tmp_path):
    path, cert = _copy(cert_dir, tmp_path, "sep.json")
    cert["parameters"]["bias"] = True  # the witness has d entries, the biased data d+1
    path.write_text(json.dumps(cert))
    assert not check_certificate(path).accepted
    cert["parameters"]["bias"] = "no"
    path.write_text(json.dumps(cert))
    assert not check_certificate(path).accepted


def test_integer_data_checked_exactly_or_refused(tmp_path):
    # digits are small integers: stored as int64 they are the same numbers, so accepted;
    # an int64 that float64 would round is refused rather than checked approximately
    data = verify.load_dataset("sklearn:digits:0,1")
    path = certify_separability(data, tmp_path / "dig.json")
    cert = json.loads(path.read_text())
    data_file = tmp_path / cert["inputs"][0]["path"]
    for big, accepted in ((False, True), (True, False)):
        X = data.X.astype(np.int64)
        if big:
            X[0, 0] = 2**60 + 1
        np.savez(data_file, X=X, y=data.y.astype(np.int64))
        cert["inputs"][0]["sha256"] = sha256_file(data_file)
        path.write_text(json.dumps(cert))
        assert check_certificate(path).accepted is accepted


def test_several_certificates_one_rejected_exit_1(cert_dir, tmp_path):
    path, cert = _copy(cert_dir, tmp_path, "sep.json")
    cert["claims"][0]["value"] = cert["claims"][1]["value"]  # lower raised to the upper bound
    path.write_text(json.dumps(cert))
    assert main(["check", str(cert_dir[2]), str(path)]) == 1


class TestExactMinimum:
    """The integer screen in the separability checker against plain Fraction arithmetic."""

    @pytest.mark.parametrize("seed", range(4))
    def test_matches_fractions(self, seed):
        rng = np.random.default_rng(seed)
        n, d = 400, 7
        X = rng.standard_normal((n, d)) * np.exp(rng.uniform(-30, 30, size=(n, d)))
        X[rng.random((n, d)) < 0.1] = 0.0
        y = np.where(rng.random(n) < 0.5, 1.0, -1.0)
        w = [Q(float(v)) for v in rng.standard_normal(d) * np.exp(rng.uniform(-5, 5, d))]
        if seed == 3:  # rationals that are not dyadic
            w = [v / 3 for v in w]
        got, arg = min_signed_dot(X, y, w)
        vals = [sum((Q(float(X[i, j])) * w[j] for j in range(d)), Q(0)) * int(y[i]) for i in range(n)]
        assert got == min(vals) and vals[arg] == got

    def test_ties_and_tiny_differences(self):
        # rows that differ by one ulp: the screen cannot tell them apart, the exact step must
        X = np.array([[1.0, 1.0], [1.0, np.nextafter(1.0, 2.0)], [1.0, np.nextafter(1.0, 0.0)], [5.0, 5.0]])
        y = np.ones(4)
        got, arg = min_signed_dot(X, y, [Q(1), Q(1)])
        assert arg == 2 and got == 1 + Q(float(np.nextafter(1.0, 0.0)))

    def test_q_rejects_non_finite(self):
        for bad in ("nan", "inf", float("nan"), "1/0", True):
            with pytest.raises(Reject):
                Q(bad)


BLOCKER = textwrap.dedent("""
    import sys
    BLOCKED = ("verify._train", "verify._kernels", "verify._margin", "verify.symbolic",
               "numba", "cvxpy", "sympy", "highspy")

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                raise ImportError(f"blocked import of {name}")
            return None

    sys.meta_path.insert(0, Blocker())
    import runpy
    sys.argv = ["verify"] + sys.argv[1:]
    runpy.run_module("verify", run_name="__main__")
""")


def test_checker_runs_with_solvers_and_trainer_unimportable(cert_dir, tmp_path):
    script = tmp_path / "blocked.py"
    script.write_text(BLOCKER)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, str(script), "check", str(cert_dir[1]), str(cert_dir[2])],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("ACCEPTED") == 2
    # the blocker really blocks: the same interpreter cannot run the producer
    proc = subprocess.run([sys.executable, str(script), "margin", "teacher:n=20,d=2"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode != 0 and "blocked import" in proc.stderr
