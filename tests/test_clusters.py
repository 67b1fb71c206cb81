"""Neuron clusters (networkx): cosine graph, components per sign, counts over a run."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components

import verify
from verify import InputError, Network, TrainConfig
from verify._clusters import cluster_counts, cosine_matrix, neuron_clusters, similarity_graph


def _components_scipy(W, tau):
    """Independent count: scipy's connected components of the thresholded cosine matrix."""
    norms = np.linalg.norm(W, axis=1)
    alive = norms > 0
    U = W[alive] / norms[alive, None]
    A = (U @ U.T) >= tau
    return connected_components(A, directed=False)[0]


class TestNeuronClusters:
    def test_exact_multiples_are_two_clusters(self, rng):
        v = rng.standard_normal(6)
        c = rng.uniform(0.5, 3.0, size=(2, 4))
        net = Network(c[0][:, None] * v, c[1][:, None] * (-v), 0.3)
        cl = neuron_clusters(net, tau=0.999999)
        assert cl["two_clusters"] and cl["count"] == 2
        assert cl["pos"]["components"] == [[0, 1, 2, 3]] and cl["neg"]["sizes"] == [4]
        assert cl["pos"]["min_cosine"] > 1 - 1e-12

    def test_orthogonal_neurons_are_singletons(self):
        net = Network(np.eye(4)[:3], 2 * np.eye(4)[1:], 0.2)
        cl = neuron_clusters(net, tau=0.5)
        assert cl["pos"]["count"] == 3 and cl["neg"]["count"] == 3 and not cl["two_clusters"]
        assert cl["count"] == 6

    def test_components_chain_through_intermediate_neurons(self):
        # a–b and b–c are similar, a–c is not: one component, found through b
        ang = np.radians([0.0, 5.0, 10.0])
        W = np.stack([np.cos(ang), np.sin(ang)], axis=1)
        tau = np.cos(np.radians(7.0))
        net = Network(W, W[:1], 0.5)
        assert cosine_matrix(W)[0, 2] < tau
        cl = neuron_clusters(net, tau=tau)
        assert cl["pos"]["components"] == [[0, 1, 2]]
        G = similarity_graph(W, tau)
        assert set(map(frozenset, G.edges)) == {frozenset({0, 1}), frozenset({1, 2})}

    @pytest.mark.parametrize("tau", [-0.5, 0.0, 0.5, 0.9])
    def test_count_matches_scipy(self, rng, tau):
        W1 = rng.standard_normal((12, 3))
        W2 = rng.standard_normal((9, 3))
        cl = neuron_clusters(Network(W1, W2, 0.1), tau=tau)
        assert cl["pos"]["count"] == _components_scipy(W1, tau)
        assert cl["neg"]["count"] == _components_scipy(W2, tau)
        assert sorted(sum(cl["pos"]["components"], [])) == list(range(12))

    def test_zero_neurons_are_listed_not_clustered(self):
        Wp = np.array([[1.0, 0.0], [0.0, 0.0], [2.0, 0.0]])
        cl = neuron_clusters(Network(Wp, np.array([[0.0, -1.0]]), 0.5))
        assert cl["pos"]["zero"] == [1] and cl["pos"]["components"] == [[0, 2]]
        assert cl["two_clusters"]
        C = cosine_matrix(Wp)
        assert np.all(np.isnan(C[1])) and np.all(np.isnan(C[:, 1]))

    @pytest.mark.parametrize("tau", [1.5, -2, float("nan"), "x"])
    def test_bad_tau(self, tau):
        with pytest.raises(InputError):
            neuron_clusters(Network(np.eye(2), np.eye(2), 0.5), tau=tau)


def test_cluster_counts_over_a_shared_pattern_run():
    data = verify.teacher_dataset(n=200, d=10, seed=0, margin=0.1)
    run = verify.train(data, TrainConfig(width=5, alpha=0.5, lr=0.001, steps=200_000, seed=0, init_scale=1e-3))
    counts = cluster_counts(run, tau=0.99)
    assert [c["step"] for c in counts] == run.trajectory.snap_steps.tolist()
    # random small initialization: no two neurons of d=10 point the same way
    assert counts[0]["count"] == 10 and not counts[0]["two_clusters"]
    # Theorem 3: once the pattern is shared the directions merge
    assert counts[-1]["two_clusters"]
    last = neuron_clusters(run.final, tau=0.99)
    assert counts[-1]["count"] == last["count"] and counts[-1]["min_cosine_pos"] == last["pos"]["min_cosine"]
    # cosine spread shrinks monotonically over the frozen phase (differences fixed, norms growing)
    t0 = run.trajectory.shared_since
    mins = [c["min_cosine_pos"] for c in counts if c["step"] >= t0]
    assert len(mins) > 5 and np.all(np.diff(mins) >= -1e-12)
