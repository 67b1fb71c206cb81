"""Shared fixtures. Tolerances are stated next to the helpers that use them."""

from __future__ import annotations

import numpy as np
import pytest

import verify


@pytest.fixture(scope="session")
def teacher_small():
    """A small separable linear-teacher set (n=60, d=4, margin 0.1)."""
    return verify.teacher_dataset(n=60, d=4, seed=1, margin=0.1)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
