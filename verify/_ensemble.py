"""Ensembles: R independent SGD runs advanced together (THEORY.md §0, §2, §4).

Each run of an ensemble is exactly the run `train(data, replace(config, seed=s))` would make:
the same update of THEORY.md §0 (`w_j += η g_t y σ'(⟨w_j,x⟩) x`, `u_j −= η g_t y σ'(⟨u_j,x⟩) x`,
`σ'(0) = α`), its own initialization (`init_weights(…, seed=s)`), its own sample order
(`IndexStream(…, seed=s)`), the same data. What the ensemble adds is only *how* the runs are
scheduled: on the CPU one compiled kernel advances all runs of a block of steps, runs spread
over the cores (numba `prange`). Batch-1 SGD without per-step records uses `sgd1_columns`, which
keeps each run's weights transposed so that the m neurons are the SIMD dimension and fuses the
update of step t with the forward pass of step t + 1; every other case runs the single-run
kernel `sgd_chunk` itself. Both perform, per run, exactly `sgd_chunk`'s floating-point operations
in its order (no sum is reassociated), so the CPU results are bit-for-bit those of separate
`train` calls — running sums, ε counts, shared-σ' state, snapshots and all. On a GPU
(`device="cuda"`) the runs advance in PyTorch or in a fused Triton kernel
(`verify._ensemble_torch`); there the results equal the CPU path to floating-point tolerance
(float32 weights, float64 running sums) over a horizon — σ' is discontinuous, so different
summation orders eventually separate a trajectory (see that module).

Memory: the sampled indices are generated block by block (at most `INDEX_BUDGET` indices in
flight for all runs together), so memory does not grow with T. What a run keeps is what a
single run keeps: the running sums, counts, shared-σ' state and `(snapshots+2)` weight
snapshots, i.e. `R·(snapshots+2)·m·d` floats in all — choose few snapshots for large R.
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
from ._kernels import N_SUMS, sgd1_columns, sgd_chunk
from ._network import Network
from ._train import (SUM_NAMES, IndexStream, Run, TrainConfig, Trajectory, _train_stats, _unit_reference,
                     init_weights, load_run, save_run, single_threaded_blas, snapshot_steps)

__all__ = ["train_ensemble", "save_ensemble", "load_ensemble", "ensemble_summary",
           "INDEX_BUDGET", "ENSEMBLE_FORMAT"]

# sampled indices held at once for all runs (int64 on the CPU): 2^22 ≈ 32 MiB
INDEX_BUDGET = 1 << 22
# on a GPU, longer blocks (2^26 int32 ≈ 256 MiB) so that one kernel launch covers many steps
GPU_INDEX_BUDGET = 1 << 26
# snapshot weights beyond this many bytes are refused with a clear error instead of an OOM
SNAPSHOT_BYTES_LIMIT = 8 << 30
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
        """Per run: training loss, error, pattern flips since `prev` (the same code as `train`).

        Runs are spread over one thread per core, each calling single-threaded BLAS: many
        small products with multi-threaded BLAS on a busy machine spend their time spinning
        (measured: 34 ms against 4 ms per run at n=1000, d=50, m=100 on 2 loaded cores). The
        products split no sums, so the results are the same bits either way (tested).
        """
        R = self.Wp.shape[0]
        loss, err = np.empty(R), np.empty(R)
        flips = np.zeros(R, dtype=np.int64)
        patterns = [None] * R

        def one(lo: int, hi: int) -> None:
            for r in range(lo, hi):
                loss[r], err[r], pat = _train_stats(Network(self.Wp[r], self.Wn[r], self.alpha), data)
                if prev is not None:
                    flips[r] = int(np.count_nonzero(pat != prev[r]))
                patterns[r] = pat

        workers = max(1, min(nb.get_num_threads(), R))
        with single_threaded_blas():
            if workers == 1:
                one(0, R)
            else:
                with ThreadPoolExecutor(workers) as pool:
                    for f in [pool.submit(one, i * R // workers, (i + 1) * R // workers) for i in range(workers)]:
                        f.result()
        return loss, err, flips, patterns


@nb.njit(cache=True, parallel=True)
def ensemble_columns_chunk(X, y, Wt, kp, alpha, lr, idx, sums, gthr, counts, state, t_base, xx_all):
    """Advance every run by `idx.shape[1]` batch-1 steps (`sgd1_columns` on its (d, m) weights), runs in parallel.

    Args:
        Wt: (R, d, m) transposed weights, columns < kp positive neurons, the rest negative.
        idx: (R, T) sampled indices.
        sums, counts, state: (R, N_SUMS), (R, E), (R, 2) per-run bookkeeping.
    """
    for r in nb.prange(Wt.shape[0]):
        sgd1_columns(X, y, Wt[r], kp, alpha, lr, idx[r], sums[r], gthr, counts[r], state[r], t_base, xx_all)


class ColumnsEngine(NumbaEngine):
    """The CPU engine for batch-1 SGD without per-step records (the statistics-over-seeds case).

    Each run's weights are kept transposed, (d, m) with the m = 2k neurons contiguous, so that
    `sgd1_columns` vectorizes across neurons; it performs exactly the operations of `sgd_chunk`,
    so the results are the same bits (tested against `train`).
    """

    def __init__(self, X, y, Wp, Wn, alpha, lr, ref, gthr, rec_on, T):
        super().__init__(X, y, Wp, Wn, alpha, lr, ref, gthr, rec_on, T)
        self.k = self.Wp.shape[1]
        self.Wt = np.ascontiguousarray(np.concatenate([self.Wp, self.Wn], axis=1).transpose(0, 2, 1))

    def advance(self, idx: np.ndarray, t_base: int) -> None:
        ensemble_columns_chunk(self.X, self.y, self.Wt, self.k, self.alpha, self.lr,
                               np.ascontiguousarray(idx[:, :, 0]), self.sums, self.gthr, self.counts,
                               self.state, t_base, self.xx_all)

    def _sync(self) -> None:
        # the (R, k, d) weights of the base class, from the transposed ones
        self.Wp[...] = self.Wt[:, :, :self.k].transpose(0, 2, 1)
        self.Wn[...] = self.Wt[:, :, self.k:].transpose(0, 2, 1)

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
        if dtype not in (None, "float64"):
            raise InputError(f"the numba engine computes in float64 only, not {dtype!r}")
        # batch-1 SGD without per-step records (the statistics-over-seeds case): vectorized across neurons
        cls = ColumnsEngine if config.batch == 1 and not config.record_steps else NumbaEngine
        return cls(X, y, Wp, Wn, config.alpha, config.lr, ref, gthr, config.record_steps, config.steps)
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
        device: "cpu" (numba, bit-identical to `train`) or a PyTorch device such as "cuda".
        init: None (each run draws its own from its seed), one `Network` / `(W_pos, W_neg)` shared
            by every run, `(W_pos, W_neg)` of shape (R, k, d), or a sequence of R networks.
        reference: direction for the recorded alignment, as in `train`.
        backend: "numba" (CPU only), "torch" (eager, R runs as batched matrix products) or
            "triton" (fused kernel, batch-1 SGD without per-step records); None picks numba on
            the CPU and Triton (else PyTorch) elsewhere.
        dtype: weight precision of the PyTorch/Triton engines, "float64" or "float32" (default
            float32 on a GPU, float64 on the CPU); running sums are always float64.
        progress: called with the number of run-steps just done.

    Returns:
        One `Run` per seed, in the order of `seeds`. `Run.seconds` is the ensemble's wall time
        divided by R; `Run.meta["ensemble"]` records R, the run's index, device and backend.

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
                            "seconds_total": seconds}
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
