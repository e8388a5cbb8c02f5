"""The interest models on tiny hand-made data where the right answer is known, fold-in, and the cache."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.catalog import History, Rating
from explorer.config import InterestConfig, SequenceConfig
from explorer.interest.base import cached, data_key, validation_split
from explorer.interest.collab import Interactions
from explorer.interest.ease import EASE, cached_ease
from explorer.interest.models import build_interest_model
from explorer.interest.sequence import SequenceModel, cached_sequence

ITEMS = ["a", "b", "c", "d", "e", "f"]


def _history(items, name="u", rating=4.5, start=0):
    return History.of([Rating(item_id=i, rating=rating, timestamp=start + n) for n, i in enumerate(items)], name=name)


def _two_blocks(copies: int = 10) -> dict[str, History]:
    """Two tastes that never mix: {a, b, c} and {d, e, f}; every user has all three items of one block."""
    out = {}
    for n in range(copies):
        out[f"x{n}"] = _history(["a", "b", "c"], f"x{n}")
        out[f"y{n}"] = _history(["d", "e", "f"], f"y{n}")
    return out


def test_ease_completes_the_block_a_history_belongs_to():
    model = EASE.fit(_two_blocks(), ITEMS, l2=1.0)
    scores = model.scores(_history(["a", "b"]))
    assert model.recommend(_history(["a", "b"]), 1) == ["c"]
    assert scores[ITEMS.index("c")] > 0.5 and max(scores[ITEMS.index(i)] for i in "def") == pytest.approx(0.0, abs=1e-6)
    assert np.allclose(np.diag(model.weights), 0.0)  # no item explains itself


def test_ease_matches_the_closed_form_on_a_small_matrix():
    histories = {"u1": _history(["a", "b"]), "u2": _history(["b", "c"]), "u3": _history(["a", "b", "c"])}
    model = EASE.fit(histories, ["a", "b", "c"], l2=2.0)
    x = np.array([[1, 1, 0], [0, 1, 1], [1, 1, 1]], dtype=np.float64)
    p = np.linalg.inv(x.T @ x + 2.0 * np.eye(3))
    b = np.eye(3) - p / np.diag(p)
    assert np.allclose(model.weights, b, atol=1e-5)


def test_fold_in_scores_a_new_history_without_retraining():
    model = EASE.fit(_two_blocks(), ITEMS, l2=1.0)
    before = model.weights.copy()
    assert model.recommend(_history(["e"], name="newcomer"), 2) == ["d", "f"]
    assert model.recommend(_history(["e", "a"], name="newcomer"), 4)[:2] in (["b", "c"], ["c", "b"], ["d", "f"], ["f", "d"])
    # a 👎 is not read as "more like this": a disliked item leaves the scores as if it were absent
    disliked = History.of([Rating(item_id="e", rating=4.5, timestamp=0), Rating(item_id="a", rating=1.0, timestamp=1)])
    assert np.allclose(model.scores(disliked), model.scores(_history(["e"])))
    assert np.array_equal(model.weights, before)


def test_items_never_seen_in_training_score_lowest():
    model = EASE.fit(_two_blocks(), ITEMS + ["z"], l2=1.0)
    scores = model.scores(_history(["a"]))
    assert scores[-1] == scores.min()


def test_sequence_model_learns_a_fixed_order():
    """Every user walks a → b → c → d → e → f: after '… c' the next item is d."""
    histories = {f"u{n}": _history(ITEMS, f"u{n}") for n in range(30)}
    config = SequenceConfig(dim=16, layers=1, heads=1, max_len=6, dropout=0.0, lr=1e-2, batch_size=8, threads=1)
    model = SequenceModel.fit(histories, ITEMS, config, epochs=30)
    assert model.recommend(_history(["a", "b", "c"]), 1) == ["d"]
    assert model.recommend(_history(["a", "b", "c", "d"]), 1) == ["e"]
    assert model.recommend(_history(["b"]), 1) == ["c"]  # fold-in of a history no one had


def test_validation_split_never_holds_more_than_the_training_part():
    histories = {f"u{n}": _history(ITEMS, f"u{n}") for n in range(3)}
    split = validation_split(histories)
    for user, h in histories.items():
        assert set(split.train[user].item_ids) | split.targets[user] == set(h.item_ids)
        assert split.targets[user] == {"f"} and split.inputs[user] == split.train[user]  # round(6 × 0.8) = 5 kept


def test_cache_hit_key_change_and_damaged_file(tmp_path):
    histories = _two_blocks(3)
    first, built = cached_ease(tmp_path, histories, ITEMS, l2=1.0)
    again, rebuilt = cached_ease(tmp_path, histories, ITEMS, l2=1.0)
    assert built and not rebuilt and np.array_equal(first.weights, again.weights)
    _, other = cached_ease(tmp_path, histories, ITEMS, l2=5.0)  # a setting is part of the key
    changed = {**histories, "x0": _history(["a", "d"], "x0")}
    _, after_edit = cached_ease(tmp_path, changed, ITEMS, l2=1.0)  # so is every rating
    assert other and after_edit and data_key(histories, ITEMS, {}) != data_key(changed, ITEMS, {})
    path = next(p for p in tmp_path.iterdir() if p.name == f"ease-{data_key(histories, ITEMS, {'model': 'ease', 'l2': 1.0, 'grid': (30.0, 100.0, 300.0, 1000.0, 3000.0), 'v': 1})}.npz")
    path.write_bytes(path.read_bytes()[:100])  # a crash mid-copy, a full disk: never read, rebuilt
    repaired, rebuilt = cached_ease(tmp_path, histories, ITEMS, l2=1.0)
    assert rebuilt and np.allclose(repaired.weights, first.weights)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_failed_build_leaves_no_file(tmp_path):
    def broken(model, path):
        path.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        cached(tmp_path / "m.npz", lambda: 1, broken, lambda p: 1)
    assert list(tmp_path.iterdir()) == []


def test_sequence_cache_round_trip(tmp_path):
    histories = {f"u{n}": _history(ITEMS, f"u{n}") for n in range(4)}
    config = SequenceConfig(dim=8, layers=1, heads=1, max_len=4, max_epochs=2, threads=1)
    model, built = cached_sequence(tmp_path, histories, ITEMS, config)
    again, rebuilt = cached_sequence(tmp_path, histories, ITEMS, config)
    assert built and not rebuilt
    assert np.allclose(model.scores(_history(["a", "b"])), again.scores(_history(["a", "b"])), atol=1e-6)


def test_settings_choose_the_model(tmp_path):
    histories = _two_blocks(3)
    assert build_interest_model(InterestConfig(model="itemcf"), histories, ITEMS, tmp_path).name == "item-item CF"
    ease = build_interest_model(InterestConfig(model="ease", ease_l2=1.0), histories, ITEMS, tmp_path)
    assert isinstance(ease, EASE) and ease.l2 == 1.0
    assert Interactions(histories, ITEMS).n_users == 6
