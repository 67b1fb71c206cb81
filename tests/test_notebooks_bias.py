"""Notebook 02 (inductive bias) runs end to end; its own cells assert what it shows."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02_inductive_bias.ipynb"


def _text(nb) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                out.append(o.get("text", ""))
    return "".join(out)


def test_inductive_bias_notebook_executes():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    text = _text(nb)
    # the story's key numbers, as printed by the notebook itself
    assert "two-cluster verdict: True" in text
    assert "frozen: True" in text and "beta under the bound at every snapshot: True" in text
    assert "angle(P*, w_svm) = 17.12°" in text
    assert "BAD " not in text
    figures = sum(1 for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
    assert figures >= 3
