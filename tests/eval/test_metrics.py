"""Metrics on hand-worked cases."""

import math

import numpy as np
import pytest

from explorer.eval.metrics import (coverage, exploration_hit, hit_at_k, intra_list_similarity, mrr_at_k, ndcg_at_k,
                                   novelty, recall_at_k, serendipity)


def test_recall_and_hits_on_a_hand_worked_list():
    recs, rel = ["1", "2", "3", "4"], {"1", "3", "9"}
    assert recall_at_k(recs, rel, 4) == pytest.approx(2 / 3)
    assert recall_at_k(recs, rel, 2) == pytest.approx(1 / 3)
    assert hit_at_k(recs, rel, 4) == 1.0 and hit_at_k(["2", "4"], rel, 2) == 0.0
    assert mrr_at_k(recs, rel, 4) == 1.0 and mrr_at_k(["2", "3"], rel, 2) == 0.5 and mrr_at_k(["2"], rel, 1) == 0.0


def test_ndcg_known_exactly():
    # hits at ranks 1 and 3: DCG = 1 + 1/log2(4) = 1.5; ideal for 2 relevant items = 1 + 1/log2(3)
    assert ndcg_at_k(["1", "2", "3", "4"], {"1", "3"}, 4) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(["1", "3"], {"1", "3"}, 2) == pytest.approx(1.0)
    assert ndcg_at_k(["2", "4"], {"1", "3"}, 2) == 0.0


def test_undefined_cases_are_nan():
    assert math.isnan(recall_at_k(["1"], set(), 1)) and math.isnan(ndcg_at_k(["1"], set(), 1))
    assert math.isnan(intra_list_similarity([np.ones(3)])) and math.isnan(novelty([], lambda i: 1.0))


def test_intra_list_similarity_known_exactly():
    a, b, c = np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([1.0, 1.0])
    assert intra_list_similarity([a, b]) == pytest.approx(0.0)
    assert intra_list_similarity([a, a]) == pytest.approx(1.0)
    # pairs: a·b = 0, a·c = b·c = 1/sqrt(2)
    assert intra_list_similarity([a, b, c]) == pytest.approx(2 / math.sqrt(2) / 3)


def test_coverage_novelty_serendipity_exploration():
    assert coverage([["1", "2"], ["2", "3"]], 10) == 0.3
    pop = {"a": 0.5, "b": 0.25}.get
    assert novelty(["a", "b"], pop) == pytest.approx(1.5)
    assert serendipity(["1", "2", "3", "4"], {"1", "3"}, expected={"1"}, k=4) == 0.25
    region = {"1": "drama", "2": "comedy", "3": "horror"}.get
    assert exploration_hit(["1", "3"], {"1", "3"}, region, visited={"drama"}, k=2) == 1.0
    assert exploration_hit(["1", "3"], {"1"}, region, visited={"drama"}, k=2) == 0.0
