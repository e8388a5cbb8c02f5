"""Classic recommenders the explorer is measured against: popularity, item-item CF, embedding similarity."""

from __future__ import annotations

import numpy as np

from explorer.catalog import History
from explorer.interest.collab import Interactions, ItemItemCF as _ItemItemScores, top_items

__all__ = ["EmbeddingSimilarity", "Interactions", "ItemItemCF", "Popularity"]


class Popularity:
    name = "popularity"

    def __init__(self, data: Interactions):
        self.data = data

    def recommend(self, history: History, k: int) -> list[str]:
        return top_items(self.data.counts, self.data.item_ids, set(history.item_ids), k)


class ItemItemCF(_ItemItemScores):
    name = "item-item CF"

    def recommend(self, history: History, k: int) -> list[str]:
        return top_items(self.scores(history), self.data.item_ids, set(history.item_ids), k)


class EmbeddingSimilarity:
    """Nearest items to the mean embedding of the liked history (content only)."""

    name = "embedding similarity"

    def __init__(self, item_ids: list[str], vectors: np.ndarray):
        self.item_ids, self.vectors = item_ids, vectors
        self.index = {item: n for n, item in enumerate(item_ids)}

    def recommend(self, history: History, k: int) -> list[str]:
        liked = [self.index[r.item_id] for r in history.liked if r.item_id in self.index]
        if not liked:
            return []
        centre = self.vectors[liked].mean(axis=0)
        return top_items(self.vectors @ centre, self.item_ids, set(history.item_ids), k)
