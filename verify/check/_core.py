"""The independent checker: read a certificate, verify its inputs, re-derive each claim.

Flow: parse JSON → check the schema (`verify.certificate/1`, required fields, known kind
and relations) → resolve every input relative to the certificate's folder and compare
its sha256 → hand the certificate to the kind's module `verify.check.kinds.<kind>`
(`-` becomes `_`), whose `derive(cert, ctx)` returns, for each claim name, either an
`Enclosure(lo, hi)` — exact rationals known to bracket the true quantity — or a
`Verdict(ok, reason)`. The comparison with the claimed value is made here, in exact
rationals:

    `<=`: accepted iff hi ≤ value     `>=`: accepted iff lo ≥ value
    `==`: accepted iff lo = hi = value

A `Verdict` is a derived fact (a bound holds, a tree covers the space); it is claimed as
`== 1` and accepted iff the fact holds. A claim the kind module does not derive is rejected. Nothing here imports the trainer,
the solvers or the sympy derivations: a bug there cannot make a false claim pass.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ._exact import Q, Reject

SCHEMA = "verify.certificate/1"
REQUIRED = ("schema", "kind", "created", "tool_version", "inputs", "parameters", "claims", "witness")
RELATIONS = (">=", "<=", "==")


class Unreadable(Exception):
    """The certificate or an input cannot be read, or the schema is unknown (exit 2)."""


@dataclass(frozen=True)
class Enclosure:
    """The true value of a claimed quantity lies in [lo, hi] (exact rationals)."""

    lo: Fraction
    hi: Fraction

    @staticmethod
    def exact(q) -> "Enclosure":
        q = Q(q)
        return Enclosure(q, q)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str


@dataclass
class ClaimResult:
    name: str
    relation: str
    value: Any
    accepted: bool
    reason: str


@dataclass
class Report:
    path: str
    kind: str
    results: list[ClaimResult] = field(default_factory=list)
    error: str | None = None

    @property
    def accepted(self) -> bool:
        return self.error is None and bool(self.results) and all(r.accepted for r in self.results)

    def to_dict(self) -> dict:
        return {
            "certificate": self.path,
            "kind": self.kind,
            "accepted": self.accepted,
            "error": self.error,
            "claims": [r.__dict__ for r in self.results],
        }


class Context:
    """The certificate's inputs, read on demand after their hashes were verified."""

    def __init__(self, folder: Path, inputs: list[dict]):
        self.folder = folder
        self._files: dict[str, Path] = {}
        for entry in inputs:
            if not isinstance(entry, dict) or not {"name", "path", "sha256"} <= set(entry):
                raise Unreadable("each input needs name, path and sha256")
            path = (folder / entry["path"]).resolve()
            if not path.is_file():
                raise Unreadable(f"input {entry['name']!r}: {path} not found")
            h = hashlib.sha256()
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            if h.hexdigest() != entry["sha256"]:
                raise Reject(f"input {entry['name']!r} ({entry['path']}) does not match its sha256")
            self._files[entry["name"]] = path
        self._cache: dict[str, Any] = {}

    def path(self, name: str) -> Path:
        if name not in self._files:
            raise Reject(f"certificate names no input {name!r}")
        return self._files[name]

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        """All arrays of an `.npz` input, read without unpickling."""
        if name not in self._cache:
            try:
                with np.load(self.path(name), allow_pickle=False) as z:
                    self._cache[name] = {k: z[k] for k in z.files}
            except Reject:
                raise
            except Exception as exc:
                raise Reject(f"input {name!r} is not a readable pickle-free .npz ({exc})") from None
        return self._cache[name]

    def array(self, name: str, key: str, dtype=np.float64) -> np.ndarray:
        z = self.arrays(name)
        if key not in z:
            raise Reject(f"input {name!r} has no array {key!r}")
        a = z[key]
        if dtype is not None:
            if a.dtype.kind not in "fiub":
                raise Reject(f"array {key!r} of {name!r} is not numeric")
            a = a.astype(dtype)
            if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                raise Reject(f"array {key!r} of {name!r} contains NaN or inf")
        return a


    def network(self, name: str = "network") -> tuple[np.ndarray, np.ndarray, Fraction, bool]:
        """`(W_pos, W_neg, α, input_bias)` of a paper-form network input, α exact and in (0,1)."""
        W_pos, W_neg = self.array(name, "W_pos"), self.array(name, "W_neg")
        z = self.arrays(name)
        if "alpha" not in z:
            raise Reject(f"input {name!r} records no alpha")
        alpha = Q(float(self.array(name, "alpha").reshape(-1)[0]))
        if not (0 < alpha < 1):
            raise Reject(f"alpha {float(alpha)} is not in (0,1)")
        bias = bool(np.asarray(z["input_bias"]).reshape(-1)[0]) if "input_bias" in z else False
        if W_pos.ndim != 2 or W_neg.ndim != 2 or W_pos.shape[1] != W_neg.shape[1]:
            raise Reject(f"weight shapes {W_pos.shape} and {W_neg.shape} do not form a network")
        return W_pos, W_neg, alpha, bias


