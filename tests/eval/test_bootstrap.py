"""The paired bootstrap on hand-worked cases."""

from __future__ import annotations

import math

import pytest

from explorer.eval.bootstrap import bootstrap_ci, paired_difference_ci
from explorer.eval.run import dominates


def test_two_users_zero_and_one():
    """Resampling two users gives means 0, 0.5, 1 with chances 1/4, 1/2, 1/4: the 95% interval is [0, 1]."""
    mean, lo, hi = bootstrap_ci([0.0, 1.0], n_boot=4000, seed=0)
    assert (mean, lo, hi) == (0.5, 0.0, 1.0)


def test_pairing_removes_the_spread_between_users():
    """b is a minus 0.1 for every user: the paired difference is exactly 0.1, however different the users are,
    while each method's own interval is wide."""
    a = [0.0, 0.2, 0.9, 0.4, 1.0]
    b = [x - 0.1 for x in a]
    d, dlo, dhi = paired_difference_ci(a, b, n_boot=500, seed=1)
    assert d == pytest.approx(0.1) and dlo == pytest.approx(0.1) and dhi == pytest.approx(0.1)
    _, lo, hi = bootstrap_ci(a, n_boot=500, seed=1)
    assert hi - lo > 0.3


def test_undefined_users_are_left_out_of_both_sides():
    d, lo, hi = paired_difference_ci([1.0, math.nan, 3.0], [0.0, 5.0, 2.0], n_boot=200)
    assert (d, lo, hi) == (1.0, 1.0, 1.0)
    assert all(math.isnan(x) for x in bootstrap_ci([math.nan]))
    with pytest.raises(ValueError):
        paired_difference_ci([1.0], [1.0, 2.0])


def test_dominance_is_at_least_as_good_on_both_axes():
    ours = [(1.0, 0.5), (2.0, 0.3)]
    assert dominates(ours, [(1.0, 0.5), (1.5, 0.3), (0.5, 0.6), (2.5, 0.1)]) == [True, True, False, False]
