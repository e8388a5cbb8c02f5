"""The user-interest model's one interface, the validation split every learned model tunes itself on, and the
on-disk cache that trains each model once per data set.

`InterestModel.scores(history)` scores the whole catalogue for ANY history at query time (a new user, a
pasted history, a history after feedback) without retraining: each model folds the history in.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from explorer.catalog import History

T = TypeVar("T")


class InterestModel(ABC):
    """score(u, i) for every catalogue item: higher is more likely to be liked next. Items the training data
    never saw get the lowest score the model gives."""

    name: str = "interest model"

    def __init__(self, item_ids: list[str]):
        self.item_ids = list(item_ids)
        self.index = {item: n for n, item in enumerate(self.item_ids)}

    @abstractmethod
    def scores(self, history: History) -> np.ndarray:
        """One float per item of `item_ids`, for this history folded in (no retraining)."""

    def recommend(self, history: History, k: int) -> list[str]:
        return top_items(self.scores(history), self.item_ids, set(history.item_ids), k)


def input_items(history: History) -> list[str]:
    """What a model reads from a history: every item in time order except the ones the person disliked
    (a 👎 says 'not this', which a co-occurrence model would otherwise read as 'more like this')."""
    return [r.item_id for r in history.ratings if not r.disliked]


# ---------------------------------------------------------------- validation split (training data only)
@dataclass(frozen=True)
class ValidationSplit:
    """Each training history cut in time: the models learn from `train`, choose their settings on `targets`
    (the later liked items of users with at least one), and never see the evaluated futures."""

    train: dict[str, History]
    inputs: dict[str, History]  # the earlier part of each validated user's history
    targets: dict[str, frozenset[str]]


def validation_split(histories: dict[str, History], share: float = 0.8, min_ratings: int = 5) -> ValidationSplit:
    train, inputs, targets = {}, {}, {}
    for user, history in histories.items():
        ratings = sorted(history.ratings, key=lambda r: (r.timestamp or 0, r.item_id))
        if len(ratings) < min_ratings:
            train[user] = history
            continue
        cut = max(1, min(len(ratings) - 1, round(len(ratings) * share)))
        past = History.of(ratings[:cut], name=user)
        liked = frozenset(r.item_id for r in ratings[cut:] if r.rating is not None and r.rating >= 4.0)
        train[user] = past
        if liked:
            inputs[user], targets[user] = past, liked
    return ValidationSplit(train, inputs, targets)


def validation_ndcg(model: InterestModel, split: ValidationSplit, k: int = 10) -> float:
    """Mean binary NDCG@k of the model's top k (seen items excluded) on the validation targets."""
    values = []
    for user, target in split.targets.items():
        recs = model.recommend(split.inputs[user], k)
        dcg = sum(1.0 / math.log2(r + 2) for r, item in enumerate(recs) if item in target)
        ideal = sum(1.0 / math.log2(r + 2) for r in range(min(len(target), k)))
        values.append(dcg / ideal)
    return float(np.mean(values)) if values else float("nan")


# ---------------------------------------------------------------- the cache
def data_key(histories: dict[str, History], item_ids: list[str], settings: dict) -> str:
    """A hash of everything a trained model depends on: every rating, the item vocabulary, the settings."""
    h = hashlib.sha256()
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    h.update(json.dumps(list(item_ids)).encode())
    for user in sorted(histories):
        h.update(json.dumps([user, [(r.item_id, r.rating, r.timestamp) for r in histories[user].ratings]]).encode())
    return h.hexdigest()[:20]


def cached(path: Path, build: Callable[[], T], save: Callable[[T, Path], None],
           load: Callable[[Path], T]) -> tuple[T, bool]:
    """The model stored at `path` (its name carries the data key), else built and stored. Returns
    (model, built). The file is written under a temporary name and renamed, so a crash never leaves a partial
    file under the real name; a file that fails to load is treated as absent and rebuilt."""
    if path.is_file():
        try:
            return load(path), False
        except Exception:  # noqa: BLE001 - any damage (truncated, wrong format) means: rebuild
            pass
    model = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save(model, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return model, True


def top_items(scores: np.ndarray, item_ids: list[str], exclude: set[str], k: int) -> list[str]:
    order = np.argsort(-scores, kind="stable")
    out = []
    for n in order:
        if item_ids[n] not in exclude:
            out.append(item_ids[n])
            if len(out) == k:
                break
    return out
