"""Sweeps: the paper's empirical claims measured over a grid of runs, on Dask (THEORY.md §2–§4, §6).

The paper ends with "empirical results that validate our theoretical analysis": SGD reaches
zero training error (Theorem 1, §2), the learned network is close to linear outside a band
(Theorem 2, §3), and its weights cluster once the neurons of one sign share their σ' pattern
(Theorem 3, §4). One run shows that these things *can* happen; a sweep measures *how often*
and *under which hyper-parameters*. Every cell of the grid trains one network and records:

* global optimization (§2): training loss and error at `T`, `S_T`, the Theorem-1 bound `S*`
  and the tightness `S_T/S*` (None when the bound is vacuous), Corollary 1's counts;
* linearity (§3): the direction `v = (w̄ − ū)/‖w̄ − ū‖` of the network's mean centers, the
  disagreement of `sign N(x)` with `sign⟨v,x⟩` and with the teacher on fresh Gaussian test
  points `N(0, I_d)` (seeded by the cell), the band `β` and the certified fractions;
* clustering (§4): the first step `t₀` from which the σ' values were shared within each
  sign; Theorem 3's monitor (`verify._clustering`): condition met (`t₀ < T` with snapshots
  after it), differences frozen, β(t) under its bound; besides, whether the condition held
  for the whole second half of training (`t₀ ≤ T/2`, so that a few lucky last steps do not
  count); the band β(t) at every snapshot and the neuron clusters (cosine ≥ 0.99) per sign;
* limit direction and SVM (§5, §6): the angles between the network's direction and the
  teacher, the certified max-margin separator and `P*`, and the sign disagreement of the
  network with the SVM and with `P*` on the test points;
* Theorem 1's bound is evaluated with the SVM direction as `w*` (its γ is the largest, so
  the bound the tightest), γ recomputed for that float unit vector and `a₀` kept signed;
* certificates (convergence, linearity, clustering) written in a private temporary folder
  on the worker and re-checked there by the independent checker — a cell records the
  verdicts, so workers need no shared filesystem; exact worst-case disagreement (§6) for
  widths up to `exact_max_width`.

Two bands appear and differ on purpose: β(t) is the monitor's band with `D = Σ_j‖δ_j‖`;
the final `beta` is the linearity report's, which may use the smaller operator-norm `D`
(THEORY.md §3 allows either), so `beta ≤ β(T)`.

Grid files are TOML: a `[sweep]` table of options (`OPTIONS`) and one `[grid]` table or
several `[[grid]]` tables mapping every axis of `AXES` to a list; a data spec may contain
`{seed}` so that every seed draws its own training set and teacher.

Results store. A cell is identified by the sha256 of its canonical configuration (sorted
JSON, floats by `repr`). Each finished cell is written atomically to `DIR/cells/<hash>.json`
by the driver the moment its result arrives, so a `kill -9` loses at most the cells in
flight; the driver connects to Dask before it writes anything, so bad input (an
unreachable scheduler included) leaves nothing behind; a rerun skips every cell whose
file holds a successful result and recomputes the rest (failed cells are retried: a
failure may have been a lost worker). At the end
`DIR/results.parquet` is rebuilt from the cell files of the grid.

Execution. One code path: a `dask.distributed.Client` is made either on a fresh
`LocalCluster` (one thread per worker process: the trainer is a compiled loop that holds
the GIL) or on an existing scheduler address; cells are submitted and collected with
`as_completed`. A failing cell returns its error as data, never stops the sweep.

Ensembles of cells. Cells that differ only in `seed` and name the same data string (after
the `{seed}` substitution: a fixed teacher spec or file, not one with `{seed}`) train on the
same dataset with the same hyper-parameters; they are cut into chunks of at least 2 cells
(`ensemble_groups`, about one chunk per worker thread, at most `ENSEMBLE_MAX_RUNS` runs) and
each chunk is one task (`run_group`) that trains them with one `train_ensemble` call — run r
bit-identical to `train` with its seed, on the CPU, one numba thread per task — and then
measures each run with the very code a single cell uses (`_measure_run`). So every record is
the one `run_cell` would give, bit for bit, except the wall time and its `engine` field
("ensemble" or "single", outside `config`, so the hash is unchanged); each cell still gets its
own file, a failing measurement fails only its own cell, and if the ensemble cannot be trained
(one seed diverging, say) each cell of the chunk is run alone. A kill loses the chunks in
flight. `[sweep] ensemble = false` (or `verify sweep --no-ensemble`) runs every cell alone.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import sys
import tempfile
import threading
import time
import tomllib
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import InputError
from ._io import jsonable

__all__ = ["SweepSpec", "load_sweep", "expand_grid", "cell_hash", "run_cell", "run_group", "ensemble_groups",
           "run_sweep", "load_cells", "build_results", "estimate_wall", "CELL_FORMAT"]

CELL_FORMAT = "verify.sweep-cell/1"

# grid axes with their types; every axis takes a list in the TOML file
AXES: dict[str, type] = {
    "data": str, "width": int, "alpha": float, "lr": float, "steps": int,
    "init_scale": float, "sampling": str, "seed": int,
}
# per-sweep options (the [sweep] table) and their defaults
OPTIONS: dict[str, Any] = {
    "batch": 1,            # 1 = SGD
    "snapshots": 24,       # log-spaced weight snapshots (β(t) curves)
    "test_n": 2000,        # fresh Gaussian test points per cell
    "certify": ["convergence", "linearity", "clustering"],
    "check": True,         # re-check each certificate with verify.check on the worker
    "exact_max_width": 0,  # exact disagreement (MILP) for widths ≤ this; 0 = never
    "exact_time_limit": 10.0,
    "ensemble": True,      # train cells that differ only in seed together (`run_group`); results unchanged
}
CERT_KINDS = ("convergence", "linearity", "clustering")
# most runs in one ensemble task: bounds its memory (R snapshot sets, R·T per-step records)
ENSEMBLE_MAX_RUNS = 64
# the ensemble's numba kernels are parallel; one launch at a time per worker process
_ENSEMBLE_LOCK = threading.Lock()


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep configuration.

    Attributes:
        cells: the canonical cell configurations, de-duplicated, in grid order.
        options: the [sweep] options after defaults.
        description: free text from the file.
        expected_wall_seconds: the file's own estimate of its wall time on 2 cores (or None).
        source: the file it came from.
    """

    cells: list[dict]
    options: dict
    description: str = ""
    expected_wall_seconds: float | None = None
    source: str = "<dict>"
    hashes: list[str] = field(default_factory=list)


