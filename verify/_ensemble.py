"""Ensembles: R independent SGD runs advanced together (THEORY.md §0, §2, §4).

Each run of an ensemble is exactly the run `train(data, replace(config, seed=s))` would make:
the same update of THEORY.md §0 (`w_j += η g_t y σ'(⟨w_j,x⟩) x`, `u_j −= η g_t y σ'(⟨u_j,x⟩) x`,
`σ'(0) = α`), its own initialization (`init_weights(…, seed=s)`), its own sample order
(`IndexStream(…, seed=s)`), the same data. What the ensemble adds is only *how* the runs are
scheduled: on the CPU one compiled kernel advances all runs of a block of steps, runs spread
over the cores (numba `prange`). Batch-1 SGD without per-step records uses `sgd1_blocks`, which
keeps each run's neurons in blocks of 8 whose update coefficients and dot-product accumulators
stay in vector registers while it sweeps the weights, and fuses the update of step t with the
forward pass of step t + 1; every other case runs the single-run kernel `sgd_chunk` itself.
Both perform, per run, exactly `sgd_chunk`'s floating-point operations in its order (no sum is
reassociated), so the CPU results are bit-for-bit those of separate `train` calls — running
sums, ε counts, shared-σ' state, snapshots and all. The snapshot statistics (training loss,
error, pattern flips) are the same BLAS products and numpy reductions as `train`'s, one run at
a time (see `NumbaEngine.snapshot_stats`).

`dtype="float32"` (batch-1 SGD without per-step records, opt-in) runs `sgd1_blocks32`: float32
weights, data and per-neuron arithmetic (twice the numbers per vector instruction, half the
memory traffic; the sum N(x) over neurons reassociated), float64 z, g, ℓ and running sums, as
on a GPU. It is not `train`'s bits: it equals the float64 path to float32 rounding over short
horizons and in distribution over long ones (tested), like the GPU engines below. Snapshot
weights are the float32 weights (exactly, as float64) and their statistics are computed from them in
float64; `Run.init` is the float64 initialization they were rounded from.

On a GPU (`device="cuda"`) the runs advance in PyTorch or in a fused Triton kernel
(`verify._ensemble_torch`); there the results equal the CPU path to floating-point tolerance
(float32 weights, float64 running sums) over a horizon — σ' is discontinuous, so different
summation orders eventually separate a trajectory (see that module).

Memory: the sampled indices are generated block by block (at most `INDEX_BUDGET` indices in
flight for all runs together), so memory does not grow with T. What a run keeps is what a
single run keeps: the running sums, counts, shared-σ' state and `(snapshots+2)` weight
snapshots, i.e. `R·(snapshots+2)·m·d` floats in all — choose few snapshots for large R —
plus its last activation pattern as bits (n·⌈m/64⌉ words) for the flip counts.
Per-step arrays exist only when `config.record_steps` asks for them (then `R·T` values each).

Why blocks of steps may be cut anywhere: `IndexStream.take` is split-invariant (drawing a
block of a+b indices equals drawing a then b; the test suite checks it), so the ensemble
may use block sizes different from `train`'s and still replay each run's exact sample order.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Callable, Sequence

import numba as nb
import numpy as np

from . import __version__
from ._data import Dataset
from ._errors import InputError
from ._io import atomic_write_json
from ._kernels import LANES, N_SUMS, run_vectorized, sgd1_blocks, sgd1_blocks32, sgd_chunk
from ._network import Network
from ._train import (SUM_NAMES, IndexStream, Run, TrainConfig, Trajectory, _unit_reference, init_weights,
                     load_run, save_run, single_threaded_blas, snapshot_steps)

__all__ = ["train_ensemble", "save_ensemble", "load_ensemble", "ensemble_summary",
           "INDEX_BUDGET", "ENSEMBLE_FORMAT"]

# sampled indices held at once for all runs (int64 on the CPU): 2^22 ≈ 32 MiB
INDEX_BUDGET = 1 << 22
# on a GPU, longer blocks (2^26 int32 ≈ 256 MiB) so that one kernel launch covers many steps
GPU_INDEX_BUDGET = 1 << 26
# snapshot weights beyond this many bytes are refused with a clear error instead of an OOM
SNAPSHOT_BYTES_LIMIT = 8 << 30
# runs per task of the snapshot statistics (≈ 0.4 ms each at n=1000, d=50, m=100)
STATS_SLICE = 16
ENSEMBLE_FORMAT = "verify.ensemble/1"


@nb.njit(cache=True, parallel=True)
def ensemble_chunk(X, y, Wp, Wn, alpha, lr, idx, ref, sums, gthr, counts, state,
                   rec_on, t_base, rec_idx, rec_z, rec_g, rec_s, rec_norm2, rec_align, xx_all):
    """Advance every run r by `idx.shape[1]` steps: `sgd_chunk` on run r's slices, runs in parallel.

    Args:
        Wp, Wn: (R, k, d) weights of all runs (updated in place).
        idx: (R, T, b) sampled indices of each run.
        sums, counts, state: (R, N_SUMS), (R, E), (R, 2) per-run bookkeeping (see `sgd_chunk`).
        rec_*: (R, T_total) per-step arrays when `rec_on`, else (R, 0).
        xx_all: ‖x_i‖² of every training point (shared by all runs).
    """
    R = Wp.shape[0]
    for r in nb.prange(R):
        sgd_chunk(X, y, Wp[r], Wn[r], alpha, lr, idx[r], ref, sums[r], gthr, counts[r], state[r],
                  rec_on, t_base, rec_idx[r], rec_z[r], rec_g[r], rec_s[r], rec_norm2[r], rec_align[r], xx_all)


class NumbaEngine:
    """The CPU engine: all runs' state as (R, …) float64 arrays, advanced by `ensemble_chunk`.

    Engines share one small interface with `verify._ensemble_torch.TorchEngine`: `advance(idx,
    t_base)`, `weights()`, `bookkeeping()`, `records()`, `snapshot_stats(data, prev)`.
    """

    name = "numba"
    index_dtype = np.int64

    def __init__(self, X, y, Wp, Wn, alpha, lr, ref, gthr, rec_on, T):
        R = Wp.shape[0]
        self.X, self.y = np.ascontiguousarray(X), np.ascontiguousarray(y)
        # computed exactly as `train` computes it, so the sums match bit for bit
        self.xx_all = np.einsum("ij,ij->i", self.X, self.X)
        self.Wp = np.array(Wp, dtype=np.float64, order="C")  # a copy: the caller keeps the init
        self.Wn = np.array(Wn, dtype=np.float64, order="C")
        self.alpha, self.lr = float(alpha), float(lr)
        d = self.X.shape[1]
        self.ref = ref.reshape(1, d) if ref is not None else np.empty((0, d))
        self.gthr = gthr
        self.sums = np.zeros((R, N_SUMS))
        self.counts = np.zeros((R, gthr.shape[0]), dtype=np.int64)
        self.state = np.tile(np.array([-1, 0], dtype=np.int64), (R, 1))
        self.rec_on = bool(rec_on)
        L = T if rec_on else 0
        self.recs = (np.empty((R, L), np.int64), np.empty((R, L)), np.empty((R, L)), np.empty((R, L)),
                     np.empty((R, L)), np.empty((R, L)))

    def advance(self, idx: np.ndarray, t_base: int) -> None:
        ensemble_chunk(self.X, self.y, self.Wp, self.Wn, self.alpha, self.lr, idx, self.ref, self.sums,
                       self.gthr, self.counts, self.state, self.rec_on, t_base, *self.recs, self.xx_all)

    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        return self.Wp.copy(), self.Wn.copy()

    def bookkeeping(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.sums.copy(), self.counts.copy(), self.state.copy()

    def records(self):
        return self.recs

    def snapshot_stats(self, data: Dataset, prev):
        """Per run: training loss, error, pattern flips since `prev`, the same bits as `train` records.

        `_train_stats` computes `P = X W₊ᵀ`, `Q = X W₋ᵀ` (BLAS), `σ(P).sum(1) − σ(Q).sum(1)`,
        the mean of `logaddexp(0, −z)` and of `z ≤ 0`, and the pattern `[P > 0, Q > 0]`. Here
        the two products are the same BLAS calls on the same (n, d) and (k, d) arrays, and the
        sums and means the same numpy reductions over arrays of the same shape, so they round
        the same way (BLAS results depend on how a product is blocked, which is why the runs'
        products are not merged into one); `_activate` only replaces `np.where` (σ is one
        comparison and at most one product per entry, exact either way) and keeps each pattern
        as bits, n·⌈m/64⌉ words per run instead of n·m bools, counting the flips as it goes.
        Runs are spread over one thread per core, each calling single-threaded BLAS: many
        small products with multi-threaded BLAS on a busy machine spend their time spinning
        (measured: 34 ms against 4 ms per run at n=1000, d=50, m=100 on 2 loaded cores).
        """
        R = self.Wp.shape[0]
        X = np.asarray(data.X, dtype=np.float64)  # what `Network.preactivations` multiplies
        y = data.y
        n, k = X.shape[0], self.Wp.shape[1]
        words = -(-(k + self.Wn.shape[1]) // 64)
        loss, err = np.empty(R), np.empty(R)
        flips = np.zeros(R, dtype=np.int64)
        patterns = np.zeros((R, n, words), dtype=np.uint64)
        none = np.zeros((0, words), dtype=np.uint64)

        def one(lo: int, hi: int) -> None:
            for r in range(lo, hi):
                P = X @ self.Wp[r].T
                Q = X @ self.Wn[r].T
                flips[r] = _activate(P, Q, self.alpha, patterns[r], none if prev is None else prev[r])
                z = y * (P.sum(1) - Q.sum(1))
                loss[r], err[r] = float(np.mean(np.logaddexp(0.0, -z))), float(np.mean(z <= 0))

        workers = max(1, min(nb.get_num_threads(), R))
        with single_threaded_blas():
            if workers == 1:
                one(0, R)
            else:
                # small slices handed out as threads free up: on a shared machine one core may be slower
                step = max(1, min(STATS_SLICE, R // workers))
                with ThreadPoolExecutor(workers) as pool:
                    for f in [pool.submit(one, lo, min(R, lo + step)) for lo in range(0, R, step)]:
                        f.result()
        return loss, err, flips, patterns


@nb.njit(cache=True, inline="always")
def _pattern_bits(P, bits, offset):
    # bits[i] |= [P[i, j] > 0] at bit position offset + j (word (offset + j) // 64); each word's
    # bits are gathered from shift 0 and shifted once (the form the compiler vectorizes)
    n, k = P.shape
    for w in range(offset // 64, (offset + k + 63) // 64):
        j0, j1 = max(0, 64 * w - offset), min(k, 64 * w + 64 - offset)
        shift = np.uint64(offset + j0 - 64 * w)
        for i in range(n):
            row = P[i]
            word = 0
            for j in range(j1 - j0):
                word |= (1 if row[j0 + j] > 0.0 else 0) << j
            bits[i, w] |= np.uint64(word) << shift


@nb.njit(cache=True, inline="always")
def _leaky_in_place(P, alpha):
    # σ(p) = p if p > 0 else α·p, entry by entry what `np.where(P > 0, P, α * P)` gives
    n, k = P.shape
    for i in range(n):
        row = P[i]
        for j in range(k):
            v = row[j]
            row[j] = v if v > 0.0 else alpha * v


@nb.njit(cache=True, inline="always")
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@nb.njit(cache=True, nogil=True)
def _activate(P, Q, alpha, bits, prev):
    """σ of the preactivations in place, their pattern as bits, and its flips since `prev`.

    Bit c of row i (bit c mod 64 of word c // 64 of `bits[i]`, zero on entry) is [P_ic > 0]
    for c < k₊ and [Q_i,c−k₊ > 0] after: `_train_stats`'s concatenated pattern. Returns the
    number of bits that differ from `prev` (0 if `prev` is empty).
    """
    _pattern_bits(P, bits, 0)
    _pattern_bits(Q, bits, P.shape[1])
    _leaky_in_place(P, alpha)
    _leaky_in_place(Q, alpha)
    flips = 0
    if prev.shape[0] > 0:
        for i in range(bits.shape[0]):
            for w in range(bits.shape[1]):
                flips += _popcount(bits[i, w] ^ prev[i, w])
    return flips


@nb.njit(cache=True, parallel=True)
def ensemble_blocks_chunk(X, y, Wb, kp, m, alpha, lr, idx, sums, gthr, counts, state, t_base, xx_all):
    """Advance every run by `idx.shape[1]` batch-1 steps (`sgd1_blocks` on its blocked weights), runs in parallel.

    Args:
        Wb: (R, ⌈m/LANES⌉, d, LANES) float64 weights of all runs (see `sgd1_blocks`).
        idx: (R, T) sampled indices.
        sums, counts, state: (R, N_SUMS), (R, E), (R, 2) per-run bookkeeping.
    """
    for r in nb.prange(Wb.shape[0]):
        sgd1_blocks(X, y, Wb[r], kp, m, alpha, lr, idx[r], sums[r], gthr, counts[r], state[r], t_base, xx_all)


@nb.njit(cache=True, parallel=True)
def ensemble_blocks32_chunk(X32, y, Wb, kp, m, alpha, lr, idx, sums, gthr, counts, state, t_base, xx_all):
    """`ensemble_blocks_chunk` with float32 weights and data (`sgd1_blocks32`)."""
    for r in nb.prange(Wb.shape[0]):
        sgd1_blocks32(X32, y, Wb[r], kp, m, alpha, lr, idx[r], sums[r], gthr, counts[r], state[r], t_base, xx_all)


class BlocksEngine(NumbaEngine):
    """The CPU engine for batch-1 SGD without per-step records (the statistics-over-seeds case).

    Each run's neurons are kept in blocks of `LANES`, (⌈m/LANES⌉, d, LANES), so that
    `sgd1_blocks` holds a block's accumulators in vector registers. In float64 (the default)
    it performs exactly the operations of `sgd_chunk`, so the results are the same bits
    (tested against `train`). With `dtype="float32"` the weights and the per-neuron arithmetic
    are float32 (`sgd1_blocks32`: twice the numbers per vector, half the memory traffic) and
    the running sums float64: not `train`'s bits, the same dynamics to float32 rounding.
    """

    def __init__(self, X, y, Wp, Wn, alpha, lr, ref, gthr, rec_on, T, dtype: str = "float64"):
        super().__init__(X, y, Wp, Wn, alpha, lr, ref, gthr, rec_on, T)
        if dtype not in ("float64", "float32"):
            raise InputError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
        self.dtype = dtype
        R, self.kp, d = self.Wp.shape
        self.m = self.kp + self.Wn.shape[1]
        nblk = -(-self.m // LANES)
        W = np.zeros((R, nblk * LANES, d), dtype=dtype)  # neurons beyond m: zero padding
        W[:, :self.kp], W[:, self.kp:self.m] = self.Wp, self.Wn
        self.Wb = np.ascontiguousarray(W.reshape(R, nblk, LANES, d).transpose(0, 1, 3, 2))
        if dtype == "float32":
            self.Wp[...], self.Wn[...] = W[:, :self.kp], W[:, self.kp:self.m]  # the weights it starts from
            self.X32 = self.X.astype(np.float32)

    def advance(self, idx: np.ndarray, t_base: int) -> None:
        kernel, X = ((ensemble_blocks32_chunk, self.X32) if self.dtype == "float32"
                     else (ensemble_blocks_chunk, self.X))
        run_vectorized(kernel, X, self.y, self.Wb, self.kp, self.m, self.alpha, self.lr,
                       np.ascontiguousarray(idx[:, :, 0]), self.sums, self.gthr, self.counts, self.state,
                       t_base, self.xx_all)

    def _sync(self) -> None:
        # the (R, k, d) float64 weights of the base class, from the blocked ones
        R, nblk, d, _ = self.Wb.shape
        W = self.Wb.transpose(0, 1, 3, 2).reshape(R, nblk * LANES, d)
        self.Wp[...] = W[:, :self.kp]
        self.Wn[...] = W[:, self.kp:self.m]

    def weights(self):
        self._sync()
        return super().weights()

    def snapshot_stats(self, data: Dataset, prev):
        self._sync()
        return super().snapshot_stats(data, prev)


def _initial_weights(data: Dataset, config: TrainConfig, seeds: list[int], init) -> tuple[np.ndarray, np.ndarray]:
    """(R, k, d) initial weights: drawn from each seed, or given (shared or one per run)."""
    k, d, R = config.width, data.d, len(seeds)
    if init is None:
        Wp = np.empty((R, k, d))
        Wn = np.empty((R, k, d))
        for r, s in enumerate(seeds):
            Wp[r], Wn[r] = init_weights(k, d, config.init_scale, s)
        return Wp, Wn
    if isinstance(init, Network):
        pairs = [(init.W_pos, init.W_neg)] * R
    elif isinstance(init, tuple) and len(init) == 2 and np.ndim(init[0]) == 3:
        pairs = list(zip(np.asarray(init[0]), np.asarray(init[1])))
    elif isinstance(init, tuple) and len(init) == 2:
        pairs = [init] * R
    else:
        pairs = [(w.W_pos, w.W_neg) if isinstance(w, Network) else tuple(w) for w in init]
    if len(pairs) != R:
        raise InputError(f"init gives {len(pairs)} initial networks for {R} runs")
    Wp = np.empty((R, k, d))
    Wn = np.empty((R, k, d))
    for r, (a, b) in enumerate(pairs):
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        if a.shape != (k, d) or b.shape != (k, d):
            raise InputError(f"initial weights must be ({k}, {d}) per sign, got {a.shape} and {b.shape}")
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            raise InputError(f"initial weights of run {r} are not finite")
        Wp[r], Wn[r] = a, b
    return Wp, Wn


def _check_seeds(seeds) -> list[int]:
    try:
        out = [int(s) for s in seeds]
    except (TypeError, ValueError):
        raise InputError("seeds must be a sequence of integers ≥ 0") from None
    if not out:
        raise InputError("an ensemble needs at least one seed")
    if any(s < 0 or s != t for s, t in zip(out, seeds)):
        raise InputError("seeds must be integers ≥ 0")
    return out


def make_engine(device: str, backend: str | None, dtype: str | None, X, y, Wp, Wn, config: TrainConfig,
                ref, gthr):
    """The engine for `device`/`backend`: numba on the CPU, PyTorch or Triton otherwise."""
    if backend not in (None, "numba", "torch", "triton"):
        raise InputError(f"backend must be 'numba', 'torch' or 'triton', got {backend!r}")
    if device == "cpu" and backend in (None, "numba"):
        if dtype not in (None, "float64", "float32"):
            raise InputError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
        args = (X, y, Wp, Wn, config.alpha, config.lr, ref, gthr, config.record_steps, config.steps)
        # batch-1 SGD without per-step records (the statistics-over-seeds case): vectorized across neurons
        if config.batch == 1 and not config.record_steps:
            return BlocksEngine(*args, dtype=dtype or "float64")
        if dtype == "float32":
            raise InputError("float32 on the CPU is for batch-1 SGD without per-step records; "
                             "minibatches and --record-steps run in float64")
        return NumbaEngine(*args)
    if backend == "numba":
        raise InputError(f"the numba backend runs on the CPU only, not on {device!r}")
    from ._ensemble_torch import TorchEngine

    return TorchEngine(X, y, Wp, Wn, config.alpha, config.lr, ref, gthr, config.record_steps, config.steps,
                       device=device, backend=backend, dtype=dtype, batch=config.batch)


def train_ensemble(data: Dataset, config: TrainConfig, seeds: Sequence[int], *, device: str = "cpu",
                   init=None, reference=None, backend: str | None = None, dtype: str | None = None,
                   progress: Callable[[int], None] | None = None) -> list[Run]:
    """Train one run per seed, all together; run r equals `train(data, replace(config, seed=seeds[r]))`.

    Args:
        data: training set, shared by all runs.
        config: hyper-parameters; its `seed` is replaced by each of `seeds`.
        seeds: one seed per run (seeds the run's initialization and its sample order).
        device: "cpu" (numba, bit-identical to `train` in float64) or a PyTorch device such as "cuda".
        init: None (each run draws its own from its seed), one `Network` / `(W_pos, W_neg)` shared
            by every run, `(W_pos, W_neg)` of shape (R, k, d), or a sequence of R networks.
        reference: direction for the recorded alignment, as in `train`.
        backend: "numba" (CPU only), "torch" (eager, R runs as batched matrix products) or
            "triton" (fused kernel, batch-1 SGD without per-step records); None picks numba on
            the CPU and Triton (else PyTorch) elsewhere.
        dtype: weight precision, "float64" or "float32" (default float32 on a GPU, float64 on the
            CPU); running sums are always float64. On the CPU, float32 (batch-1 SGD without
            per-step records only) runs `sgd1_blocks32` and is not bit-identical to `train`.
        progress: called with the number of run-steps just done.

    Returns:
        One `Run` per seed, in the order of `seeds`. `Run.seconds` is the ensemble's wall time
        divided by R; `Run.meta["ensemble"]` records R, the run's index, device, backend and dtype.

    Raises:
        InputError: bad config, seeds or init; snapshots that would not fit in memory; a run
            whose weights became non-finite (its seeds are named).
    """
    seeds = _check_seeds(seeds)
    config.validate(data.n)
    configs = [replace(config, seed=s).validate(data.n) for s in seeds]
    R, T, k, d = len(seeds), int(config.steps), config.width, data.d
    snaps = snapshot_steps(T, config.snapshots)
    S = snaps.shape[0]
    snap_bytes = 2 * R * S * k * d * 8
    if snap_bytes > SNAPSHOT_BYTES_LIMIT:
        raise InputError(f"{R} runs × {S} snapshots of {2 * k}×{d} weights need {snap_bytes / 2**30:.1f} GiB; "
                         f"ask for fewer snapshots (--snapshots) or fewer runs")
    if config.record_steps and R * T * 6 * 8 > SNAPSHOT_BYTES_LIMIT:
        raise InputError(f"per-step records of {R} runs × {T} steps would not fit in memory")
    Wp0, Wn0 = _initial_weights(data, config, seeds, init)
    ref = _unit_reference(data, reference)
    eps = np.asarray(config.eps, dtype=np.float64)
    gthr = -np.expm1(-eps)  # ℓ > ε ⇔ g > 1 − e^{−ε}
    engine = make_engine(device, backend, dtype, data.X, data.y, Wp0, Wn0, config, ref, gthr)
    streams = [IndexStream(data.n, config.sampling, config.batch, s) for s in seeds]
    b = streams[0].b
    snap_Wp = np.empty((R, S, k, d))
    snap_Wn = np.empty((R, S, k, d))
    snap_sums = np.empty((R, S, N_SUMS))
    snap_loss = np.empty((R, S))
    snap_err = np.empty((R, S))
    snap_flips = np.zeros((R, S), dtype=np.int64)
    snap_fail = np.empty((R, S), dtype=np.int64)
    on_gpu = engine.name != "numba" and str(device).startswith("cuda")
    block_max = max(1, (GPU_INDEX_BUDGET if on_gpu else INDEX_BUDGET) // (R * b))
    # the numba kernel's threads own the cores; a GPU engine leaves them free to draw indices
    workers = min(16, os.cpu_count() or 1)
    pool = ThreadPoolExecutor(workers) if on_gpu and R >= 256 and workers > 1 else None
    prev = None
    t = 0
    t_start = time.perf_counter()
    try:
        for s_i, target in enumerate(snaps):
            while t < target:
                todo = int(min(block_max, target - t))
                idx = np.empty((R, todo, b), dtype=engine.index_dtype)
                _draw(streams, idx, pool, workers)
                engine.advance(idx, t)
                t += todo
                if progress is not None:
                    progress(todo * R)
            Wp, Wn = engine.weights()
            _check_finite(Wp, Wn, seeds)
            snap_Wp[:, s_i], snap_Wn[:, s_i] = Wp, Wn
            sums, _, state = engine.bookkeeping()
            snap_sums[:, s_i] = sums
            snap_fail[:, s_i] = state[:, 0]
            snap_loss[:, s_i], snap_err[:, s_i], flips, prev = engine.snapshot_stats(data, prev)
            if s_i > 0:
                snap_flips[:, s_i] = flips
    finally:
        if pool is not None:
            pool.shutdown()
    seconds = time.perf_counter() - t_start
    sums, counts, state = engine.bookkeeping()
    recs = engine.records() if config.record_steps else None
    meta_base = {"data_source": data.source, "data_sha256": data.sha256(), "n": data.n, "d": data.d,
                 "tool_version": __version__}
    dtype_name = str(getattr(engine, "dtype", "float64")).removeprefix("torch.")
    runs = []
    for r in range(R):
        traj = Trajectory(
            steps=T, sums={key: float(v) for key, v in zip(SUM_NAMES, sums[r])}, eps=eps,
            loss_gt_eps=counts[r], shared_last_fail=int(state[r, 0]), shared_fail_count=int(state[r, 1]),
            snap_steps=snaps, snap_W_pos=snap_Wp[r], snap_W_neg=snap_Wn[r], snap_sums=snap_sums[r],
            snap_train_loss=snap_loss[r], snap_train_error=snap_err[r], snap_pattern_flips=snap_flips[r],
            snap_shared_last_fail=snap_fail[r],
        )
        if recs is not None:
            traj.step_idx, traj.step_z, traj.step_g, traj.step_s, traj.step_norm2, traj.step_align = (
                a[r] for a in recs)
            if ref is None:
                traj.step_align = None
        meta = dict(meta_base)
        meta["ensemble"] = {"runs": R, "index": r, "device": device, "backend": engine.name,
                            "dtype": dtype_name, "seconds_total": seconds}
        runs.append(Run(config=configs[r], data=data, init=Network(Wp0[r], Wn0[r], config.alpha),
                        final=Network(Wp[r], Wn[r], config.alpha), trajectory=traj, reference=ref,
                        seconds=seconds / R, meta=meta))
    return runs


def _draw(streams: list[IndexStream], idx: np.ndarray, pool, workers: int) -> None:
    """Fill idx[r] with the next block of run r's sample order (in slices of runs on a pool)."""
    todo = idx.shape[1]

    def fill(lo: int, hi: int) -> None:
        for r in range(lo, hi):
            idx[r] = streams[r].take(todo)

    if pool is None:
        fill(0, len(streams))
        return
    R, w = len(streams), workers
    bounds = [(i * R // w, (i + 1) * R // w) for i in range(w)]
    for f in [pool.submit(fill, lo, hi) for lo, hi in bounds]:
        f.result()


def _check_finite(Wp: np.ndarray, Wn: np.ndarray, seeds: list[int]) -> None:
    ok = np.isfinite(Wp).all(axis=(1, 2)) & np.isfinite(Wn).all(axis=(1, 2))
    if not ok.all():
        bad = [seeds[r] for r in np.flatnonzero(~ok)]
        raise InputError(f"training diverged (weights became non-finite) for seeds {bad[:8]}"
                         f"{' …' if len(bad) > 8 else ''}; lower the step size")


def ensemble_summary(runs: list[Run]) -> dict:
    """Across runs: mean / min / max of final training loss, error and S_T, plus throughput."""
    rows = [r.summary() for r in runs]
    out: dict = {"runs": len(runs), "seeds": [r.config.seed for r in runs]}
    for key in ("train_loss", "train_error", "S_T"):
        v = np.array([row[key] for row in rows])
        out[key] = {"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max())}
    total = runs[0].meta.get("ensemble", {}).get("seconds_total", sum(r.seconds for r in runs))
    out["seconds"] = float(total)
    out["steps"] = runs[0].trajectory.steps
    out["run_steps_per_second"] = float(len(runs) * runs[0].trajectory.steps / total) if total > 0 else None
    return out


def save_ensemble(folder, runs: list[Run]) -> list:
    """Write each run as `run-0000.npz`, `run-0001.npz`, … in `folder` (ordinary run files) plus `ensemble.json`.

    The manifest lists the seeds, the files and the summary; it is written last, so a folder
    with a manifest holds every run it names. Returns the run paths.
    """
    from pathlib import Path

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder")
    width = max(4, len(str(len(runs) - 1)))
    paths = [save_run(folder / f"run-{i:0{width}d}.npz", run) for i, run in enumerate(runs)]
    manifest = {"format": ENSEMBLE_FORMAT, "runs": [p.name for p in paths],
                "seeds": [r.config.seed for r in runs], "config": runs[0].config.to_dict(),
                "summary": ensemble_summary(runs)}
    atomic_write_json(folder / "ensemble.json", manifest)
    return paths


def load_ensemble(folder) -> list[Run]:
    """Read the runs a `save_ensemble` folder names, in order."""
    import json
    from pathlib import Path

    folder = Path(folder)
    mpath = folder / "ensemble.json"
    if not mpath.is_file():
        raise InputError(f"{folder}: no ensemble.json (not an ensemble folder)")
    try:
        manifest = json.loads(mpath.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{mpath}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != ENSEMBLE_FORMAT:
        raise InputError(f"{mpath}: not a verify ensemble manifest (expected format {ENSEMBLE_FORMAT})")
    names = manifest.get("runs")
    if not isinstance(names, list) or not all(isinstance(n, str) and "/" not in n for n in names):
        raise InputError(f"{mpath}: damaged run list")
    return [load_run(folder / n) for n in names]
