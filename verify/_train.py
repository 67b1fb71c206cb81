"""The trainer: SGD on the logistic loss that records what the theorems need (THEORY.md §0, §2, §4).

Update (batch 1, step η): sample `i_t`, `z_t = y N(x)`, `g_t = 1/(1+e^{z_t})`, then
`w_j += η g_t y σ'(⟨w_j,x⟩) x`, `u_j −= η g_t y σ'(⟨u_j,x⟩) x`, with `σ'(0) = α`.
Minibatches average the per-sample updates (full-batch GD is batch = n, no sampling).

Everything is float64 and in the log domain (`g = expit(−z)`, `ℓ = logaddexp(0,−z)`), so
`z` may grow far past where `exp` overflows.

What a run records (`Trajectory`):
* always: the running sums `S_T = Σg_t`, `S'_T = Σg_t s_t`, `Σg_t z_t`, `Σg_t²‖x‖²Σσ'²`,
  `Σℓ_t`; counts of steps with sampled loss above each ε; the last step at which the
  neurons of one sign did *not* share their σ' value on the sampled point (Theorem 3's
  condition); weight snapshots at log-spaced steps with the sums, the training loss and
  error, and the number of activation-pattern flips since the previous snapshot.
* opt-in (`record_steps=True`, batch 1): per step the sampled index, `z_t`, `g_t`, `s_t`,
  `‖θ_t‖²` and `⟨θ_t, Θ*⟩` (before the step). Memory is O(T) then; otherwise
  O(snapshots·m·d) whatever T is.

Randomness: `numpy.random.SeedSequence(seed).spawn(2)` gives one stream for the
initialization and one for the sample order; `init_weights` and `IndexStream` are public
so that other drivers (ensembles) reproduce single runs exactly.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import __version__
from ._data import Dataset
from ._errors import InputError
from ._io import atomic_savez, json_array, json_scalar, load_npz
from ._kernels import N_SUMS, empty_records, sgd1_columns, sgd_chunk
from ._network import Network, check_alpha

__all__ = ["TrainConfig", "Trajectory", "Run", "train", "init_weights", "IndexStream",
           "snapshot_steps", "save_run", "load_run"]

SUM_NAMES = ("S", "S_prime", "sum_gz", "sum_sq", "sum_loss")
RUN_FORMAT = "verify.run/1"


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run.

    Attributes:
        width: k, neurons per output sign (2k hidden units).
        alpha: leak α ∈ (0, 1).
        lr: step size η > 0.
        steps: number of updates T ≥ 1.
        seed: seeds both the initialization and the sample order.
        init_scale: each neuron starts as `init_scale · N(0, I_d)/√d` (norm ≈ init_scale);
            0 is zero initialization.
        sampling: "uniform" (i.i.d. with replacement) or "epoch" (reshuffled passes).
        batch: points per step; 1 is SGD, 0 means full batch (gradient descent).
        record_steps: keep per-step arrays (batch 1 only).
        snapshots: number of log-spaced weight snapshots (plus steps 0 and T).
        eps: loss levels ε whose exceedances are counted (Corollary 1).
    """

    width: int
    alpha: float
    lr: float
    steps: int
    seed: int = 0
    init_scale: float = 1e-3
    sampling: str = "uniform"
    batch: int = 1
    record_steps: bool = False
    snapshots: int = 48
    eps: tuple[float, ...] = (0.01, 0.1)

    def validate(self, n: int | None = None) -> "TrainConfig":
        check_alpha(self.alpha)
        if not (isinstance(self.width, (int, np.integer)) and self.width >= 1):
            raise InputError(f"width must be an integer ≥ 1, got {self.width}")
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"lr must be finite and > 0, got {self.lr}")
        if not (isinstance(self.steps, (int, np.integer)) and self.steps >= 1):
            raise InputError(f"steps must be an integer ≥ 1, got {self.steps}")
        if not (np.isfinite(self.init_scale) and self.init_scale >= 0):
            raise InputError(f"init_scale must be finite and ≥ 0, got {self.init_scale}")
        if self.sampling not in ("uniform", "epoch"):
            raise InputError(f"sampling must be 'uniform' or 'epoch', got {self.sampling!r}")
        if not (isinstance(self.batch, (int, np.integer)) and self.batch >= 0):
            raise InputError(f"batch must be an integer ≥ 0 (0 = full batch), got {self.batch}")
        if n is not None and self.batch > n:
            raise InputError(f"batch {self.batch} is larger than the {n} training points")
        if self.record_steps and self.batch != 1:
            raise InputError("per-step recording is for batch-1 SGD only")
        if not (isinstance(self.seed, (int, np.integer)) and self.seed >= 0):
            raise InputError(f"seed must be an integer ≥ 0, got {self.seed}")
        for e in self.eps:
            if not (np.isfinite(e) and e > 0):
                raise InputError(f"every eps must be finite and > 0, got {e}")
        if not (isinstance(self.snapshots, (int, np.integer)) and self.snapshots >= 0):
            raise InputError(f"snapshots must be an integer ≥ 0, got {self.snapshots}")
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["eps"] = list(self.eps)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        d["eps"] = tuple(d.get("eps", (0.01, 0.1)))
        return cls(**d)


