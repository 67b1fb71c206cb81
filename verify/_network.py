"""Two-layer Leaky-ReLU networks in the paper's form, and exact import (THEORY.md §0).

`N(x) = Σ_{j≤k₊} σ(⟨w_j,x⟩) − Σ_{j≤k₋} σ(⟨u_j,x⟩)` with `σ(z) = max(αz, z)`, `0 < α < 1`.

Any net `Σ_j a_j σ(⟨w_j,x⟩ + b_j) + c` maps onto this form *exactly* by positive
homogeneity, `a·σ(z) = sign(a)·σ(|a|z)` for `a ≠ 0`: neuron j becomes a positive neuron
`a_j·(w_j, b_j)` when `a_j > 0`, a negative neuron `|a_j|·(w_j, b_j)` when `a_j < 0`, and is
dropped when `a_j = 0`. Biases live on an appended constant input 1 (`input_bias=True`);
the output bias `c` becomes one more neuron `(0,…,0,|c|)` on that input (σ(|c|) = |c|).
The only rounding is the product `|a_j|·w_j` (one float multiplication per weight).

Convention: `σ'(0) = α` (PyTorch's), used everywhere — updates and activation patterns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._errors import InputError
from ._io import atomic_savez, json_scalar, load_npz

__all__ = ["Network", "leaky_relu", "leaky_relu_slope", "load_network", "save_network", "check_alpha",
           "network_direction"]


def check_alpha(alpha) -> float:
    """Return α as float, or raise `InputError` unless `0 < α < 1`."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise InputError(f"alpha must be a number in (0,1), got {alpha!r}") from None
    if not (0.0 < a < 1.0):  # NaN fails this too
        raise InputError(f"alpha must lie in (0,1), got {alpha!r}")
    return a


def leaky_relu(z: np.ndarray, alpha: float) -> np.ndarray:
    """`σ(z) = max(αz, z)`."""
    return np.where(z > 0, z, alpha * z)


def leaky_relu_slope(z: np.ndarray, alpha: float) -> np.ndarray:
    """`σ'(z)`: 1 for z > 0, α for z ≤ 0 (σ'(0) = α)."""
    return np.where(z > 0, 1.0, alpha)