def cell_hash(cell: dict) -> str:
    """Hash of a cell's canonical configuration (sorted keys, compact JSON; 20 hex digits)."""
    text = json.dumps(cell, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _coerce(axis: str, value, where: str):
    kind = AXES[axis]
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{where}: {axis} values must be integers, got {value!r}")
        return int(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where}: {axis} values must be numbers, got {value!r}")
        v = float(value)
        if not math.isfinite(v):
            raise InputError(f"{where}: {axis} value {value!r} is not finite")
        return v
    if not isinstance(value, str):
        raise InputError(f"{where}: {axis} values must be strings, got {value!r}")
    return value


def _options(raw: dict, where: str) -> dict:
    unknown = set(raw) - set(OPTIONS) - {"description", "expected_wall_seconds", "name"}
    if unknown:
        raise InputError(f"{where}: unknown [sweep] option(s) {sorted(unknown)} (known: {sorted(OPTIONS)})")
    opts = {k: raw.get(k, v) for k, v in OPTIONS.items()}
    for key in ("batch", "snapshots", "test_n", "exact_max_width"):
        v = opts[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InputError(f"{where}: [sweep] {key} must be an integer ≥ 0, got {v!r}")
    if opts["test_n"] < 2:
        raise InputError(f"{where}: [sweep] test_n must be ≥ 2")
    for key in ("check", "ensemble"):
        if not isinstance(opts[key], bool):
            raise InputError(f"{where}: [sweep] {key} must be true or false")
    t = opts["exact_time_limit"]
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not (t > 0 and math.isfinite(t)):
        raise InputError(f"{where}: [sweep] exact_time_limit must be a positive number of seconds")
    opts["exact_time_limit"] = float(t)
    cert = opts["certify"]
    if not isinstance(cert, list) or not all(isinstance(c, str) for c in cert):
        raise InputError(f"{where}: [sweep] certify must be a list of kinds")
    bad = set(cert) - set(CERT_KINDS)
    if bad:
        raise InputError(f"{where}: [sweep] certify: unknown kind(s) {sorted(bad)} (known: {list(CERT_KINDS)})")
    opts["certify"] = sorted(set(cert))
    if "convergence" in opts["certify"] and opts["batch"] != 1:
        raise InputError(f"{where}: the convergence certificate needs per-step records, so batch must be 1")
    return opts


def expand_grid(grids: list[dict], options: dict, where: str = "<grid>") -> list[dict]:
    """Cartesian product of each grid table, united and de-duplicated by hash.

    A data spec may contain `{seed}`, replaced by the cell's seed, so that every seed draws
    its own training set (and teacher). Each cell is validated as a `TrainConfig` here, so a
    bad value is an `InputError` before any work starts.

    Args:
        grids: one or more tables mapping every axis in `AXES` to a non-empty list.
        options: the [sweep] options (after `_options`).
        where: file name for messages.

    Returns:
        Canonical cell dicts (axes, the options that change results, and `format`).
    """
    from ._train import TrainConfig

    cells: list[dict] = []
    seen: set[str] = set()
    for g_i, grid in enumerate(grids):
        here = f"{where} grid {g_i + 1}"
        if not isinstance(grid, dict):
            raise InputError(f"{here}: a grid must be a table")
        unknown = set(grid) - set(AXES)
        if unknown:
            raise InputError(f"{here}: unknown axis {sorted(unknown)} (axes: {list(AXES)})")
        missing = [a for a in AXES if a not in grid]
        if missing:
            raise InputError(f"{here}: missing axis {missing}; every axis needs a list of values")
        values = []
        for axis in AXES:
            v = grid[axis]
            v = v if isinstance(v, list) else [v]
            if not v:
                raise InputError(f"{here}: axis {axis} has no values")
            values.append([_coerce(axis, x, here) for x in v])
        for combo in itertools.product(*values):
            cell = dict(zip(AXES, combo))
            try:
                cell["data"] = cell["data"].format(seed=cell["seed"])
            except (KeyError, IndexError, ValueError):
                raise InputError(f"{here}: data spec {cell['data']!r} may only use the placeholder {{seed}}") from None
            TrainConfig(width=cell["width"], alpha=cell["alpha"], lr=cell["lr"], steps=cell["steps"],
                        seed=cell["seed"], init_scale=cell["init_scale"], sampling=cell["sampling"],
                        batch=options["batch"], snapshots=options["snapshots"]).validate()
            cell.update({
                "format": CELL_FORMAT,
                "batch": options["batch"], "snapshots": options["snapshots"], "test_n": options["test_n"],
                "certify": options["certify"], "check": options["check"],
                "exact": 0 < cell["width"] <= options["exact_max_width"],
                "exact_time_limit": options["exact_time_limit"],
            })
            h = cell_hash(cell)
            if h not in seen:
                seen.add(h)
                cells.append(cell)
    return cells


def load_sweep(path: str | Path | dict) -> SweepSpec:
    """Read a sweep TOML file (or an already-parsed dict of the same shape).

    Layout: an optional `[sweep]` table of options (`OPTIONS`, plus `description` and
    `expected_wall_seconds`), and either one `[grid]` table or several `[[grid]]` tables,
    each mapping every axis of `AXES` to a list of values.
    """
    if isinstance(path, dict):
        raw, where = path, "<dict>"
    else:
        p = Path(path)
        where = str(p)
        if not p.is_file():
            raise InputError(f"{p}: no such sweep file")
        try:
            raw = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{p}: not valid TOML ({exc})") from None
    unknown = set(raw) - {"sweep", "grid"}
    if unknown:
        raise InputError(f"{where}: unknown table(s) {sorted(unknown)}; expected [sweep] and [grid]")
    head = raw.get("sweep", {})
    if not isinstance(head, dict):
        raise InputError(f"{where}: [sweep] must be a table")
    options = _options(head, where)
    grids = raw.get("grid")
    if grids is None:
        raise InputError(f"{where}: no [grid] table")
    grids = grids if isinstance(grids, list) else [grids]
    cells = expand_grid(grids, options, where)
    # the data specs are loaded once here so a bad spec fails before anything is written
    from ._data import load_dataset

    for spec in sorted({c["data"] for c in cells}):
        load_dataset(spec)
    wall = head.get("expected_wall_seconds")
    if wall is not None and (isinstance(wall, bool) or not isinstance(wall, (int, float))):
        raise InputError(f"{where}: expected_wall_seconds must be a number")
    return SweepSpec(cells=cells, options=options, description=str(head.get("description", "")),
                     expected_wall_seconds=None if wall is None else float(wall), source=where,
                     hashes=[cell_hash(c) for c in cells])


# ----------------------------------------------------------------------------- one cell


def fresh_points(data, n_test: int, seed: int):
    """Fresh test inputs `x ~ N(0, I_d)` (seeded), labelled by the teacher when there is one.

    Returns:
        `(X, test)`: the inputs, and a `Dataset` labelled by `sign⟨w*,x⟩` (None without a
        teacher, or if a label class came out empty).
    """
    from ._data import Dataset

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x7E57]))
    X = rng.standard_normal((int(n_test), data.d))
    if data.teacher is None:
        return X, None
    proj = X @ data.teacher
    keep = proj != 0.0
    y = np.where(proj[keep] > 0, 1.0, -1.0)
    if not (np.any(y > 0) and np.any(y < 0)):
        return X, None
    return X[keep], Dataset(X[keep], y, teacher=data.teacher, source=f"fresh:N(0,I_{data.d}),n={n_test},seed={seed}")