def _streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    init_ss, sample_ss = np.random.SeedSequence(int(seed)).spawn(2)
    return np.random.default_rng(init_ss), np.random.default_rng(sample_ss)


def init_weights(width: int, d: int, init_scale: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Initial `(W_pos, W_neg)`: each neuron `init_scale · N(0, I_d)/√d`."""
    rng, _ = _streams(seed)
    W = rng.standard_normal((2 * width, d)) * (init_scale / np.sqrt(d))
    return W[:width].copy(), W[width:].copy()


class IndexStream:
    """The sample order of a run: `take(T)` returns the next (T, b) block of indices."""

    def __init__(self, n: int, sampling: str, batch: int, seed: int) -> None:
        self.n, self.sampling = n, sampling
        self.b = n if batch == 0 else batch
        self.full = batch == 0
        _, self.rng = _streams(seed)
        self._buf = np.empty(0, dtype=np.int64)

    def take(self, T: int) -> np.ndarray:
        b = self.b
        if self.full:
            return np.broadcast_to(np.arange(self.n, dtype=np.int64), (T, b))
        if self.sampling == "uniform":
            return self.rng.integers(0, self.n, size=(T, b), dtype=np.int64)
        need = T * b
        passes = -(-(need - self._buf.shape[0]) // self.n)
        parts = [self._buf]
        if passes > 0:
            # row-wise `permuted` consumes the stream exactly like `passes` calls of
            # `permutation(n)`, so the order is the same, just drawn in one call
            rows = np.tile(np.arange(self.n, dtype=np.int64), (passes, 1))
            parts.append(self.rng.permuted(rows, axis=1).ravel())
        flat = np.concatenate(parts)
        self._buf = flat[need:]
        return flat[:need].reshape(T, b)


def snapshot_steps(T: int, count: int) -> np.ndarray:
    """Steps 0, T and `count` log-spaced steps in between (unique, sorted)."""
    inner = np.unique(np.round(np.logspace(0, np.log10(max(T, 1)), max(count, 0))).astype(np.int64))
    return np.unique(np.concatenate([[0], inner[(inner > 0) & (inner < T)], [T]]))


@dataclass
class Trajectory:
    """What a run recorded (see the module docstring). Arrays are numpy, sums float64."""

    steps: int
    sums: dict[str, float]
    eps: np.ndarray
    loss_gt_eps: np.ndarray
    shared_last_fail: int
    shared_fail_count: int
    snap_steps: np.ndarray
    snap_W_pos: np.ndarray
    snap_W_neg: np.ndarray
    snap_sums: np.ndarray          # (snapshots, N_SUMS), columns SUM_NAMES
    snap_train_loss: np.ndarray
    snap_train_error: np.ndarray
    snap_pattern_flips: np.ndarray  # (neuron, point) pattern changes since the previous snapshot
    snap_shared_last_fail: np.ndarray
    step_idx: np.ndarray | None = None
    step_z: np.ndarray | None = None
    step_g: np.ndarray | None = None
    step_s: np.ndarray | None = None
    step_norm2: np.ndarray | None = None
    step_align: np.ndarray | None = None

    @property
    def S(self) -> float:
        return self.sums["S"]

    @property
    def shared_since(self) -> int:
        """First step from which σ' values were shared within each sign (Theorem 3's t₀ candidate)."""
        return self.shared_last_fail + 1

    _STEP_KEYS = ("step_idx", "step_z", "step_g", "step_s", "step_norm2", "step_align")
    _SNAP_KEYS = ("snap_steps", "snap_W_pos", "snap_W_neg", "snap_sums", "snap_train_loss",
                  "snap_train_error", "snap_pattern_flips", "snap_shared_last_fail")

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {
            "traj_steps": np.int64(self.steps),
            "sums": np.array([self.sums[k] for k in SUM_NAMES]),
            "eps": self.eps,
            "loss_gt_eps": self.loss_gt_eps,
            "shared": np.array([self.shared_last_fail, self.shared_fail_count], dtype=np.int64),
        }
        for k in self._SNAP_KEYS:
            out[k] = getattr(self, k)
        for k in self._STEP_KEYS:
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        return out

    @classmethod
    def from_arrays(cls, z: dict) -> "Trajectory":
        sums = {k: float(v) for k, v in zip(SUM_NAMES, z["sums"])}
        kw = {k: z[k] for k in cls._SNAP_KEYS}
        kw.update({k: z.get(k) for k in cls._STEP_KEYS})
        return cls(steps=int(z["traj_steps"]), sums=sums, eps=z["eps"], loss_gt_eps=z["loss_gt_eps"],
                   shared_last_fail=int(z["shared"][0]), shared_fail_count=int(z["shared"][1]), **kw)


@dataclass
class Run:
    """A finished training run: its config, data, initial and final network, trajectory."""

    config: TrainConfig
    data: Dataset
    init: Network
    final: Network
    trajectory: Trajectory
    reference: np.ndarray | None = None
    seconds: float = 0.0
    meta: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """Final training loss and error, S_T, steps, wall time (the CLI's `--json`)."""
        z = self.final.margins(self.data.X, self.data.y)
        return {
            "train_loss": float(np.mean(np.logaddexp(0.0, -z))),
            "train_error": float(np.mean(z <= 0)),
            "S_T": self.trajectory.S,
            "steps": self.trajectory.steps,
            "seconds": self.seconds,
            "width": self.config.width,
            "alpha": self.config.alpha,
            "lr": self.config.lr,
            "n": self.data.n,
            "d": self.data.d,
        }


def _unit_reference(data: Dataset, reference) -> np.ndarray | None:
    if reference is None:
        return None if data.teacher is None else data.teacher / np.linalg.norm(data.teacher)
    r = np.asarray(reference, dtype=np.float64).reshape(-1)
    if r.shape != (data.d,) or not np.all(np.isfinite(r)) or not np.any(r):
        raise InputError(f"reference direction must be a finite nonzero vector of length {data.d}")
    return r / np.linalg.norm(r)


def single_threaded_blas():
    """Limit BLAS to one thread: the snapshot products are small, and threads that fight for
    busy cores made them ~10× slower than one thread (measured on this 2-core machine)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it BLAS keeps its own thread count
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _train_stats(net: Network, data: Dataset) -> tuple[float, float, np.ndarray]:
    P, Q = net.preactivations(data.X)
    a = net.alpha
    out = np.where(P > 0, P, a * P).sum(1) - np.where(Q > 0, Q, a * Q).sum(1)
    z = data.y * out
    pattern = np.concatenate([P > 0, Q > 0], axis=1)
    return float(np.mean(np.logaddexp(0.0, -z))), float(np.mean(z <= 0)), pattern


def train(data: Dataset, config: TrainConfig, init: Network | tuple | None = None,
          reference=None, progress: Callable[[int], None] | None = None) -> Run:
    """Train the paper-form network on `data` with SGD / minibatch SGD / GD.

    Args:
        data: training set.
        config: hyper-parameters (validated here).
        init: initial weights (a `Network` or `(W_pos, W_neg)`); default draws them from
            `config.seed` and `config.init_scale`.
        reference: direction w* for the recorded alignment `⟨θ_t,Θ*⟩`; defaults to the
            teacher when the data has one (normalized to unit length).
        progress: called with the number of steps just done (e.g. a tqdm `update`).

    Returns:
        The `Run`, final network and trajectory included.
    """
    config.validate(data.n)
    d = data.d
    if init is None:
        Wp, Wn = init_weights(config.width, d, config.init_scale, config.seed)
    else:
        Wp, Wn = (init.W_pos, init.W_neg) if isinstance(init, Network) else init
        Wp = np.array(Wp, dtype=np.float64)
        Wn = np.array(Wn, dtype=np.float64)
        if Wp.shape != (config.width, d) or Wn.shape != (config.width, d):
            raise InputError(f"initial weights must be ({config.width}, {d}) per sign, got {Wp.shape} and {Wn.shape}")
    init_net = Network(Wp.copy(), Wn.copy(), config.alpha)
    ref = _unit_reference(data, reference)
    X = np.ascontiguousarray(data.X)
    y = np.ascontiguousarray(data.y)
    xx_all = np.einsum("ij,ij->i", X, X)
    T = int(config.steps)
    eps = np.asarray(config.eps, dtype=np.float64)
    gthr = -np.expm1(-eps)  # ℓ > ε ⇔ g > 1 − e^{−ε}
    counts = np.zeros(eps.shape[0], dtype=np.int64)
    sums = np.zeros(N_SUMS)
    state = np.array([-1, 0], dtype=np.int64)
    stream = IndexStream(data.n, config.sampling, config.batch, config.seed)
    if config.record_steps:
        recs = (np.empty(T, np.int64), np.empty(T), np.empty(T), np.empty(T), np.empty(T), np.empty(T))
    else:
        recs = empty_records()
    ref_arr = ref.reshape(1, d) if ref is not None else np.empty((0, d))
    snaps = snapshot_steps(T, config.snapshots)
    S = snaps.shape[0]
    snap_Wp = np.empty((S, config.width, d))
    snap_Wn = np.empty((S, config.width, d))
    snap_sums = np.empty((S, N_SUMS))
    snap_loss = np.empty(S)
    snap_err = np.empty(S)
    snap_flips = np.zeros(S, dtype=np.int64)
    snap_fail = np.empty(S, dtype=np.int64)
    prev_pattern = None
    chunk = 1 << 16
    t = 0
    t_start = time.perf_counter()
    # batch-1 SGD without per-step records runs on transposed weights (d, m), which
    # vectorizes across neurons; `sgd1_columns` performs the same operations as `sgd_chunk`
    columns = config.batch == 1 and not config.record_steps
    k = config.width
    Wt = np.ascontiguousarray(np.concatenate([Wp, Wn]).T) if columns else None
    with single_threaded_blas():  # the snapshot statistics are small products
        for s_i, target in enumerate(snaps):
            while t < target:
                todo = int(min(chunk, target - t))
                idx = np.ascontiguousarray(stream.take(todo))
                if columns:
                    sgd1_columns(X, y, Wt, k, config.alpha, config.lr, np.ascontiguousarray(idx[:, 0]),
                                 sums, gthr, counts, state, t, xx_all)
                else:
                    sgd_chunk(X, y, Wp, Wn, config.alpha, config.lr, idx, ref_arr, sums, gthr, counts, state,
                              config.record_steps, t, *recs, xx_all)
                t += todo
                if progress is not None:
                    progress(todo)
            if columns:
                Wp[...], Wn[...] = Wt[:, :k].T, Wt[:, k:].T
            snap_Wp[s_i], snap_Wn[s_i] = Wp, Wn
            snap_sums[s_i] = sums
            snap_fail[s_i] = state[0]
            net_t = Network(Wp, Wn, config.alpha)
            snap_loss[s_i], snap_err[s_i], pattern = _train_stats(net_t, data)
            if prev_pattern is not None:
                snap_flips[s_i] = int(np.count_nonzero(pattern != prev_pattern))
            prev_pattern = pattern
    seconds = time.perf_counter() - t_start
    if not (np.all(np.isfinite(Wp)) and np.all(np.isfinite(Wn))):
        raise InputError("training diverged (weights became non-finite); lower the step size")
    traj = Trajectory(
        steps=T, sums={k: float(v) for k, v in zip(SUM_NAMES, sums)}, eps=eps, loss_gt_eps=counts,
        shared_last_fail=int(state[0]), shared_fail_count=int(state[1]),
        snap_steps=snaps, snap_W_pos=snap_Wp, snap_W_neg=snap_Wn, snap_sums=snap_sums,
        snap_train_loss=snap_loss, snap_train_error=snap_err, snap_pattern_flips=snap_flips,
        snap_shared_last_fail=snap_fail,
    )
    if config.record_steps:
        traj.step_idx, traj.step_z, traj.step_g, traj.step_s, traj.step_norm2, traj.step_align = recs
        if ref is None:
            traj.step_align = None
    final = Network(Wp, Wn, config.alpha)
    meta = {"data_source": data.source, "data_sha256": data.sha256(), "n": data.n, "d": data.d,
            "tool_version": __version__}
    return Run(config=config, data=data, init=init_net, final=final, trajectory=traj,
               reference=ref, seconds=seconds, meta=meta)


def save_run(path, run: Run) -> Path:
    """Write a run as one `.npz` (no pickle): the final network in paper form under the
    usual keys (so `load_network` reads a run directly), the data, init, trajectory."""
    meta = dict(run.meta)
    meta.update({"config": run.config.to_dict(), "seconds": run.seconds})
    arrays = {"format": np.array(RUN_FORMAT), "meta": json_array(meta)}
    arrays.update(run.final.to_arrays())
    arrays.update({"X": run.data.X, "y": run.data.y,
                   "init_W_pos": run.init.W_pos, "init_W_neg": run.init.W_neg})
    if run.data.teacher is not None:
        arrays["teacher"] = run.data.teacher
    if run.reference is not None:
        arrays["reference"] = run.reference
    arrays.update(run.trajectory.to_arrays())
    return atomic_savez(path, arrays)


def load_run(path) -> Run:
    """Read a run written by `save_run`; `InputError` if the file is not one."""
    z = load_npz(path)
    if "format" not in z or str(z["format"][()]) != RUN_FORMAT:
        raise InputError(f"{path}: not a verify run file (expected format {RUN_FORMAT})")
    try:
        meta = json_scalar(z["meta"])
        config = TrainConfig.from_dict(meta["config"])
        data = Dataset(z["X"], z["y"], teacher=z.get("teacher"), source=meta.get("data_source", str(path)))
        alpha = float(z["alpha"][()])
        final = Network(z["W_pos"], z["W_neg"], alpha)
        init = Network(z["init_W_pos"], z["init_W_neg"], alpha)
        traj = Trajectory.from_arrays(z)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path}: damaged run file ({type(exc).__name__}: {exc})") from None
    return Run(config=config, data=data, init=init, final=final, trajectory=traj,
               reference=z.get("reference"), seconds=float(meta.get("seconds", 0.0)), meta=meta)