def _compare(relation: str, value: Fraction, enc: Enclosure) -> tuple[bool, str]:
    if relation == "<=":
        ok = enc.hi <= value
        return ok, f"derived ≤ {float(enc.hi):.17g} {'≤' if ok else '>'} claimed {float(value):.17g}"
    if relation == ">=":
        ok = enc.lo >= value
        return ok, f"derived ≥ {float(enc.lo):.17g} {'≥' if ok else '<'} claimed {float(value):.17g}"
    ok = enc.lo == enc.hi == value
    return ok, "derived value equals the claim" if ok else f"derived [{float(enc.lo):.17g}, {float(enc.hi):.17g}] ≠ claimed {float(value):.17g}"


def load_certificate(path: str | Path) -> dict:
    path = Path(path)
    try:
        cert = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constants)
    except FileNotFoundError:
        raise Unreadable(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Unreadable(f"{path}: not a readable JSON certificate ({exc})") from None
    if not isinstance(cert, dict):
        raise Unreadable(f"{path}: a certificate is a JSON object")
    if cert.get("schema") != SCHEMA:
        raise Unreadable(f"{path}: unknown schema {cert.get('schema')!r} (this checker reads {SCHEMA})")
    missing = [k for k in REQUIRED if k not in cert]
    if missing:
        raise Unreadable(f"{path}: missing field(s) {missing}")
    if not isinstance(cert["claims"], list) or not cert["claims"]:
        raise Unreadable(f"{path}: claims must be a non-empty list")
    for c in cert["claims"]:
        if not isinstance(c, dict) or not {"name", "relation", "value"} <= set(c) or c["relation"] not in RELATIONS:
            raise Unreadable(f"{path}: each claim needs name, relation in {RELATIONS}, value")
    names = [c["name"] for c in cert["claims"]]
    if len(set(names)) != len(names):
        raise Unreadable(f"{path}: claim names must be unique")
    return cert


def _no_constants(name):
    # JSON's NaN / Infinity extensions are never numbers a claim may rest on
    raise Unreadable(f"certificate contains {name}")


def _kind_module(kind: str):
    if not isinstance(kind, str) or not kind.replace("-", "").isalpha():
        raise Unreadable(f"unknown certificate kind {kind!r}")
    try:
        return importlib.import_module(f"verify.check.kinds.{kind.replace('-', '_')}")
    except ModuleNotFoundError:
        raise Unreadable(f"unknown certificate kind {kind!r}") from None


def check_certificate(path: str | Path) -> Report:
    """Check one certificate file. `Unreadable` propagates (exit 2); a rejected claim
    or a failed input hash yields a report that is not accepted (exit 1)."""
    path = Path(path)
    cert = load_certificate(path)
    kind = cert["kind"]
    module = _kind_module(kind)
    report = Report(path=str(path), kind=kind)
    try:
        ctx = Context(path.parent, cert["inputs"])
        derived = module.derive(cert, ctx)
    except Reject as exc:
        report.error = str(exc)
        for c in cert["claims"]:
            report.results.append(ClaimResult(c["name"], c["relation"], c["value"], False, f"rejected: {exc}"))
        return report
    for c in cert["claims"]:
        name, rel, value = c["name"], c["relation"], c["value"]
        got = derived.get(name)
        try:
            if got is None:
                ok, why = False, "no rule re-derives this claim for this kind"
            elif isinstance(got, Verdict):
                # a derived fact is claimed as `== 1`; any other relation or value is refused
                if rel != "==" or Q(value) != 1:
                    ok, why = False, f"a derived fact is claimed as '== 1', not '{rel} {value}' ({got.reason})"
                else:
                    ok, why = got.ok, got.reason
            elif isinstance(got, Enclosure):
                ok, why = _compare(rel, Q(value), got)
            else:
                ok, why = False, f"internal: unexpected derivation {type(got).__name__}"
        except Reject as exc:
            ok, why = False, f"rejected: {exc}"
        report.results.append(ClaimResult(name, rel, value, bool(ok), why))
    return report
