"""Paired bootstrap confidence intervals over users: every method is scored on the same users, so the
difference of two methods is resampled user by user (pairs stay together), which is far tighter than
comparing two separate intervals."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def bootstrap_ci(values: Sequence[float], n_boot: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean of `values` and the percentile interval of the mean over `n_boot` resamples
    of the users with replacement. NaNs (users for whom the metric is undefined) are left out; none left: NaNs."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    return float(x.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1.0 - tail))


def paired_difference_ci(a: Sequence[float], b: Sequence[float], n_boot: int = 2000, seed: int = 0,
                         level: float = 0.95) -> tuple[float, float, float]:
    """(mean of a − b, low, high) over the users where both are defined, resampling users in pairs."""
    if len(a) != len(b):
        raise ValueError(f"paired values need the same users: {len(a)} against {len(b)}")
    return bootstrap_ci([x - y for x, y in zip(a, b)], n_boot, seed, level)
