"""The popularity discount that the explore knob turns (explorer/pipeline/retrieve.py: `discounted`), on hand-made
scores where the right order is known."""

from __future__ import annotations

import numpy as np

from explorer.pipeline.retrieve import discounted

# a: liked most and known by everyone; b: a little less liked, known by a tenth; c: liked less, known by 1%;
# d and e: the model argues against them (the rarest, e, most of all)
SCORES = np.array([4.0, 3.0, 1.0, -0.5, -2.0])
POPULARITY = np.array([0.9, 0.1, 0.01, 0.5, 0.001])


def _order(scores):
    return list(np.argsort(-scores, kind="stable"))


def test_no_discount_is_the_models_own_scores():
    assert np.array_equal(discounted(SCORES, POPULARITY, 0.0), SCORES)
    assert _order(discounted(SCORES, POPULARITY, 0.0)) == [0, 1, 2, 3, 4]


def test_a_stronger_discount_lifts_the_less_known_of_the_liked_items():
    # beta 0.5: a 4/0.949 = 4.2, b 3/0.316 = 9.5, c 1/0.1 = 10: the least known liked item first
    assert np.allclose(discounted(SCORES, POPULARITY, 0.5)[:3], [4.0 / 0.9 ** 0.5, 3.0 / 0.1 ** 0.5, 10.0])
    assert _order(discounted(SCORES, POPULARITY, 0.5))[:3] == [2, 1, 0]
    # beta 0.1: a 4.04, b 3.78, c 1.58: a small discount keeps the model's order
    assert _order(discounted(SCORES, POPULARITY, 0.1))[:3] == [0, 1, 2]
    tops = [POPULARITY[_order(discounted(SCORES, POPULARITY, b))[0]] for b in (0.0, 0.1, 0.3, 0.5, 1.0)]
    assert tops == sorted(tops, reverse=True)  # the first pick is never more popular as beta grows


def test_items_the_model_argues_against_are_never_lifted():
    for beta in (0.3, 1.0, 3.0):
        out = discounted(SCORES, POPULARITY, beta)
        assert np.array_equal(out[3:], SCORES[3:])  # values and order kept: e, the rarest, stays last
        assert out[3:].max() < out[:3].min()
