"""The paper-form network and exact import of two-layer nets (THEORY.md §0)."""

from __future__ import annotations

import numpy as np
import pytest

import verify
from verify import InputError
from verify._network import from_two_layer


def _reference_two_layer(X, W1, b1, a2, c, alpha):
    h = X @ W1.T + (0 if b1 is None else b1)
    return np.where(h > 0, h, alpha * h) @ a2 + (0 if c is None else c)


class TestForward:
    def test_matches_definition(self, rng):
        Wp, Wn = rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
        net = verify.Network(Wp, Wn, 0.3)
        X = rng.standard_normal((10, 4))
        sig = lambda z: np.maximum(0.3 * z, z)  # noqa: E731  (σ for α < 1)
        expected = sig(X @ Wp.T).sum(1) - sig(X @ Wn.T).sum(1)
        assert np.allclose(net(X), expected, rtol=0, atol=1e-13)

    def test_slope_at_zero_is_alpha(self):
        net = verify.Network([[1.0, 0.0]], [[0.0, 1.0]], 0.2)
        sp, sn = net.slopes(np.array([[0.0, 0.0], [1.0, -1.0]]))
        assert sp.tolist() == [[0.2], [1.0]] and sn.tolist() == [[0.2], [0.2]]

    def test_homogeneity(self, rng):
        # σ'(z)z = σ(z) ⇒ ⟨θ, ∇θN(x)⟩ = N(x)
        net = verify.Network(rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), 0.4)
        X = rng.standard_normal((20, 3))
        P, Q = net.preactivations(X)
        sp, sn = net.slopes(X)
        assert np.allclose((sp * P).sum(1) - (sn * Q).sum(1), net(X), atol=1e-13)

    @pytest.mark.parametrize("alpha", [0.0, 1.0, -0.5, 1.5, np.nan, "x"])
    def test_bad_alpha(self, alpha):
        with pytest.raises(InputError, match="alpha"):
            verify.Network(np.ones((1, 2)), np.ones((1, 2)), alpha)

    def test_non_finite_weights(self):
        with pytest.raises(InputError, match="NaN"):
            verify.Network([[np.nan, 1.0]], [[1.0, 1.0]], 0.5)

    def test_shape_mismatch(self):
        with pytest.raises(InputError):
            verify.Network(np.ones((2, 3)), np.ones((2, 4)), 0.5)
        with pytest.raises(InputError, match="dimension"):
            verify.Network(np.ones((2, 3)), np.ones((2, 3)), 0.5)(np.ones((4, 5)))


class TestTwoLayerMapping:
    @pytest.mark.parametrize("bias", [False, True])
    def test_exact_equivalence(self, rng, bias):
        h, d, alpha = 7, 5, 0.15
        W1 = rng.standard_normal((h, d))
        a2 = rng.standard_normal(h)
        a2[2] = 0.0  # a dead unit is dropped
        b1 = rng.standard_normal(h) if bias else None
        c = -0.7 if bias else None
        net = from_two_layer(W1, b1, a2, c, alpha)
        assert net.input_bias == bias
        assert net.m == h - 1 + (1 if bias else 0)
        X = rng.standard_normal((200, d))
        ref = _reference_two_layer(X, W1, b1, a2, c, alpha)
        # the only rounding is |a|·w: relative error a few ulps of the terms
        assert np.allclose(net(X), ref, rtol=1e-12, atol=1e-12)

    def test_positive_output_bias_becomes_positive_neuron(self):
        net = from_two_layer(np.eye(2), None, np.array([1.0, -1.0]), 2.5, 0.5)
        assert net.k_pos == 2 and net.k_neg == 1
        assert net(np.zeros((1, 2)))[0] == 2.5


torch = pytest.importorskip("torch", reason="PyTorch import tests need torch")


def _torch_net(d, h, alpha, bias, seed):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(d, h, bias=bias), torch.nn.LeakyReLU(alpha),
                                torch.nn.Linear(h, 1, bias=bias)).double()
    return model


class TestPyTorchImport:
    @pytest.mark.parametrize("bias", [False, True])
    @pytest.mark.parametrize("fmt", ["pt", "safetensors"])
    def test_outputs_equal_pytorch(self, tmp_path, bias, fmt):
        d, h, alpha = 6, 9, 0.2
        model = _torch_net(d, h, alpha, bias, seed=4)
        path = tmp_path / f"net.{fmt}"
        if fmt == "pt":
            torch.save(model.state_dict(), path)
        else:
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
        net = verify.load_network(path, alpha=alpha)
        X = np.random.default_rng(0).standard_normal((5000, d))
        with torch.no_grad():
            ref = model(torch.from_numpy(X)).numpy().ravel()
        ours = net(X)
        assert np.allclose(ours, ref, rtol=1e-12, atol=1e-12)
        away = np.abs(ref) > 1e-9
        assert np.array_equal(np.sign(ours[away]), np.sign(ref[away]))

    def test_float32_model(self, tmp_path):
        torch.manual_seed(1)
        model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LeakyReLU(0.1), torch.nn.Linear(4, 1))
        torch.save(model.state_dict(), tmp_path / "f.pt")
        net = verify.load_network(tmp_path / "f.pt", alpha=0.1)
        X = np.random.default_rng(1).standard_normal((500, 3))
        with torch.no_grad():
            ref = model.double()(torch.from_numpy(X)).numpy().ravel()
        assert np.allclose(net(X), ref, rtol=1e-12, atol=1e-12)

    def test_alpha_required(self, tmp_path):
        torch.save(_torch_net(2, 3, 0.1, True, 0).state_dict(), tmp_path / "n.pt")
        with pytest.raises(InputError, match="--alpha"):
            verify.load_network(tmp_path / "n.pt")

    def test_wrong_keys_and_shapes(self, tmp_path):
        torch.save({"a.weight": torch.ones(3, 2)}, tmp_path / "one.pt")
        with pytest.raises(InputError, match="two weights"):
            verify.load_network(tmp_path / "one.pt", alpha=0.1)
        torch.save({"0.weight": torch.ones(3, 2), "2.weight": torch.ones(2, 3)}, tmp_path / "multi.pt")
        with pytest.raises(InputError, match="shapes"):
            verify.load_network(tmp_path / "multi.pt", alpha=0.1)
        torch.save({"0.weight": torch.ones(3, 2), "2.weight": torch.ones(1, 4)}, tmp_path / "mism.pt")
        with pytest.raises(InputError, match="units"):
            verify.load_network(tmp_path / "mism.pt", alpha=0.1)
        torch.save({"0.weight": torch.full((3, 2), float("nan")), "2.weight": torch.ones(1, 3)}, tmp_path / "nan.pt")
        with pytest.raises(InputError, match="NaN"):
            verify.load_network(tmp_path / "nan.pt", alpha=0.1)

    def test_pickled_object_refused(self, tmp_path):
        import fractions

        # any non-tensor Python object needs the unpickler; weights_only refuses it
        torch.save({"0.weight": fractions.Fraction(1, 3)}, tmp_path / "evil.pt")
        with pytest.raises(InputError, match="weights-only"):
            verify.load_network(tmp_path / "evil.pt", alpha=0.1)

    def test_not_a_file(self, tmp_path):
        (tmp_path / "junk.pt").write_bytes(b"not a zip")
        with pytest.raises(InputError):
            verify.load_network(tmp_path / "junk.pt", alpha=0.1)
