"""Collaborative signal from interaction data: who rated what, item-item similarity, popularity.

Used by the explorer to ground its queries in what people actually go on to like, and by the
evaluation's baselines.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from explorer.catalog import History
from explorer.interest.base import InterestModel


class Interactions:
    """Interactions as a sparse users × items matrix (binary: a rating of any value is an interaction)."""

    def __init__(self, histories: dict[str, History], item_ids: list[str]):
        self.item_ids = list(item_ids)
        self.index = {item: n for n, item in enumerate(self.item_ids)}
        rows, cols = [], []
        for u, (_, history) in enumerate(sorted(histories.items())):
            for r in history.ratings:
                if r.item_id in self.index:
                    rows.append(u)
                    cols.append(self.index[r.item_id])
        self.n_users = len(histories)
        self.matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                                        shape=(self.n_users, len(self.item_ids)), dtype=np.float32)
        self.counts = np.asarray(self.matrix.sum(axis=0)).ravel()

    def popularity(self, item_id: str) -> float:
        """Share of users who interacted with the item, add-one smoothed so unseen items stay finite."""
        return (self.counts[self.index[item_id]] + 1.0) / (self.n_users + 1.0)


class ItemItemCF(InterestModel):
    """Cosine similarity between items' user vectors; a user's score for an item is the sum of its
    similarities to the items they liked."""

    name = "item-item CF"

    def __init__(self, data: Interactions):
        super().__init__(data.item_ids)
        self.data = data
        norms = np.sqrt(np.asarray(data.matrix.multiply(data.matrix).sum(axis=0)).ravel())
        self.normalised = data.matrix @ sparse.diags(1.0 / np.maximum(norms, 1e-12))

    def scores(self, history: History) -> np.ndarray:
        liked = np.zeros(len(self.data.item_ids), dtype=np.float32)
        for r in history.liked:
            if r.item_id in self.data.index:
                liked[self.data.index[r.item_id]] = 1.0
        return np.asarray(self.normalised.T @ (self.normalised @ liked)).ravel()