@dataclass(frozen=True, eq=False)
class Network:
    """A bias-free two-layer Leaky-ReLU network in the paper's form.

    Attributes:
        W_pos: positive neurons, shape (k₊, D).
        W_neg: negative neurons, shape (k₋, D).
        alpha: the leak α ∈ (0, 1).
        input_bias: True when the last input coordinate is the constant 1 standing for
            biases; `lift` appends it to raw inputs of dimension D − 1.
    """

    W_pos: np.ndarray
    W_neg: np.ndarray
    alpha: float
    input_bias: bool = False

    def __post_init__(self) -> None:
        alpha = check_alpha(self.alpha)
        W_pos = np.array(self.W_pos, dtype=np.float64)
        W_neg = np.array(self.W_neg, dtype=np.float64)
        if W_pos.ndim == 1 and W_pos.size == 0:
            W_pos = W_pos.reshape(0, W_neg.shape[1] if W_neg.ndim == 2 else 0)
        if W_neg.ndim == 1 and W_neg.size == 0:
            W_neg = W_neg.reshape(0, W_pos.shape[1])
        if W_pos.ndim != 2 or W_neg.ndim != 2:
            raise InputError(f"W_pos and W_neg must be 2-D, got shapes {W_pos.shape} and {W_neg.shape}")
        if W_pos.shape[1] != W_neg.shape[1]:
            raise InputError(f"W_pos has {W_pos.shape[1]} inputs but W_neg has {W_neg.shape[1]}")
        if W_pos.shape[0] + W_neg.shape[0] == 0:
            raise InputError("network has no neurons")
        if W_pos.shape[1] < 1:
            raise InputError("network has input dimension 0")
        if not (np.all(np.isfinite(W_pos)) and np.all(np.isfinite(W_neg))):
            raise InputError("network weights contain NaN or inf")
        W_pos.setflags(write=False)
        W_neg.setflags(write=False)
        object.__setattr__(self, "W_pos", W_pos)
        object.__setattr__(self, "W_neg", W_neg)
        object.__setattr__(self, "alpha", alpha)

    @property
    def d(self) -> int:
        """Input dimension D of the paper-form network (the constant coordinate included)."""
        return self.W_pos.shape[1]

    @property
    def k_pos(self) -> int:
        return self.W_pos.shape[0]

    @property
    def k_neg(self) -> int:
        return self.W_neg.shape[0]

    @property
    def m(self) -> int:
        return self.k_pos + self.k_neg

    def theta(self) -> np.ndarray:
        """All weights stacked, `θ = (w_1,…,w_{k₊}, u_1,…,u_{k₋})` flattened."""
        return np.concatenate([self.W_pos.ravel(), self.W_neg.ravel()])

    def lift(self, X: np.ndarray) -> np.ndarray:
        """Bring raw inputs to the network's input space (append 1 when `input_bias`)."""
        X = np.asarray(X, dtype=np.float64)
        single = X.ndim == 1
        X2 = X.reshape(1, -1) if single else X
        if X2.ndim != 2:
            raise InputError(f"inputs must be 1-D or 2-D, got shape {X.shape}")
        if self.input_bias and X2.shape[1] == self.d - 1:
            X2 = np.hstack([X2, np.ones((X2.shape[0], 1))])
        if X2.shape[1] != self.d:
            extra = " (plus the constant bias input)" if self.input_bias else ""
            raise InputError(f"inputs have dimension {X2.shape[1]} but the network expects {self.d - self.input_bias}{extra}")
        return X2

    def preactivations(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`(⟨w_j,x_i⟩)_{ij}` and `(⟨u_j,x_i⟩)_{ij}`, shapes (n,k₊), (n,k₋)."""
        X = self.lift(X)
        return X @ self.W_pos.T, X @ self.W_neg.T

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """`N(x)` for each row of X (shape (n,))."""
        P, Q = self.preactivations(X)
        a = self.alpha
        return leaky_relu(P, a).sum(axis=1) - leaky_relu(Q, a).sum(axis=1)

    def margins(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """`z_i = y_i N(x_i)`."""
        return np.asarray(y, dtype=np.float64) * self(X)

    def slopes(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """σ' of every neuron on every input (activation pattern values; σ'(0) = α)."""
        P, Q = self.preactivations(X)
        return leaky_relu_slope(P, self.alpha), leaky_relu_slope(Q, self.alpha)

    def patterns(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Activation patterns `[⟨w,x_i⟩ > 0]`, boolean (n,k₊), (n,k₋)."""
        P, Q = self.preactivations(X)
        return P > 0, Q > 0

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Labels in {−1, +1}; `N(x) = 0` counts as −1 (a point on the boundary is an error)."""
        return np.where(self(X) > 0, 1.0, -1.0)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "W_pos": self.W_pos,
            "W_neg": self.W_neg,
            "alpha": np.float64(self.alpha),
            "input_bias": np.bool_(self.input_bias),
        }


def network_direction(net: Network) -> np.ndarray:
    """The network's linear direction `v = (W − U)/‖W − U‖`, `W = Σw_j`, `U = Σu_j` (unit).

    This is the direction of `Lin(x)` in Theorem 2 (for k₊ = k₋ the mean-center direction
    `(w̄ − ū)/‖w̄ − ū‖` of THEORY.md §3), the one `verify audit` reports and `verify exact`
    uses by default. `InputError` when W = U.
    """
    c = net.W_pos.sum(axis=0) - net.W_neg.sum(axis=0)
    nrm = float(np.linalg.norm(c))
    if not (nrm > 0 and np.isfinite(nrm)):
        raise InputError("the network's direction Σw_j − Σu_j is zero: it has no linear direction")
    return c / nrm


def save_network(path, net: Network) -> Path:
    """Save in paper form (`W_pos`, `W_neg`, `alpha`, `input_bias`) as `.npz`, atomically."""
    return atomic_savez(path, net.to_arrays())


def _alpha_for(path: Path, stored, alpha) -> float:
    if alpha is not None and stored is not None and float(alpha) != float(stored):
        raise InputError(f"{path}: stores alpha={float(stored)} but alpha={alpha} was given")
    if alpha is None and stored is None:
        raise InputError(f"{path}: a state dict does not record LeakyReLU's slope; pass --alpha")
    return check_alpha(stored if alpha is None else alpha)


def _from_paper_npz(path: Path, z: dict, alpha) -> Network:
    for key in ("W_pos", "W_neg"):
        if key not in z:
            raise InputError(f"{path}: missing array {key!r} (a network .npz holds W_pos, W_neg, alpha)")
    stored = z["alpha"][()] if "alpha" in z else None
    a = _alpha_for(path, stored, alpha)
    bias = bool(z["input_bias"][()]) if "input_bias" in z else False
    return Network(z["W_pos"], z["W_neg"], a, input_bias=bias)


def from_two_layer(W1, b1, a2, c, alpha: float) -> Network:
    """Exact paper form of `x ↦ Σ_j a2_j σ(⟨W1_j,x⟩ + b1_j) + c` (b1, c may be None).

    Args:
        W1: hidden weights (h, d).
        b1: hidden biases (h,) or None.
        a2: output weights (h,).
        c: output bias (scalar) or None.
        alpha: the leak of σ.
    """
    W1 = np.asarray(W1, dtype=np.float64)
    a2 = np.asarray(a2, dtype=np.float64).reshape(-1)
    if W1.ndim != 2 or a2.shape[0] != W1.shape[0]:
        raise InputError(f"first layer {W1.shape} and second layer {a2.shape} do not match")
    has_bias = b1 is not None or c is not None
    if has_bias:
        b = np.zeros(W1.shape[0]) if b1 is None else np.asarray(b1, dtype=np.float64).reshape(-1)
        if b.shape[0] != W1.shape[0]:
            raise InputError(f"hidden bias has {b.shape[0]} entries for {W1.shape[0]} neurons")
        W1 = np.hstack([W1, b[:, None]])
    pos = a2 > 0
    neg = a2 < 0
    W_pos = W1[pos] * a2[pos][:, None]
    W_neg = W1[neg] * (-a2[neg])[:, None]
    if c is not None:
        cv = float(np.asarray(c).reshape(-1)[0]) if np.asarray(c).size else 0.0
        if cv != 0.0:
            extra = np.zeros((1, W1.shape[1]))
            extra[0, -1] = abs(cv)
            if cv > 0:
                W_pos = np.vstack([W_pos, extra])
            else:
                W_neg = np.vstack([W_neg, extra])
    return Network(W_pos.reshape(-1, W1.shape[1]), W_neg.reshape(-1, W1.shape[1]), alpha, input_bias=has_bias)


_KEY = re.compile(r"^(.*?)(weight|bias)$")


def _from_state_dict(path: Path, sd: dict, alpha) -> Network:
    """Map a `Sequential(Linear, LeakyReLU, Linear)` state dict onto the paper form."""
    arrays = {}
    for k, v in sd.items():
        if not isinstance(k, str):
            raise InputError(f"{path}: state dict keys must be strings")
        arrays[k] = np.asarray(v.detach().cpu().double().numpy() if hasattr(v, "detach") else v, dtype=np.float64)
    weights = [k for k in arrays if k.endswith("weight")]
    others = [k for k in arrays if not (k.endswith("weight") or k.endswith("bias"))]
    if len(weights) != 2 or others:
        raise InputError(
            f"{path}: expected the state dict of Sequential(Linear, LeakyReLU, Linear): two weights "
            f"and optional biases, got keys {sorted(arrays)}"
        )
    (w1k, w2k) = weights
    W1, W2 = arrays[w1k], arrays[w2k]
    if W1.ndim != 2 or W2.ndim not in (1, 2) or (W2.ndim == 2 and W2.shape[0] != 1):
        raise InputError(f"{path}: layer shapes {W1.shape} and {W2.shape} are not (h,d) and (1,h)")
    a2 = W2.reshape(-1)
    if a2.shape[0] != W1.shape[0]:
        raise InputError(f"{path}: first layer has {W1.shape[0]} units, second layer expects {a2.shape[0]}")
    b1 = arrays.get(w1k[: -len("weight")] + "bias")
    c = arrays.get(w2k[: -len("weight")] + "bias")
    known = {w1k, w2k, w1k[:-6] + "bias", w2k[:-6] + "bias"}
    if set(arrays) - known:
        raise InputError(f"{path}: unexpected keys {sorted(set(arrays) - known)}")
    if b1 is not None and b1.reshape(-1).shape[0] != W1.shape[0]:
        raise InputError(f"{path}: hidden bias shape {b1.shape} does not match {W1.shape[0]} units")
    if c is not None and c.size != 1:
        raise InputError(f"{path}: output bias must have one entry, got shape {c.shape}")
    for name, arr in ((w1k, W1), (w2k, W2), ("bias", b1), ("output bias", c)):
        if arr is not None and not np.all(np.isfinite(arr)):
            raise InputError(f"{path}: {name} contains NaN or inf")
    return from_two_layer(W1, b1, a2, c, check_alpha(alpha))


def load_network(path, alpha=None) -> Network:
    """Load a network: paper-form or run `.npz`, or a PyTorch `.pt`/`.safetensors` state dict.

    State dicts do not record LeakyReLU's slope, so `alpha` is required for them. `.pt`
    files are read with `torch.load(weights_only=True)`: nothing is unpickled.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        z = load_npz(path)
        return _from_paper_npz(path, z, alpha)
    if suffix in (".pt", ".pth"):
        if alpha is None:
            raise InputError(f"{path}: a state dict does not record LeakyReLU's slope; pass --alpha")
        try:
            import torch
        except ImportError:
            raise InputError(f"{path}: reading .pt needs PyTorch (pip install 'verify[torch]')") from None
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise InputError(f"{path}: not a weights-only PyTorch file ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
        if not isinstance(sd, dict):
            raise InputError(f"{path}: expected a state dict, got {type(sd).__name__}")
        return _from_state_dict(path, sd, alpha)
    if suffix == ".safetensors":
        if alpha is None:
            raise InputError(f"{path}: a state dict does not record LeakyReLU's slope; pass --alpha")
        try:
            from safetensors.numpy import load_file
        except ImportError:
            raise InputError(f"{path}: reading .safetensors needs safetensors (pip install 'verify[torch]')") from None
        try:
            sd = load_file(str(path))
        except Exception as exc:
            raise InputError(f"{path}: not a readable safetensors file ({exc})") from None
        return _from_state_dict(path, sd, alpha)
    raise InputError(f"{path}: unknown network format {suffix!r} (use .npz, .pt or .safetensors)")


def network_from_npz_arrays(z: dict, where: str = "<arrays>") -> Network:
    """Paper-form network from already loaded arrays (run files reuse this)."""
    return _from_paper_npz(Path(where), z, None)


def read_meta(z: dict):
    """The JSON `meta` record of a run or certificate-side `.npz`, or None."""
    return json_scalar(z["meta"]) if "meta" in z else None
