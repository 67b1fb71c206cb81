"""Safe file input/output: atomic writes, hashing, pickle-free `.npz` loading.

Every write goes to a temporary file in the destination folder and is renamed over the
target (`os.replace` is atomic on POSIX), so a crash leaves the old file or the new one.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ._errors import InputError


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_savez(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Save arrays as a compressed `.npz` atomically. Object arrays are refused (no pickle)."""
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"array {key!r} has dtype object; it would need pickle")
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return atomic_write_bytes(path, buf.getvalue())


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load every array of a `.npz` without unpickling; a clear `InputError` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise InputError(
                f"{path}: holds pickled (object) arrays; verify never unpickles files — "
                "save plain numeric arrays instead"
            ) from None
        raise InputError(f"{path}: not a readable .npz file ({exc})") from None
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npz file ({exc})") from None
    except Exception as exc:  # zipfile.BadZipFile and friends
        raise InputError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None


def jsonable(obj: Any) -> Any:
    """Plain-Python copy of `obj` for JSON: numpy scalars and arrays unwrapped, dict keys as
    strings, and NaN/inf floats as None (JSON has no such numbers, and the checker refuses
    the non-standard `NaN` tokens)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    return obj


def json_scalar(value: np.ndarray | str) -> Any:
    """Decode a JSON document stored as a 0-d unicode array in an `.npz`."""
    return json.loads(str(np.asarray(value)[()]))


def json_array(obj: Any) -> np.ndarray:
    """Encode `obj` as a 0-d unicode array that `np.load(allow_pickle=False)` can read."""
    return np.array(json.dumps(obj))
