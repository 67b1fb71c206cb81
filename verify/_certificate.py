"""Certificates: the producer side of the format `verify.certificate/1` (see
`certificates/schema.json`).

A certificate states *claims* — `{"name", "relation", "value"}` with relation `>=`, `<=`
or `==` — about *inputs* (files named by a path relative to the certificate's folder and
their sha256), under *parameters*, with a *witness* from which the independent checker
(`verify.check`) re-derives every claim in exact or interval arithmetic.

Values are the certified bound itself, rounded in the safe direction: a `<=` value is
rounded up, a `>=` value down, never loosened further, so strengthening a claim by a
relative 1e-6 makes it false. Exact rationals travel as `"p/q"` strings; a float in JSON
stands for its exact binary value.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from . import __version__
from ._io import atomic_write_json, jsonable as to_jsonable, sha256_file  # noqa: F401  (re-export)

SCHEMA = "verify.certificate/1"
KINDS = ("separability", "non-separability", "convergence", "linearity", "clustering", "disagreement")
RELATIONS = (">=", "<=", "==")


def rational(x) -> str:
    """Exact `"p/q"` string of a float, int or Fraction (floats are exact rationals)."""
    if isinstance(x, (float, np.floating)):
        if not math.isfinite(float(x)):
            raise ValueError(f"not a finite number: {x}")
        q = Fraction(float(x))
    else:
        q = Fraction(x)
    return f"{q.numerator}/{q.denominator}"


def rational_list(a) -> list[str]:
    return [rational(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def round_up(q: Fraction) -> float:
    """Smallest float ≥ q (for `<=` claims)."""
    f = float(q)
    return f if Fraction(f) >= q else math.nextafter(f, math.inf)


def round_down(q: Fraction) -> float:
    """Largest float ≤ q (for `>=` claims)."""
    f = float(q)
    return f if Fraction(f) <= q else math.nextafter(f, -math.inf)


def claim(name: str, relation: str, value, note: str | None = None) -> dict:
    """One claim; `value` is a float (its exact value counts) or an exact `"p/q"`."""
    if relation not in RELATIONS:
        raise ValueError(f"relation must be one of {RELATIONS}")
    if isinstance(value, Fraction):
        value = rational(value)
    elif isinstance(value, (float, np.floating, int, np.integer)):
        value = float(value) if isinstance(value, (float, np.floating)) else int(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"claim {name}: value must be finite")
    out = {"name": name, "relation": relation, "value": value}
    if note:
        out["note"] = note
    return out


def input_entry(name: str, file: str | os.PathLike, cert_dir: str | os.PathLike) -> dict:
    """Reference to an input file, relative to the certificate's folder, with its sha256."""
    rel = os.path.relpath(Path(file).resolve(), Path(cert_dir).resolve())
    return {"name": name, "path": Path(rel).as_posix(), "sha256": sha256_file(file)}


def make_certificate(kind: str, inputs: list[dict], parameters: dict, claims: list[dict],
                     witness: dict, info: dict | None = None) -> dict:
    """Assemble a certificate dict (not yet written)."""
    if kind not in KINDS:
        raise ValueError(f"unknown certificate kind {kind!r}")
    return {
        "schema": SCHEMA,
        "kind": kind,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "tool_version": __version__,
        "inputs": inputs,
        "parameters": parameters,
        "claims": claims,
        "witness": witness,
        "info": info or {},
    }


def write_certificate(path: str | os.PathLike, cert: dict) -> Path:
    """Write atomically as indented JSON."""
    return atomic_write_json(path, cert)
