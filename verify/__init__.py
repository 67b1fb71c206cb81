"""verify: certificates for two-layer Leaky-ReLU networks trained on linearly separable data.

The public API is re-exported here lazily (PEP 562), so that importing one part — the
independent checker `verify.check` above all — does not import the others (the trainer,
the solvers, the sympy derivations). Implementation modules are private (`verify._x`).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> private module that defines it
_EXPORTS = {
    "InputError": "_errors", "ClaimFalse": "_errors",
    "Dataset": "_data", "load_dataset": "_data", "save_dataset": "_data", "teacher_dataset": "_data",
    "Network": "_network", "load_network": "_network", "save_network": "_network",
    "from_two_layer": "_network", "leaky_relu": "_network", "leaky_relu_slope": "_network",
    "Run": "_train", "TrainConfig": "_train", "Trajectory": "_train", "IndexStream": "_train",
    "init_weights": "_train", "load_run": "_train", "save_run": "_train", "train": "_train",
    "max_margin": "_margin", "certify_separability": "_margin", "MarginResult": "_margin", "MarginUndecided": "_margin",
    "train_ensemble": "_ensemble", "save_ensemble": "_ensemble", "load_ensemble": "_ensemble",
    "ensemble_summary": "_ensemble",
    "neuron_clusters": "_clusters", "cluster_counts": "_clusters", "cosine_matrix": "_clusters",
    "similarity_graph": "_clusters",
    "predicted_limit": "_limit", "limit_angles": "_limit", "network_direction": "_network",
    "clustering_monitor": "_clustering", "certify_clustering": "_clustering",
    "linearity_report": "_linearity", "certify_linearity": "_linearity", "band_probability": "_linearity",
    "audit": "_audit",
    "convergence_bound": "_bounds", "certify_convergence": "_convergence", "run_parameters": "_convergence",
    "run_sweep": "_sweep", "load_sweep": "_sweep", "estimate_wall": "_sweep", "sweep_report": "_sweep_report",
    "exact_disagreement": "_disagreement", "certify_disagreement": "_disagreement",
    "DisagreementResult": "_disagreement", "default_direction": "_disagreement",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'verify' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"verify.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
