"""Gradient dynamics of the paper-form network, derived in sympy (THEORY.md §0–1).

`N(x) = Σ_j σ(⟨w_j,x⟩) − Σ_j σ(⟨u_j,x⟩)`, `ℓ(z) = log(1 + e^{−z})`, `z = y·N(x)`. Sympy
differentiates `ℓ(y N(x))` inside each activation region (the sign pattern of the
pre-activations, where σ is linear) and confirms

    ∂ℓ/∂w_j = −g(z)·y·σ'(⟨w_j,x⟩)·x,    ∂ℓ/∂u_j = +g(z)·y·σ'(⟨u_j,x⟩)·x,

so one SGD step is `w_j += η g y σ'(⟨w_j,x⟩) x`, `u_j −= η g y σ'(⟨u_j,x⟩) x`, with the
convention σ'(0) = α on the boundary between regions. `check_against_trainer` lambdifies
this update and compares it with the numeric trainer's compiled kernel on random inputs.
"""

from __future__ import annotations

import itertools

import numpy as np
import sympy as sp

from . import _expressions as E

__all__ = ["NetworkExpr", "network_expr", "derive_gradient", "sgd_update", "check_against_trainer"]


class NetworkExpr:
    """Symbols and expressions of a small paper-form network (k₊ = k₋ = `k`, input dim `d`)."""

    def __init__(self, k: int = 2, d: int = 3) -> None:
        self.k, self.d = k, d
        self.W = sp.Matrix(k, d, lambda j, c: sp.Symbol(f"w_{j}_{c}", real=True))
        self.U = sp.Matrix(k, d, lambda j, c: sp.Symbol(f"u_{j}_{c}", real=True))
        self.x = sp.Matrix(d, 1, lambda c, _: sp.Symbol(f"x_{c}", real=True))
        self.y = sp.Symbol("y", real=True)
        self.pre_w = [(self.W[j, :] * self.x)[0] for j in range(k)]
        self.pre_u = [(self.U[j, :] * self.x)[0] for j in range(k)]
        self.N = sum(E.sigma(p) for p in self.pre_w) - sum(E.sigma(p) for p in self.pre_u)
        self.z = self.y * self.N
        self.loss = E.loss(self.z)

    def params(self) -> list[sp.Symbol]:
        return list(self.W) + list(self.U)


def network_expr(k: int = 2, d: int = 3) -> NetworkExpr:
    """The network, its margin z and its loss as sympy expressions."""
    return NetworkExpr(k, d)


def derive_gradient(net: NetworkExpr) -> dict:
    """Differentiate the loss in every activation region and compare with the closed form.

    Returns:
        {"regions": number of sign patterns checked, "ok": all differences simplified to 0,
         "formula": the stated gradient in words}.
    """
    pres = net.pre_w + net.pre_u
    ok = True
    regions = 0
    for signs in itertools.product((1, -1), repeat=len(pres)):
        regions += 1
        # inside the region σ is linear: σ(p) = p (p > 0) or αp (p < 0)
        slope = [sp.Integer(1) if s > 0 else E.alpha for s in signs]
        N_lin = sum(slope[j] * net.pre_w[j] for j in range(net.k)) - sum(
            slope[net.k + j] * net.pre_u[j] for j in range(net.k))
        zz = net.y * N_lin
        L = E.loss(zz)
        gval = E.gfun(zz)
        for j in range(net.k):
            for c in range(net.d):
                dw = sp.diff(L, net.W[j, c]) + gval * net.y * slope[j] * net.x[c]
                du = sp.diff(L, net.U[j, c]) - gval * net.y * slope[net.k + j] * net.x[c]
                if sp.simplify(dw) != 0 or sp.simplify(du) != 0:
                    ok = False
        if not ok:
            break
    return {"regions": regions, "ok": ok,
            "formula": "dℓ/dw_j = −g(z)·y·σ'(<w_j,x>)·x,  dℓ/du_j = +g(z)·y·σ'(<u_j,x>)·x"}


def sgd_update(net: NetworkExpr):
    """The SGD step as sympy expressions: (new W, new U, z, g) for step size `eta`."""
    gz = E.gfun(net.z)
    Wn = sp.Matrix(net.k, net.d, lambda j, c: net.W[j, c] + E.eta * gz * net.y * E.dsigma(net.pre_w[j]) * net.x[c])
    Un = sp.Matrix(net.k, net.d, lambda j, c: net.U[j, c] - E.eta * gz * net.y * E.dsigma(net.pre_u[j]) * net.x[c])
    return Wn, Un, net.z, gz


def check_against_trainer(seed: int = 0, trials: int = 20, k: int = 2, d: int = 3) -> float:
    """Largest relative difference between the sympy-derived SGD step and the trainer's kernel.

    Random weights, points, labels, α and η drawn from `seed`; one step each, through
    `verify._kernels.sgd_chunk` on one side and the lambdified `sgd_update` on the other.
    """
    from .._kernels import N_SUMS, empty_records, sgd_chunk

    net = network_expr(k, d)
    Wn, Un, zz, gz = sgd_update(net)
    args = net.params() + list(net.x) + [net.y, E.alpha, E.eta]
    f = sp.lambdify(args, [Wn, Un, zz, gz], modules="numpy")
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(trials):
        Wp = rng.normal(size=(k, d))
        Wm = rng.normal(size=(k, d))
        x = rng.normal(size=d)
        y = float(rng.choice([-1.0, 1.0]))
        al = float(rng.uniform(0.01, 0.99))
        lr = float(10 ** rng.uniform(-3, 0))
        X = x.reshape(1, d).copy()
        Y = np.array([y])
        A, Bm = Wp.copy(), Wm.copy()
        sgd_chunk(X, Y, A, Bm, al, lr, np.zeros((1, 1), dtype=np.int64), np.empty((0, d)), np.zeros(N_SUMS),
                  np.empty(0), np.empty(0, dtype=np.int64), np.array([-1, 0], dtype=np.int64), False, 0,
                  *empty_records(), np.array([x @ x]))
        W_sym, U_sym, _, _ = f(*(list(Wp.ravel()) + list(Wm.ravel()) + list(x) + [y, al, lr]))
        W_sym = np.asarray(W_sym, dtype=float)
        U_sym = np.asarray(U_sym, dtype=float)
        scale = max(1.0, float(np.max(np.abs(Wp))), float(np.max(np.abs(Wm))))
        worst = max(worst, float(np.max(np.abs(W_sym - A))) / scale, float(np.max(np.abs(U_sym - Bm))) / scale)
    return worst
