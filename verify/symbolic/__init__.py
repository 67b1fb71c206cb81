"""Symbolic derivations (sympy) of THEORY.md §1–2: the dynamics, the lemmas, the bounds.

* `verify.symbolic._expressions` — the network's activation and loss, `F`, the closed
  forms, the Lambert-W form, Corollaries 1 and 2 as sympy expressions (one home each).
* `verify.symbolic._lemmas` — one `Lemma` object per step of the derivation: hypotheses,
  statement, proof obligation, discharge (route "proved (sympy)" or "proved (interval
  cover)") and a seeded falsifier.
* `verify.symbolic._dynamics` — the gradient and the SGD step derived by sympy and
  checked against the numeric trainer.
* `verify.symbolic._numeric` — the expressions lambdified onto python-flint arb balls.

`derivation()` runs every proof and returns the chain that `verify derive` prints.
"""

from __future__ import annotations

import importlib

__all__ = ["Lemma", "ProofResult", "LEMMAS", "lemma", "false_variants", "derivation"]

# lazy (PEP 562): the numeric bounds import `_numeric` without building every lemma
_LAZY = {"Lemma": "_lemma", "ProofResult": "_lemma", "LEMMAS": "_lemmas", "lemma": "_lemmas",
         "false_variants": "_lemmas"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'verify.symbolic' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"verify.symbolic.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def derivation(latex: bool = False, falsify_trials: int = 0, seed: int = 0) -> list[dict]:
    """Prove every lemma in order; one dict per lemma with its route and proof steps.

    Args:
        latex: include each statement in LaTeX.
        falsify_trials: also run each falsifier with this many seeded samples (0: skip).
        seed: seed of the falsifiers.
    """
    from ._lemmas import LEMMAS

    out = []
    for lem in LEMMAS:
        res = lem.prove()
        row = lem.describe() | res.to_dict()
        if latex:
            row["latex"] = lem.latex()
        if falsify_trials:
            row["counterexample"] = lem.falsify(seed=seed, trials=falsify_trials)
        out.append(row)
    return out
