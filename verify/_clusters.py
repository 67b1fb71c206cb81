"""Neuron clusters: the hypothesis of Theorem 2 and the outcome of Theorem 3 (THEORY.md §3, §4).

Theorem 2 needs the hidden weights to form two tight clusters, one per output sign;
Theorem 3 says that once a sign shares its activation pattern the neurons' differences
freeze while their norms grow, so their directions merge. This module makes "cluster"
concrete: a graph on the neurons of one sign with an edge when the cosine similarity of
two weight vectors is at least τ (τ is reported with every answer), its connected
components are the clusters, and the network is *two-clustered* when each sign forms
exactly one component.

A neuron whose weight vector is exactly zero has no direction (cosine undefined) and
computes σ(0) = 0 on every input; it is listed under `zero` and left out of the graph.
Everything here is descriptive floating point: no certificate rests on it (the band of
Theorem 2 and the clustering certificate do the certifying).
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from ._errors import InputError
from ._network import Network

__all__ = ["cosine_matrix", "similarity_graph", "neuron_clusters", "cluster_counts"]


def _check_tau(tau) -> float:
    try:
        t = float(tau)
    except (TypeError, ValueError):
        raise InputError(f"tau must be a number in [-1, 1], got {tau!r}") from None
    if not (-1.0 <= t <= 1.0):  # NaN fails too
        raise InputError(f"tau must lie in [-1, 1], got {tau!r}")
    return t


def cosine_matrix(W: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarities of the rows of `W`; rows that are zero get NaN.

    Args:
        W: weight vectors, shape (k, d).

    Returns:
        (k, k) float64 array, clipped to [−1, 1]; NaN in every entry of a zero row.
    """
    W = np.asarray(W, dtype=np.float64)
    norms = np.linalg.norm(W, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        U = W / norms[:, None]
    C = np.clip(U @ U.T, -1.0, 1.0)
    zero = norms == 0
    C[zero, :] = np.nan
    C[:, zero] = np.nan
    return C


def similarity_graph(W: np.ndarray, tau: float = 0.99) -> nx.Graph:
    """The graph on the nonzero rows of `W` with an edge when their cosine is ≥ τ.

    Args:
        W: weight vectors of one output sign, shape (k, d).
        tau: similarity threshold in [−1, 1].

    Returns:
        A networkx graph whose nodes are row indices and whose edges carry `cosine`.
    """
    t = _check_tau(tau)
    W = np.asarray(W, dtype=np.float64)
    C = cosine_matrix(W)
    norms = np.linalg.norm(W, axis=1)
    alive = [j for j in range(W.shape[0]) if norms[j] > 0]
    G = nx.Graph()
    G.add_nodes_from(alive)
    for a_i, a in enumerate(alive):
        for b in alive[a_i + 1:]:
            if C[a, b] >= t:
                G.add_edge(a, b, cosine=float(C[a, b]))
    return G


def _sign_clusters(W: np.ndarray, tau: float) -> dict:
    k = W.shape[0]
    C = cosine_matrix(W)
    norms = np.linalg.norm(W, axis=1)
    alive = [j for j in range(k) if norms[j] > 0]
    G = similarity_graph(W, tau)
    comps = sorted((sorted(c) for c in nx.connected_components(G)), key=lambda c: (-len(c), c[0]))
    sims = C[np.ix_(alive, alive)] if alive else np.empty((0, 0))
    off = sims[~np.eye(len(alive), dtype=bool)] if len(alive) > 1 else np.empty(0)
    return {
        "k": k,
        "components": comps,
        "count": len(comps),
        "sizes": [len(c) for c in comps],
        "zero": [j for j in range(k) if norms[j] == 0],
        "min_cosine": float(off.min()) if off.size else 1.0,
    }


def neuron_clusters(net: Network, tau: float = 0.99) -> dict:
    """Clusters of the neurons of each output sign under cosine similarity ≥ τ.

    Args:
        net: the network (paper form).
        tau: similarity threshold in [−1, 1].

    Returns:
        `{"tau", "pos", "neg", "count", "two_clusters"}` where `pos`/`neg` hold
        `components` (lists of neuron indices, largest first), `count`, `sizes`, `zero`
        (indices of all-zero neurons) and `min_cosine` (smallest pairwise cosine among the
        nonzero neurons of that sign; see `similarity_graph` for the graph); `count` is the
        total number of components and `two_clusters` is True when each sign has exactly
        one component.
    """
    t = _check_tau(tau)
    pos = _sign_clusters(net.W_pos, t)
    neg = _sign_clusters(net.W_neg, t)
    return {
        "tau": t,
        "pos": pos,
        "neg": neg,
        "count": pos["count"] + neg["count"],
        "two_clusters": pos["count"] == 1 and neg["count"] == 1,
    }


def cluster_counts(run, tau: float = 0.99) -> list[dict]:
    """Cluster counts at every weight snapshot of a training run.

    Args:
        run: a `verify.Run` (its trajectory's snapshots are used).
        tau: similarity threshold in [−1, 1].

    Returns:
        One dict per snapshot: `step`, `pos`, `neg` (component counts), `count`,
        `two_clusters`, `min_cosine_pos`, `min_cosine_neg`.
    """
    t = _check_tau(tau)
    traj = run.trajectory
    out = []
    for s, Wp, Wn in zip(traj.snap_steps, traj.snap_W_pos, traj.snap_W_neg):
        pos = _sign_clusters(Wp, t)
        neg = _sign_clusters(Wn, t)
        out.append({
            "step": int(s),
            "pos": pos["count"],
            "neg": neg["count"],
            "count": pos["count"] + neg["count"],
            "two_clusters": pos["count"] == 1 and neg["count"] == 1,
            "min_cosine_pos": pos["min_cosine"],
            "min_cosine_neg": neg["min_cosine"],
        })
    return out
