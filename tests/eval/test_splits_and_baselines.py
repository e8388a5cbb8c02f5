"""Splits and baselines on hand-made data, and item-item CF on the real MovieLens ratings."""

import pytest

from explorer.catalog import History, Rating
from explorer.eval.baselines import EmbeddingSimilarity, Interactions, ItemItemCF, Popularity
from explorer.eval.splits import sample_users, temporal_split
from tests.conftest import MOVIELENS


def history(*pairs, name="u"):
    return History.of([Rating(item_id=i, rating=r, timestamp=t) for t, (i, r) in enumerate(pairs)], name=name)


def test_temporal_split_keeps_the_earliest_80_percent():
    h = history(*[(f"i{n}", 4.5 if n % 2 else 1.0) for n in range(10)])
    split = temporal_split("u", h)
    assert split.history.item_ids == [f"i{n}" for n in range(8)]
    assert split.future.item_ids == ["i8", "i9"] and split.relevant == {"i9"}


def test_sampling_is_seeded_and_needs_a_future_positive():
    users = {str(u): history(*[(f"i{n}", 5.0 if u % 3 else 1.0) for n in range(10)]) for u in range(30)}
    a, b = sample_users(users, 5, seed=7), sample_users(users, 5, seed=7)
    assert [s.user for s in a] == [s.user for s in b] and len(a) == 5
    assert all(int(s.user) % 3 for s in a)
    assert [s.user for s in sample_users(users, 5, seed=8)] != [s.user for s in a]


def test_popularity_and_item_item_cf_on_a_tiny_matrix():
    train = {"1": history(("a", 5), ("b", 5)), "2": history(("a", 5), ("b", 4)), "3": history(("c", 5)),
             "4": history(("a", 5), ("c", 4)), "5": history(("b", 5))}
    data = Interactions(train, ["a", "b", "c", "d"])
    assert Popularity(data).recommend(history(("c", 5)), 2) == ["a", "b"]
    assert data.popularity("d") == pytest.approx(1 / 6)
    # a co-occurs with b twice and with c once: a user who liked b gets a first, never b itself
    assert ItemItemCF(data).recommend(history(("b", 5)), 2) == ["a", "c"]


def test_embedding_similarity_uses_the_liked_centre():
    import numpy as np

    vectors = np.eye(3, dtype=np.float32)
    vectors = np.vstack([vectors, [0.9, 0.1, 0.0]])
    method = EmbeddingSimilarity(["x", "y", "z", "x2"], vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
    assert method.recommend(history(("x", 5), ("z", 1)), 1) == ["x2"]


@pytest.mark.movielens
@pytest.mark.skipif(not MOVIELENS.is_dir(), reason="../shared/data/movielens-small is not here")
def test_item_item_cf_beats_popularity_on_real_movielens():
    from explorer.catalog import load_catalog
    from explorer.eval.metrics import ndcg_at_k
    from explorer.catalog.movielens import load_movielens_histories

    histories = load_movielens_histories(MOVIELENS)
    splits = sample_users(histories, 60, seed=42)
    held = {s.user for s in splits}
    train = {u: next(s.history for s in splits if s.user == u) if u in held else h for u, h in histories.items()}
    data = Interactions(train, list(load_catalog(MOVIELENS).items))
    mean = lambda m: sum(ndcg_at_k(m.recommend(s.history, 10), set(s.relevant), 10) for s in splits) / len(splits)
    cf, pop = mean(ItemItemCF(data)), mean(Popularity(data))
    assert cf > pop > 0
