"""Datasets: one validated type, the linear teacher, and loaders (THEORY.md §0).

`Dataset` holds inputs `X (n×d, float64)` and labels `y ∈ {−1,+1}ⁿ`; it is validated once,
on construction: finite values, a 2-D `X`, matching lengths, `n ≥ 2`, both labels present,
and no identical points with conflicting labels (such data cannot be separated by any
function, linear or not).

Every place that takes data takes a *spec*:

* ``teacher:n=400,d=10,seed=0,margin=0.1`` — Gaussian inputs, a random unit teacher `w*`
  drawn from the same seed, labels `sign⟨w*,x⟩`, optional margin filter `|⟨w*,x⟩| ≥ margin`;
* ``sklearn:NAME:A,B`` — one of scikit-learn's bundled sets (iris, digits, wine,
  breast_cancer), class A → +1, class B → −1 (needs scikit-learn);
* a path to ``.npz`` with arrays ``X``, ``y`` (read with ``allow_pickle=False``) or to
  ``.csv`` with a header row and the label in the last column.

Labels in {0,1} are refused unless ``labels01=True`` (CLI: ``--labels01``), which maps
0 → −1 and 1 → +1; they are never remapped silently.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._errors import InputError
from ._io import atomic_savez, load_npz

__all__ = ["Dataset", "teacher_dataset", "load_dataset", "save_dataset"]


def _as_labels(y: np.ndarray, labels01: bool, where: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and 1 in y.shape:
        y = y.reshape(-1)
    if y.ndim != 1:
        raise InputError(f"{where}: labels must be a 1-D array, got shape {y.shape}")
    try:
        yf = y.astype(np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{where}: labels must be numbers in {{-1,+1}}") from None
    if not np.all(np.isfinite(yf)):
        raise InputError(f"{where}: labels contain NaN or inf")
    values = set(np.unique(yf).tolist())
    if labels01:
        if not values <= {0.0, 1.0}:
            raise InputError(f"{where}: --labels01 given but labels are {sorted(values)}, not in {{0,1}}")
        return np.where(yf == 1.0, 1.0, -1.0)
    if values <= {-1.0, 1.0}:
        return yf
    if values <= {0.0, 1.0}:
        raise InputError(
            f"{where}: labels are in {{0,1}}; verify needs {{-1,+1}} — pass --labels01 "
            "(labels01=True) to map 0 → -1 and 1 → +1"
        )
    raise InputError(f"{where}: labels must be in {{-1,+1}}, got values {sorted(values)[:6]}")


@dataclass(frozen=True, eq=False)
class Dataset:
    """Validated training or test data.

    Attributes:
        X: inputs, float64 array of shape (n, d).
        y: labels, float64 array of shape (n,) with values in {−1, +1}.
        teacher: the unit teacher direction `w*` when the data came from a linear teacher.
        source: the spec or path the data came from (for messages and certificates).
    """

    X: np.ndarray
    y: np.ndarray
    teacher: np.ndarray | None = None
    source: str = "<array>"
    _hash: list = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = self.source
        try:
            X = np.array(self.X, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{where}: X must be numeric") from None
        if X.ndim != 2:
            raise InputError(f"{where}: X must be 2-D (n×d), got shape {X.shape}")
        y = _as_labels(self.y, False, where)
        n, d = X.shape
        if y.shape[0] != n:
            raise InputError(f"{where}: X has {n} rows but y has {y.shape[0]} labels")
        if n < 2:
            raise InputError(f"{where}: need at least 2 points, got {n}")
        if d < 1:
            raise InputError(f"{where}: need at least 1 feature")
        if not np.all(np.isfinite(X)):
            bad = int(np.argwhere(~np.isfinite(X))[0, 0])
            raise InputError(f"{where}: X contains NaN or inf (first at row {bad})")
        if not (np.any(y > 0) and np.any(y < 0)):
            raise InputError(f"{where}: both labels -1 and +1 must be present")
        # identical points with opposite labels: no classifier separates them
        order = np.lexsort(X.T[::-1])
        Xs, ys = X[order], y[order]
        same = np.all(Xs[1:] == Xs[:-1], axis=1) & (ys[1:] != ys[:-1])
        if np.any(same):
            i = int(order[np.argmax(same)])
            raise InputError(f"{where}: point {i} appears with both labels; data cannot be separated")
        X.setflags(write=False)
        y.setflags(write=False)
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        if self.teacher is not None:
            t = np.array(self.teacher, dtype=np.float64).reshape(-1)
            if t.shape != (d,) or not np.all(np.isfinite(t)):
                raise InputError(f"{where}: teacher must be a finite vector of length {d}")
            t.setflags(write=False)
            object.__setattr__(self, "teacher", t)

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def d(self) -> int:
        return self.X.shape[1]

    @property
    def radius(self) -> float:
        """`R = max_i ‖x_i‖` (float; certificates recompute it rigorously)."""
        return float(np.sqrt(np.max(np.einsum("ij,ij->i", self.X, self.X))))

    def sha256(self) -> str:
        """Hash of the exact float64 bytes of X and y (shape included)."""
        if not self._hash:
            h = hashlib.sha256()
            h.update(np.asarray(self.X.shape, dtype=np.int64).tobytes())
            h.update(np.ascontiguousarray(self.X).tobytes())
            h.update(np.ascontiguousarray(self.y).tobytes())
            self._hash.append(h.hexdigest())
        return self._hash[0]

    def with_bias(self) -> "Dataset":
        """The same data with a constant coordinate 1 appended (the bias trick)."""
        Xb = np.hstack([self.X, np.ones((self.n, 1))])
        t = None if self.teacher is None else np.append(self.teacher, 0.0)
        return Dataset(Xb, self.y, teacher=t, source=self.source + "+bias")


def teacher_dataset(n: int = 400, d: int = 10, seed: int = 0, margin: float = 0.0) -> Dataset:
    """Linear-teacher data: `x ~ N(0, I_d)`, unit `w*` random, `y = sign⟨w*,x⟩`.

    With `margin > 0`, points with `|⟨w*,x⟩| < margin` are rejected and redrawn, so
    `y_i⟨w*,x_i⟩ ≥ margin` for every i.

    Args:
        n: number of points (≥ 2).
        d: dimension (≥ 1).
        seed: seed of the numpy Generator that draws `w*` and the points.
        margin: minimum `|⟨w*,x⟩|` kept (≥ 0).
    """
    if not (isinstance(n, (int, np.integer)) and n >= 2):
        raise InputError(f"teacher: n must be an integer ≥ 2, got {n}")
    if not (isinstance(d, (int, np.integer)) and d >= 1):
        raise InputError(f"teacher: d must be an integer ≥ 1, got {d}")
    if not (np.isfinite(margin) and margin >= 0):
        raise InputError(f"teacher: margin must be finite and ≥ 0, got {margin}")
    if margin > 3.0:
        raise InputError(f"teacher: margin {margin} would reject almost every Gaussian point (use ≤ 3)")
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d)
    w /= np.linalg.norm(w)
    rows: list[np.ndarray] = []
    have = 0
    while have < n:
        batch = rng.standard_normal((max(2 * (n - have), 64), d))
        proj = batch @ w
        keep = batch[(np.abs(proj) >= margin) & (proj != 0.0)]
        rows.append(keep)
        have += keep.shape[0]
    X = np.vstack(rows)[:n]
    y = np.where(X @ w > 0, 1.0, -1.0)
    spec = f"teacher:n={n},d={d},seed={seed},margin={margin:g}"
    if not (np.any(y > 0) and np.any(y < 0)):
        raise InputError(f"{spec}: all labels came out equal; use more points or another seed")
    return Dataset(X, y, teacher=w, source=spec)


_TEACHER_KEYS = {"n": int, "d": int, "seed": int, "margin": float}


def _parse_teacher(spec: str) -> Dataset:
    body = spec.split(":", 1)[1]
    kwargs: dict = {}
    for part in filter(None, body.split(",")):
        if "=" not in part:
            raise InputError(f"{spec}: expected key=value, got {part!r}")
        key, value = (s.strip() for s in part.split("=", 1))
        if key not in _TEACHER_KEYS:
            raise InputError(f"{spec}: unknown key {key!r} (known: n, d, seed, margin)")
        try:
            kwargs[key] = _TEACHER_KEYS[key](value)
        except ValueError:
            raise InputError(f"{spec}: {key}={value!r} is not a valid {_TEACHER_KEYS[key].__name__}") from None
    return teacher_dataset(**kwargs)


_SKLEARN = {"iris": "load_iris", "digits": "load_digits", "wine": "load_wine", "breast_cancer": "load_breast_cancer"}


def _parse_sklearn(spec: str) -> Dataset:
    parts = spec.split(":")
    if len(parts) != 3 or parts[1] not in _SKLEARN:
        raise InputError(f"{spec}: expected sklearn:NAME:A,B with NAME in {sorted(_SKLEARN)}")
    try:
        a, b = (int(c) for c in parts[2].split(","))
    except ValueError:
        raise InputError(f"{spec}: classes must be two integers, e.g. sklearn:iris:0,1") from None
    try:
        import sklearn.datasets as skd
    except ImportError:
        raise InputError(f"{spec}: needs scikit-learn (pip install 'verify[test]')") from None
    bunch = getattr(skd, _SKLEARN[parts[1]])()
    X, t = np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target)
    keep = (t == a) | (t == b)
    if not np.any(t == a) or not np.any(t == b) or a == b:
        raise InputError(f"{spec}: classes {a},{b} not both present in {parts[1]}")
    return Dataset(X[keep], np.where(t[keep] == a, 1.0, -1.0), source=spec)


def _load_csv(path: Path, labels01: bool) -> Dataset:
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    if len(rows) < 2:
        raise InputError(f"{path}: expected a header row and data rows")
    header, body = rows[0], [r for r in rows[1:] if r]
    if len(header) < 2:
        raise InputError(f"{path}: expected at least one feature column and a label column")
    try:
        arr = np.array([[float(v) for v in r] for r in body], dtype=np.float64)
    except ValueError as exc:
        raise InputError(f"{path}: non-numeric value ({exc})") from None
    if arr.ndim != 2 or arr.shape[1] != len(header):
        raise InputError(f"{path}: every row must have {len(header)} values")
    y = _as_labels(arr[:, -1], labels01, str(path))
    return Dataset(arr[:, :-1], y, source=str(path))


def _load_npz(path: Path, labels01: bool) -> Dataset:
    z = load_npz(path)
    missing = {"X", "y"} - set(z)
    if missing:
        raise InputError(f"{path}: missing array(s) {sorted(missing)}; a data .npz holds X and y")
    teacher = z.get("teacher")
    y = _as_labels(z["y"], labels01, str(path))
    return Dataset(z["X"], y, teacher=teacher, source=str(path))


def load_dataset(spec: "str | Dataset", labels01: bool = False) -> Dataset:
    """Load data from a spec string or path (see the module docstring)."""
    if isinstance(spec, Dataset):
        return spec
    spec = str(spec)
    if spec.startswith("teacher:"):
        return _parse_teacher(spec)
    if spec.startswith("sklearn:"):
        return _parse_sklearn(spec)
    path = Path(spec)
    if not path.exists():
        raise InputError(f"{spec}: no such file (or use a spec like teacher:n=400,d=10,seed=0)")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _load_npz(path, labels01)
    if suffix == ".csv":
        return _load_csv(path, labels01)
    raise InputError(f"{spec}: unknown data format {suffix!r} (use .npz with X, y or .csv)")


def save_dataset(path, data: Dataset) -> Path:
    """Write `data` as `.npz` (X, y and the teacher if known), atomically."""
    arrays = {"X": data.X, "y": data.y}
    if data.teacher is not None:
        arrays["teacher"] = data.teacher
    return atomic_savez(path, arrays)