def _disagree(a: np.ndarray, b: np.ndarray) -> float:
    # sign disagreement; a value of exactly 0 counts as the negative class (as Network.predict)
    return float(np.mean((a > 0) != (b > 0)))


def _foundation_measures(run, X_test: np.ndarray, test) -> tuple[dict, dict]:
    """Measures that need only the trainer's output (§2 sums, §3 direction, §4 t₀)."""
    from ._limit import angle_deg, network_direction

    data, net, traj = run.data, run.final, run.trajectory
    z = net.margins(data.X, data.y)
    m: dict[str, Any] = {
        "n": data.n, "d": data.d, "radius": data.radius,
        "train_loss": float(np.mean(np.logaddexp(0.0, -z))),
        "train_error": float(np.mean(z <= 0)),
        "min_margin_z": float(np.min(z)),
        "S_T": traj.sums["S"], "S_prime": traj.sums["S_prime"], "sum_loss": traj.sums["sum_loss"],
        "avg_sampled_loss": traj.sums["sum_loss"] / traj.steps,
        "weight_norm": float(np.linalg.norm(net.theta())),
        "init_norm": float(np.linalg.norm(run.init.theta())),
    }
    for e, c in zip(traj.eps.tolist(), traj.loss_gt_eps.tolist()):
        m[f"steps_loss_gt_{e:g}"] = int(c)
    # Theorem 3's condition: σ' shared within each sign from t₀ on; "held" = for (at least)
    # the whole second half of training, so one lucky last step does not count
    t0 = traj.shared_since
    m["t0"] = int(t0)
    m["t0_frac"] = t0 / traj.steps
    m["shared_held"] = bool(t0 <= traj.steps // 2)
    m["shared_fail_steps"] = int(traj.shared_fail_count)
    m["pattern_flips_last"] = int(traj.snap_pattern_flips[-1]) if traj.snap_pattern_flips.size else 0
    # THEORY.md §3: the linear part's direction is that of the mean centers, ∝ Σw_j − Σu_j
    try:
        v = network_direction(net)
    except InputError:
        v = None
    m["v_defined"] = v is not None
    out = net(X_test)
    if v is not None:
        m["disagree_linear"] = _disagree(out, X_test @ v)
        m["disagree_linear_train"] = _disagree(net(data.X), data.X @ v)
    if data.teacher is not None:
        m["gamma_teacher"] = float(np.min(data.y * (data.X @ (data.teacher / np.linalg.norm(data.teacher)))))
        m["angle_teacher"] = None if v is None else angle_deg(v, data.teacher)
        m["disagree_teacher"] = _disagree(out, X_test @ data.teacher)
    if test is not None:
        m["test_error"] = float(np.mean(net.predict(test.X) != test.y))
    curves = {
        "snap_steps": traj.snap_steps.tolist(),
        "train_loss": traj.snap_train_loss.tolist(),
        "train_error": traj.snap_train_error.tolist(),
        "S": traj.snap_sums[:, 0].tolist(),
    }
    return m, curves


def _check(path: Path) -> dict:
    """The independent checker's verdict on one certificate."""
    from .check import check_certificate

    rep = check_certificate(path)
    return {"accepted": bool(rep.accepted), "claims": len(rep.results),
            "rejected": [r.name for r in rep.results if not r.accepted], "error": rep.error}


def _error_text(exc: BaseException) -> str:
    """`Type: message at file:line`, naming the innermost frame inside verify (where a reader starts looking)."""
    tb = [f for f in traceback.extract_tb(exc.__traceback__) if "verify" in Path(f.filename).parts]
    where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _cell_record(cell: dict, engine: str, measure, seconds: float = 0.0) -> dict:
    """Run `measure()` → `(measures, curves, certificates)` into the cell's record; never raises.

    `seconds` is time already spent on the cell elsewhere (its share of an ensemble's training).
    """
    t_start = time.perf_counter()
    rec: dict[str, Any] = {"format": CELL_FORMAT, "hash": cell_hash(cell), "config": cell, "engine": engine}
    try:
        measures, curves, certs = measure()
        rec.update(status="ok", error=None, measures=measures, curves=curves, certificates=certs)
    except Exception as exc:  # a cell's failure is a result, not the end of the sweep
        rec.update(status="failed", error=_error_text(exc), measures={}, curves={}, certificates={})
    rec["seconds"] = seconds + time.perf_counter() - t_start
    return jsonable(rec)


def run_cell(cell: dict) -> dict:
    """Train, measure and certify one cell; never raises (a failure is returned as data).

    Args:
        cell: a canonical cell from `expand_grid`.

    Returns:
        `{"hash", "config", "engine": "single", "status": "ok"|"failed", "error", "seconds",
        "measures", "curves", "certificates"}` — JSON-ready.
    """
    return _cell_record(cell, "single", lambda: _measure_cell(cell))


def _train_config(cell: dict):
    """The `TrainConfig` of a cell (the same for every path that trains it)."""
    from ._train import TrainConfig

    return TrainConfig(width=cell["width"], alpha=cell["alpha"], lr=cell["lr"], steps=cell["steps"],
                       seed=cell["seed"], init_scale=cell["init_scale"], sampling=cell["sampling"],
                       batch=cell["batch"], snapshots=cell["snapshots"],
                       # the convergence certificate re-checks L1/L2 step by step
                       record_steps="convergence" in cell["certify"])


def _measure_cell(cell: dict) -> tuple[dict, dict, dict]:
    """Train one cell with `train` and measure the run."""
    from ._data import load_dataset
    from ._train import train

    data = load_dataset(cell["data"])
    return _measure_run(cell, data, train(data, _train_config(cell)))


def _measure_run(cell: dict, data, run) -> tuple[dict, dict, dict]:
    """Measures, curves and certificate verdicts of a trained run of `cell` (however it was trained)."""
    X_test, test = fresh_points(data, cell["test_n"], cell["seed"])
    measures, curves = _foundation_measures(run, X_test, test)
    _linearity_measures(run, test, measures)
    _clustering_measures(run, measures, curves)
    _cluster_measures(run, measures, curves)
    _limit_measures(run, X_test, measures)
    _margin_measures(run, X_test, measures)
    if cell["exact"]:
        _exact_measures(run, cell["exact_time_limit"], measures)
    certs: dict[str, Any] = {}
    if cell["certify"]:
        with tempfile.TemporaryDirectory(prefix="verify-cell-") as tmp:
            certs = _certificates(run, data, test, cell, Path(tmp))
    return measures, curves, certs


# ----------------------------------------------------------------------------- ensembles of cells


def _group_key(cell: dict) -> str:
    """Cells with the same key differ at most in `seed` and train on the same data string."""
    return cell_hash({k: v for k, v in cell.items() if k != "seed"})


def ensemble_groups(cells: list[dict], slots: int, max_runs: int = ENSEMBLE_MAX_RUNS) -> list[list[dict]]:
    """Partition cells into the tasks of a sweep: seed-only groups, each cut into ensemble chunks.

    Cells that differ only in `seed` and whose data string (after the `{seed}` substitution)
    is identical train on the same dataset with the same hyper-parameters, which is what one
    `train_ensemble` call needs; a data spec with `{seed}` gives each cell its own data, so such
    cells stay single. A group is cut into `min(slots, len // 2)` chunks of near-equal size (so
    that `slots` workers all get work and no chunk has one cell), each at most `max_runs` long.

    Args:
        cells: canonical cells (distinct hashes).
        slots: worker threads of the cluster.
        max_runs: largest ensemble (bounds a task's memory: snapshots and per-step records).

    Returns:
        The tasks, groups in order of their first cell; a list of one cell is a single run.
    """
    groups: dict[str, list[dict]] = {}
    for cell in cells:
        groups.setdefault(_group_key(cell), []).append(cell)
    tasks: list[list[dict]] = []
    for group in groups.values():
        chunks = max(1, min(slots, len(group) // 2), math.ceil(len(group) / max_runs))
        bounds = [len(group) * i // chunks for i in range(chunks + 1)]
        tasks += [group[a:b] for a, b in zip(bounds, bounds[1:])]
    return tasks


@contextmanager
def _one_numba_thread():
    """One numba thread for this task (thread-local), like a single cell on a one-thread worker."""
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def run_group(cells: list[dict]) -> list[dict]:
    """Train cells that differ only in `seed` as one ensemble, then measure each run; never raises.

    Run r of `train_ensemble` is bit-identical to `train` with seed `seeds[r]`, and each run is
    measured by `_measure_run`, the code `run_cell` uses, so the records equal `run_cell`'s
    (wall time and `engine` aside). A failing measurement fails only its own cell. If the
    ensemble cannot be trained (e.g. one seed diverges), every cell is run by `run_cell`, so
    each gets exactly the result, success or error, it would get alone.

    Args:
        cells: cells with one `_group_key`, distinct seeds.

    Returns:
        One record per cell, in order; `engine` is "ensemble" for those trained together.
    """
    from ._data import load_dataset
    from ._ensemble import train_ensemble

    if len(cells) < 2:
        return [run_cell(c) for c in cells]
    if len({_group_key(c) for c in cells}) != 1:
        raise ValueError("run_group: the cells differ in more than their seed")
    t_start = time.perf_counter()
    try:
        data = load_dataset(cells[0]["data"])
        # the parallel kernels are not re-entrant under every numba threading layer
        with _ENSEMBLE_LOCK, _one_numba_thread():
            runs = train_ensemble(data, _train_config(cells[0]), [c["seed"] for c in cells])
    except Exception:  # each cell on its own gets its own verdict
        return [run_cell(c) for c in cells]
    share = (time.perf_counter() - t_start) / len(cells)
    return [_cell_record(cell, "ensemble", lambda cell=cell, run=run: _measure_run(cell, data, run), share)
            for cell, run in zip(cells, runs)]


def _linearity_measures(run, test, measures: dict) -> None:
    """Theorem 2's band β and the certified / agreeing fractions on train and test (§3)."""
    from ._linearity import linearity_report

    rep = linearity_report(run.final, run.data, test)
    measures["beta"] = rep["band_beta"]
    measures["band_nonvacuous"] = not rep["vacuous"]
    measures["band_probability"] = rep["band_probability"]
    for key, name in (("certified_fraction", "linear_certified"), ("agreement_fraction", "linear_agree"),
                      ("band_fraction", "outside_band")):
        for part in ("train", "test"):
            measures[f"{name}_{part}"] = rep[key][part]


def _clustering_measures(run, measures: dict, curves: dict) -> None:
    """Theorem 3's monitor: condition met, frozen differences, β(t) under its bound (§4)."""
    from ._clustering import clustering_monitor

    mon = clustering_monitor(run)
    measures["condition_met"] = mon["condition_met"]
    measures["differences_frozen"] = mon["frozen"]
    measures["beta_bound_holds"] = mon["bound_holds_all"]
    curves["beta"] = [b["beta"] for b in mon["beta_all"]]


def _cluster_measures(run, measures: dict, curves: dict) -> None:
    """Neuron clusters (cosine ≥ 0.99) at the end and at every snapshot (§4)."""
    from ._clusters import cluster_counts, neuron_clusters

    cl = neuron_clusters(run.final)
    measures["clusters"] = cl["count"]
    measures["two_clusters"] = cl["two_clusters"]
    measures["min_cosine"] = min(cl["pos"]["min_cosine"], cl["neg"]["min_cosine"])
    counts = cluster_counts(run)
    curves["clusters"] = [c["count"] for c in counts]
    # first snapshot from which each sign stayed one cluster (None: not by the end)
    first = None
    for c in counts:
        if c["two_clusters"]:
            first = c["step"] if first is None else first
        else:
            first = None
    measures["two_clusters_since"] = first


def _limit_measures(run, X_test: np.ndarray, measures: dict) -> None:
    """The predicted limit direction P* (§6): angle to the network, agreement on test points."""
    from ._limit import angle_deg, network_direction, predicted_limit

    net, data = run.final, run.data
    lim = predicted_limit(data, net.alpha)
    measures["pstar_self_consistent"] = lim["self_consistent"]
    measures["pstar_q_ratio"] = lim["q_ratio"]
    if data.teacher is not None:
        measures["angle_pstar_teacher"] = angle_deg(lim["direction"], data.teacher)
    if measures["v_defined"]:
        measures["angle_pstar"] = angle_deg(network_direction(net), lim["direction"])
    measures["disagree_pstar"] = _disagree(net(X_test), X_test @ lim["direction"])


def _margin_measures(run, X_test: np.ndarray, measures: dict) -> None:
    """The certified max-margin separator (§5): γ*, the angle to it, agreement on test points."""
    from ._limit import angle_deg, network_direction
    from ._margin import max_margin

    mm = max_margin(run.data)
    measures["separable"] = mm.separable
    if not mm.separable:
        return
    svm = np.asarray(mm.direction, dtype=np.float64)
    measures["gamma_lower"], measures["gamma_upper"] = mm.lower, mm.upper
    if measures["v_defined"]:
        measures["angle_svm"] = angle_deg(network_direction(run.final), svm)
    if run.data.teacher is not None:
        measures["angle_svm_teacher"] = angle_deg(svm, run.data.teacher)
    measures["disagree_svm"] = _disagree(run.final(X_test), X_test @ svm)
    _bound_measures(run, svm, measures)


def _bound_measures(run, w_star: np.ndarray, measures: dict) -> None:
    """Theorem 1's bound S* for the run (§2) with the unit separator `w_star`, and `S_T/S*`.

    γ is the margin of the float unit vector actually used (THEORY.md §7 pitfall 3) and
    `a₀ = ⟨θ₀,Θ*⟩` keeps its sign; this is a measurement — the convergence certificate
    recomputes both rigorously.
    """
    from ._bounds import convergence_bound

    data, init, cfg, traj = run.data, run.init, run.config, run.trajectory
    w = w_star / np.linalg.norm(w_star)
    gamma = float(np.min(data.y * (data.X @ w)))
    if not gamma > 0:
        return
    a0 = float((init.W_pos.sum(axis=0) - init.W_neg.sum(axis=0)) @ w)
    eps = 0.1
    b = convergence_bound(gamma, data.radius, cfg.alpha, cfg.width, cfg.lr, cfg.steps,
                          init_norm=float(np.linalg.norm(init.theta())), init_align=a0, eps=eps)
    measures["bound_gamma"] = gamma
    measures["bound_vacuous"] = b["vacuous"]
    measures["S_star"] = b["S_star"]
    measures["bound_ratio"] = None if b["S_star"] is None else traj.sums["S"] / b["S_star"]
    measures["eps_count_bound"] = b["eps_count"]
    measures["loss_bound_avg"] = None if b["loss_bound"] is None else b["loss_bound"] / cfg.steps


def _exact_measures(run, time_limit: float, measures: dict) -> None:
    """Exact worst-case disagreement β± on the box (§6), for small widths only."""
    from ._disagreement import exact_disagreement

    res = exact_disagreement(run.final, time_limit=time_limit).to_dict()
    measures["exact_beta_plus"] = res["beta_plus"]
    measures["exact_beta_minus"] = res["beta_minus"]
    measures["exactly_linear"] = res["exactly_linear"]
    measures["exact_seconds"] = res["seconds"]


# certificate builders by kind, "module:function", each `(run_path, data, out_dir, *, test, eps)`
BUILDERS = {
    "convergence": "verify._convergence:certify_convergence",
    "linearity": "verify._linearity:certify_linearity",
    "clustering": "verify._clustering:certify_clustering",
}


def _certificates(run, data, test, cell: dict, tmp: Path) -> dict:
    """Write the cell's certificates in a private folder and re-check them there."""
    import importlib

    from ._train import save_run

    run_path = save_run(tmp / "run.npz", run)
    out: dict[str, Any] = {}
    for kind in cell["certify"]:
        module, func = BUILDERS[kind].split(":")
        build = getattr(importlib.import_module(module), func)
        try:
            path = build(run_path, data, tmp / kind, test=test, eps=0.1)
        except InputError as exc:  # e.g. nothing to certify for this network: a result, not a crash
            out[kind] = {"written": False, "accepted": None, "error": str(exc)}
            continue
        out[kind] = {"written": True, "accepted": None, "error": None}
        if cell["check"]:
            out[kind].update(_check(path))
    return out


# ----------------------------------------------------------------------------- store + driver


def _cells_dir(out_dir: Path) -> Path:
    return out_dir / "cells"


def read_cell(path: Path) -> dict | None:
    """A stored cell record, or None if the file is unreadable or not a cell."""
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(rec, dict) or rec.get("format") != CELL_FORMAT or "status" not in rec:
        return None
    return rec


def load_cells(out_dir: str | Path, hashes: list[str] | None = None) -> list[dict]:
    """The stored cell records of a sweep folder (all of them, or those in `hashes`)."""
    folder = _cells_dir(Path(out_dir))
    if hashes is None:
        paths = sorted(folder.glob("*.json"))
    else:
        paths = [folder / f"{h}.json" for h in hashes]
    out = []
    for p in paths:
        if p.is_file():
            rec = read_cell(p)
            if rec is not None:
                out.append(rec)
    return out


def _flatten(rec: dict) -> dict:
    row: dict[str, Any] = {"hash": rec["hash"], "status": rec["status"], "error": rec.get("error"),
                           "seconds": rec.get("seconds"), "engine": rec.get("engine")}
    for k, v in rec["config"].items():
        row[k] = json.dumps(v) if isinstance(v, list) else v
    for k, v in rec.get("measures", {}).items():
        row[k] = v
    for kind, c in rec.get("certificates", {}).items():
        if isinstance(c, dict):
            for k, v in c.items():
                if isinstance(v, (bool, int, float, str)) or v is None:
                    row[f"cert_{kind}_{k}"] = v
    for k, v in rec.get("curves", {}).items():
        row[f"curve_{k}"] = v
    return row


def build_results(out_dir: str | Path, hashes: list[str] | None = None) -> Path:
    """(Re)build `DIR/results.parquet` from the cell files: one row per cell, curves as lists."""
    import io

    import pandas as pd

    from ._io import atomic_write_bytes

    out_dir = Path(out_dir)
    rows = [_flatten(r) for r in load_cells(out_dir, hashes)]
    df = pd.DataFrame(rows)
    buf = io.BytesIO()
    df.to_parquet(buf, index=False, engine="pyarrow")
    return atomic_write_bytes(out_dir / "results.parquet", buf.getvalue())


def _connect(scheduler: str | None, workers: int | None):
    """A Dask client on a new LocalCluster or an existing scheduler: the only difference."""
    from dask.distributed import Client, LocalCluster

    if scheduler is None:
        # a free port for the dashboard: None still tries 8787, taken by any other cluster
        cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout="20s"), None
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None


def run_sweep(config_path, out_dir, *, scheduler: str | None = None, workers: int | None = None,
              progress: bool | None = None, ensemble: bool | None = None) -> dict:
    """Run every unfinished cell of a sweep on Dask and rebuild `DIR/results.parquet`.

    Args:
        config_path: the sweep TOML file (or a parsed dict, see `load_sweep`).
        out_dir: results folder; `cells/<hash>.json` per cell, `results.parquet`, `sweep.json`.
        scheduler: address of an existing Dask scheduler (`tcp://host:port`); default a
            `LocalCluster` started (and stopped) here.
        workers: worker processes of the LocalCluster (default 2; ignored with `scheduler`).
        progress: show a progress bar on stderr (default: when stderr is a terminal).
        ensemble: train cells that differ only in seed together (`ensemble_groups`,
            `run_group`); default the file's `[sweep] ensemble` (true). The records are the
            same either way, bit for bit (wall time and `engine` aside).

    Returns:
        `{"cells", "done", "skipped", "failed", "results", "seconds"}`: grid size, cells
        computed now, cells already finished, cells that failed now, the parquet path.
    """
    from ._io import atomic_write_json

    spec = load_sweep(config_path)
    if ensemble is None:
        ensemble = spec.options["ensemble"]
    if not isinstance(ensemble, bool):
        raise InputError(f"ensemble must be true or false, got {ensemble!r}")
    if workers is not None and not (isinstance(workers, int) and workers >= 1):
        raise InputError(f"workers must be an integer ≥ 1, got {workers!r}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder")
    cells_dir = _cells_dir(out_dir)
    t_start = time.perf_counter()
    todo = []
    for cell, h in zip(spec.cells, spec.hashes):
        rec = read_cell(cells_dir / f"{h}.json")
        if rec is None or rec["status"] != "ok":
            todo.append(cell)
    skipped = len(spec.cells) - len(todo)
    done = failed = 0
    # connect before writing anything: an unreachable scheduler is bad input, nothing written
    client = cluster = None
    if todo:
        client, cluster = _connect(scheduler, workers)
    try:
        cells_dir.mkdir(parents=True, exist_ok=True)
        # temporary files of writes cut short by a kill; the renamed results are never temporary
        for stale in cells_dir.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        atomic_write_json(out_dir / "sweep.json", {
            "format": "verify.sweep/1", "source": spec.source, "description": spec.description,
            "expected_wall_seconds": spec.expected_wall_seconds,
            "options": dict(spec.options, ensemble=ensemble), "axes": list(AXES), "hashes": spec.hashes,
        })
        if client is not None:
            from dask.distributed import as_completed
            from tqdm import tqdm

            show = sys.stderr.isatty() if progress is None else progress
            if ensemble:
                slots = sum(client.nthreads().values()) or 1
                tasks = ensemble_groups(todo, slots)
            else:
                tasks = [[c] for c in todo]
            futures = client.map(run_group, tasks, pure=False)
            cells_of = {f.key: t for f, t in zip(futures, tasks)}
            with tqdm(total=len(todo), unit="cell", disable=not show, file=sys.stderr) as bar:
                for fut in as_completed(futures):
                    group = cells_of[fut.key]
                    try:
                        recs = fut.result()
                    except Exception as exc:  # lost worker, unpicklable result: recorded, not fatal
                        recs = [jsonable({"format": CELL_FORMAT, "hash": cell_hash(cell), "config": cell,
                                          "engine": "ensemble" if len(group) > 1 else "single",
                                          "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                                          "measures": {}, "curves": {}, "certificates": {}, "seconds": None})
                                for cell in group]
                    for rec in recs:
                        atomic_write_json(cells_dir / f"{rec['hash']}.json", rec)
                        if rec["status"] == "ok":
                            done += 1
                        else:
                            failed += 1
                    bar.update(len(recs))
                    fut.release()
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    results = build_results(out_dir, spec.hashes)
    return {"cells": len(spec.cells), "done": done, "skipped": skipped, "failed": failed,
            "results": str(results), "seconds": time.perf_counter() - t_start}


def estimate_wall(config_path, sample: int = 20, *, seed: int = 0, workers: int = 2) -> dict:
    """Expected wall time of a sweep, extrapolated from a timed random subset of its cells.

    The sampled cells run here, one after another, after one untimed warm-up cell (imports
    and the compiled trainer are paid once per worker process, not per cell). Each cell's
    CPU time (`time.process_time`) is measured besides its wall time: on a shared machine
    the wall time depends on the neighbours, the CPU time does not. Cells are independent
    and CPU-bound, so on `workers` otherwise idle cores the sweep takes about
    `mean CPU seconds × cells / workers`; scheduling overhead (milliseconds per cell) is
    left out.

    Args:
        config_path: the sweep TOML file.
        sample: number of cells to time (drawn without replacement).
        seed: seeds the draw.
        workers: worker processes (cores) the full sweep will use.

    Returns:
        `{"cells", "sampled", "mean_cell_seconds", "mean_cell_cpu_seconds",
        "max_cell_seconds", "workers", "expected_wall_seconds", "failed"}`.
    """
    spec = load_sweep(config_path)
    if not (isinstance(sample, int) and sample >= 1):
        raise InputError(f"sample must be an integer ≥ 1, got {sample!r}")
    if not (isinstance(workers, int) and workers >= 1):
        raise InputError(f"workers must be an integer ≥ 1, got {workers!r}")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(spec.cells), size=min(sample, len(spec.cells)), replace=False)
    run_cell(spec.cells[int(idx[0])])
    wall, cpu, failed = [], [], 0
    for i in idx:
        c0 = time.process_time()
        rec = run_cell(spec.cells[int(i)])
        cpu.append(time.process_time() - c0)
        wall.append(rec["seconds"])
        failed += rec["status"] != "ok"
    mean_cpu = float(np.mean(cpu))
    return {"cells": len(spec.cells), "sampled": int(idx.size), "mean_cell_seconds": float(np.mean(wall)),
            "mean_cell_cpu_seconds": mean_cpu, "max_cell_seconds": float(np.max(wall)), "workers": workers,
            "expected_wall_seconds": mean_cpu * len(spec.cells) / workers, "failed": failed}
