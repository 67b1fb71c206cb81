"""Error types that decide the CLI's exit code.

`InputError` (exit 2) means the input could not be used: the message says why in one
line and nothing has been written. `ClaimFalse` (exit 1) means a checked claim is false.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: non-finite values, wrong shapes, bad labels, unreadable files, bad flags."""


class ClaimFalse(Exception):
    """A claim that was checked does not hold (the CLI exits 1)."""
