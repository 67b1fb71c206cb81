"""The PyTorch / Triton engine for ensembles of SGD runs (THEORY.md §0; GPU backend of `_ensemble`).

Same update as the trainer (THEORY.md §0): per run, sample `i_t`, `z_t = y N(x)`,
`g_t = 1/(1+e^{z_t})`, `w_j += η g_t y σ'(⟨w_j,x⟩) x`, `u_j −= η g_t y σ'(⟨u_j,x⟩) x`, `σ'(0) = α`,
and the same bookkeeping (running sums of `g`, `g s`, `g z`, `g²‖x‖²Σσ'²`, `ℓ`; ε-exceedance
counts; the last step and count of steps whose σ' values were not shared within a sign).

Two ways to advance R runs:
* `backend="torch"`: eager PyTorch, the R runs stacked as (R, m, d) and each step one batched
  matrix product forward and one backward (`bmm`). Any device, any batch size, per-step records.
* `backend="triton"`: one fused kernel, one program per run, that loads the run's weights
  once, keeps them in registers for a whole block of steps, and writes them back at the end —
  so a step costs no trip to GPU memory for the weights. Batch-1 SGD without per-step records.
  It runs on CUDA devices, and on the CPU under Triton's interpreter (`TRITON_INTERPRET=1`),
  which is how the tests check it without a GPU.

Weights are float32 on a GPU by default (float64 on the CPU); every running sum is float64, so
sums over 10⁶ steps keep full precision. The eager engine computes `z`, `g` and `ℓ` in float64
from the step's preactivations; the fused kernel computes them in the weights' precision (in
float32, `z` itself carries no more digits than that, and float64 transcendentals would cost
as much as the step's matrix work) and adds them to the float64 sums. The sample order comes from the same `IndexStream`s as the CPU path, so the runs
equal the CPU runs to floating-point tolerance (the tests compare them) — over a horizon: σ'
jumps where a preactivation crosses 0, so a rounding difference at a preactivation within
rounding of 0 becomes a real difference, and with many pattern changes the dynamics amplify it.
Measured on the CPU, float64 PyTorch against numba (d=50, 100 neurons, η=0.05, 16 seeds): every
run agrees to 1e-12 after 200 steps; after 2000 steps 9 of 16 have separated by more than 1e-8
(first between steps 637 and 1720), while the distribution over seeds is the same. Any change of
summation order does this (float32 sooner), so long runs are compared as distributions.
"""

from __future__ import annotations

import os

import numpy as np

from ._errors import InputError

__all__ = ["TorchEngine", "triton_available"]


def _torch():
    try:
        import torch
    except ImportError:
        raise InputError("the PyTorch/Triton ensemble backend needs PyTorch (pip install 'verify[torch]')") from None
    return torch


