"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._errors import InputError


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def add_data(p: argparse.ArgumentParser, name: str = "data") -> None:
    p.add_argument(name, metavar=name.upper(),
                   help="data: .npz (X, y), .csv (label last), teacher:n=400,d=10,seed=0,margin=0.1, "
                        "or sklearn:iris:0,1")
    p.add_argument("--labels01", action="store_true", help="map labels 0 → -1 and 1 → +1")


def out_path(path: str, suffix: str | None = None) -> Path:
    """Validate an output path before any work is done (so bad input writes nothing)."""
    p = Path(path)
    if suffix and p.suffix.lower() != suffix:
        raise InputError(f"{path}: output must end in {suffix}")
    if p.exists() and p.is_dir():
        raise InputError(f"{path}: is a folder, expected a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise InputError(f"{path}: parent {parent} is not a folder")
    return p