def triton_available(device) -> bool:
    """True when a Triton kernel can run for `device` (a CUDA device, or the CPU interpreter)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    interpret = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
    # the interpreter runs kernels on CPU tensors only; compiled kernels need a CUDA device
    return device.type == "cpu" if interpret else device.type == "cuda"


def _triton_kernel():
    """The fused kernel (`_ensemble_triton`, imported on first use: triton is optional)."""
    from ._ensemble_triton import sgd_runs

    return sgd_runs


def _pow2(v: int) -> int:
    return 1 << max(0, int(v) - 1).bit_length()


class TorchEngine:
    """All runs' state as tensors on one device; `advance` runs eager PyTorch or the Triton kernel.

    Args:
        X, y: training data (numpy, float64).
        Wp, Wn: (R, k, d) initial weights of each run (numpy).
        alpha, lr: leak and step size.
        ref: unit reference direction (numpy) or None, for per-step alignment records.
        gthr: thresholds `1 − e^{−ε}` on g for the ε counts.
        rec_on: keep per-step arrays (R, T) (eager backend only).
        T: total steps (size of the per-step arrays).
        device: a PyTorch device ("cpu", "cuda", "cuda:1").
        backend: "torch", "triton" or None (Triton when it can run here, else eager).
        dtype: "float32" or "float64" for the weights (default float32 on CUDA, else float64).
        batch: points per step of the config (0 = full batch).
        warps: warps per program of the Triton kernel (None: one per 16 KiB of a run's padded
            weights, 1 to 8); `benchmarks/bench_ensemble.py --gpu` measures the choices.
    """

    def __init__(self, X, y, Wp, Wn, alpha, lr, ref, gthr, rec_on, T, *, device="cpu", backend=None,
                 dtype=None, batch=1, warps=None):
        torch = _torch()
        self.torch = torch
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError):
            raise InputError(f"unknown device {device!r}") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise InputError(f"device {device!r} asked for, but PyTorch sees no CUDA GPU here")
        self.device = dev
        if dtype is None:
            dtype = "float32" if dev.type == "cuda" else "float64"
        if dtype not in ("float32", "float64"):
            raise InputError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self.dtype = getattr(torch, dtype)
        fused_ok = batch == 1 and not rec_on
        if backend is None:
            backend = "triton" if fused_ok and triton_available(dev) else "torch"
        if backend == "triton":
            if not fused_ok:
                raise InputError("the Triton kernel does batch-1 SGD without per-step records; use backend 'torch'")
            if not triton_available(dev):
                raise InputError(f"Triton cannot run on {dev} here (needs triton and a CUDA device, "
                                 "or TRITON_INTERPRET=1 on the CPU)")
        elif backend != "torch":
            raise InputError(f"backend must be 'torch' or 'triton' here, got {backend!r}")
        self.name = backend
        if backend == "triton" and Wp.shape[1] + Wn.shape[1] >= 65536:
            raise InputError("the Triton kernel takes fewer than 65536 hidden units; use backend 'torch'")
        if warps is not None and warps not in (1, 2, 4, 8, 16):
            raise InputError(f"warps must be 1, 2, 4, 8 or 16, got {warps!r}")
        self.warps = warps
        self.index_dtype = np.int32 if backend == "triton" else np.int64
        R, kp, d = Wp.shape
        self.R, self.kp, self.kn, self.d = R, kp, Wn.shape[1], d
        self.m = kp + self.kn
        f64 = torch.float64
        self.alpha, self.lr = float(alpha), float(lr)
        W = torch.cat([torch.as_tensor(Wp), torch.as_tensor(Wn)], dim=1).to(dev, self.dtype)
        # (R, m, d) for every use here; the fused kernel wants neuron-fastest memory, (R, d, m)
        self.W = W.transpose(1, 2).contiguous().transpose(1, 2) if backend == "triton" else W.contiguous()
        self.one = torch.ones((), dtype=self.dtype, device=dev)
        self.alpha_t = torch.full((), self.alpha, dtype=self.dtype, device=dev)
        self.sign = torch.cat([torch.ones(kp), -torch.ones(self.kn)]).to(dev, self.dtype)
        self.X = torch.tensor(np.asarray(X)).to(dev, self.dtype)
        self.y = torch.tensor(np.asarray(y)).to(dev, self.dtype)
        self.X64 = torch.tensor(np.asarray(X)).to(dev, f64)
        self.y64 = torch.tensor(np.asarray(y)).to(dev, f64)
        self.xx = torch.as_tensor(np.einsum("ij,ij->i", X, X)).to(dev, f64)
        self.gthr = torch.as_tensor(np.asarray(gthr, dtype=np.float64)).to(dev)
        self.params = torch.tensor([self.alpha, self.lr], dtype=f64, device=dev)
        self.sums = torch.zeros((R, 5), dtype=f64, device=dev)
        self.counts = torch.zeros((R, self.gthr.shape[0]), dtype=torch.int64, device=dev)
        self.last = torch.full((R,), -1, dtype=torch.int64, device=dev)
        self.nfail = torch.zeros(R, dtype=torch.int64, device=dev)
        self.rec_on = bool(rec_on)
        self.ref = None if ref is None else torch.as_tensor(np.asarray(ref)).to(dev, self.dtype)
        if self.rec_on:
            self.recs = (torch.empty((R, T), dtype=torch.int64, device=dev),) + tuple(
                torch.empty((R, T), dtype=f64, device=dev) for _ in range(5))

    # ---- stepping -------------------------------------------------------------------------
    def advance(self, idx: np.ndarray, t_base: int) -> None:
        """Advance every run by `idx.shape[1]` steps with the (R, T, b) sampled indices."""
        torch = self.torch
        if idx.shape[0] != self.R:
            raise ValueError(f"indices for {idx.shape[0]} runs, engine holds {self.R}")
        it = torch.from_numpy(np.ascontiguousarray(idx))
        if self.device.type == "cuda":
            it = it.pin_memory().to(self.device, non_blocking=True)
        if self.name == "triton":
            self._advance_triton(it[:, :, 0].contiguous(), t_base)
        else:
            for t in range(idx.shape[1]):
                self._step(it[:, t, :], t_base + t)

    def _advance_triton(self, idx, t_base: int) -> None:
        kernel = _triton_kernel()
        T = idx.shape[1]
        MP, DP = _pow2(self.m), _pow2(self.d)
        EP = _pow2(max(1, self.gthr.shape[0]))
        # one warp per 16 KiB of a run's weights (2 for float32 at d=50, 100 neurons: 1.9x
        # faster than 4 on an H200; fewer warps spill registers, more wait on each other)
        warps = self.warps or max(1, min(8, MP * DP * self.W.element_size() // 16384))
        kernel[(self.R,)](self.X, self.y, self.xx, self.W, idx, self.sums, self.counts, self.last, self.nfail,
                          self.gthr, self.params, T, t_base, self.gthr.shape[0], self.kp,
                          M=self.m, D=self.d, MP=MP, DP=DP, EP=EP, num_warps=warps)

    def _step(self, i, t: int) -> None:
        """One step of every run; `i` is (R, b) sampled indices."""
        torch = self.torch
        b = i.shape[1]
        x = self.X[i]                                  # (R, b, d)
        yb = self.y[i]                                 # (R, b)
        if self.rec_on:
            self._record_state(t)
        pre = torch.bmm(x, self.W.transpose(1, 2))     # (R, b, m)
        pos = pre > 0
        sp = torch.where(pos, self.one, self.alpha_t)
        out = (sp * pre) @ self.sign                   # σ(p) = σ'(p)·p
        z = (yb * out).double()
        g = torch.sigmoid(-z)
        loss = torch.logaddexp(torch.zeros_like(z), -z)
        s = sp.sum(-1).double()
        s2 = (sp * sp).sum(-1).double()
        xx = self.xx[i]
        spp, spn = sp[..., :self.kp], sp[..., self.kp:]
        shared = ((spp == spp[..., :1]).all(-1) & (spn == spn[..., :1]).all(-1)).all(-1)
        coef = ((self.lr / b) * g * self.y64[i]).to(self.dtype)  # (R, b)
        upd = torch.bmm((coef.unsqueeze(-1) * sp * self.sign).transpose(1, 2), x)
        self.W += upd
        stats = torch.stack([g, g * s, g * z, g * g * xx * s2, loss], dim=-1).mean(1)  # (R, 5)
        self.sums += stats
        self.counts += stats[:, :1] > self.gthr
        fail = ~shared
        self.last = torch.where(fail, t, self.last)
        self.nfail += fail
        if self.rec_on:
            ri, rz, rg, rs = self.recs[:4]
            ri[:, t], rz[:, t], rg[:, t], rs[:, t] = i[:, 0], z[:, 0], g[:, 0], s[:, 0]

    def _record_state(self, t: int) -> None:
        W = self.W.double()
        self.recs[4][:, t] = (W * W).sum((1, 2))
        if self.ref is not None:
            self.recs[5][:, t] = ((W @ self.ref.double()) * self.sign.double()).sum(-1)

    # ---- reading state back -----------------------------------------------------------------
    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        W = self.W.double().cpu().numpy()
        return W[:, :self.kp].copy(), W[:, self.kp:].copy()

    def bookkeeping(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        state = self.torch.stack([self.last, self.nfail], dim=1)
        return self.sums.cpu().numpy().copy(), self.counts.cpu().numpy().copy(), state.cpu().numpy().copy()

    def records(self):
        return tuple(r.cpu().numpy() for r in self.recs) if self.rec_on else None

    def snapshot_stats(self, data, prev, block: int = 1024):
        """Per run on the device (float64): training loss, error, pattern flips since `prev`."""
        torch = self.torch
        loss, err, flips, patterns = [], [], [], []
        sign = self.sign.double()
        for j, lo in enumerate(range(0, self.R, block)):
            W = self.W[lo:lo + block].double()
            P = torch.matmul(self.X64, W.transpose(1, 2))      # (B, n, m)
            pos = P > 0
            out = (torch.where(pos, P, self.alpha * P) * sign).sum(-1)
            z = self.y64 * out
            loss.append(torch.logaddexp(torch.zeros_like(z), -z).mean(-1))
            err.append((z <= 0).double().mean(-1))
            flips.append((pos != prev[j]).sum((1, 2)) if prev is not None else torch.zeros(W.shape[0], dtype=torch.int64, device=self.device))
            patterns.append(pos)
        cat = lambda a: torch.cat(a).cpu().numpy()  # noqa: E731
        return cat(loss), cat(err), cat(flips), patterns
