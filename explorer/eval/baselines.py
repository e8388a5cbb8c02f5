"""Classic recommenders the explorer is measured against: popularity, item-item CF, embedding similarity."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from explorer.catalog import History


class Interactions:
    """The training interactions (everything except the evaluated users' futures) as a sparse matrix."""

    def __init__(self, histories: dict[str, History], item_ids: list[str]):
        self.item_ids = item_ids
        self.index = {item: n for n, item in enumerate(item_ids)}
        rows, cols, vals = [], [], []
        for u, (user, history) in enumerate(sorted(histories.items())):
            for r in history.ratings:
                if r.item_id in self.index:
                    rows.append(u)
                    cols.append(self.index[r.item_id])
                    vals.append(1.0)
        self.n_users = len(histories)
        self.matrix = sparse.csr_matrix((vals, (rows, cols)), shape=(self.n_users, len(item_ids)), dtype=np.float32)
        self.counts = np.asarray(self.matrix.sum(axis=0)).ravel()

    def popularity(self, item_id: str) -> float:
        """Share of users who interacted with the item, add-one smoothed so unseen items stay finite."""
        return (self.counts[self.index[item_id]] + 1.0) / (self.n_users + 1.0)


def _top(scores: np.ndarray, item_ids: list[str], exclude: set[str], k: int) -> list[str]:
    order = np.argsort(-scores, kind="stable")
    out = []
    for n in order:
        if item_ids[n] not in exclude:
            out.append(item_ids[n])
            if len(out) == k:
                break
    return out


class Popularity:
    name = "popularity"

    def __init__(self, data: Interactions):
        self.data = data

    def recommend(self, history: History, k: int) -> list[str]:
        return _top(self.data.counts, self.data.item_ids, set(history.item_ids), k)


class ItemItemCF:
    """Cosine similarity between items' user vectors; a user's score is the sum over their liked items."""

    name = "item-item CF"

    def __init__(self, data: Interactions):
        self.data = data
        norms = np.sqrt(np.asarray(data.matrix.multiply(data.matrix).sum(axis=0)).ravel())
        self.normalised = data.matrix @ sparse.diags(1.0 / np.maximum(norms, 1e-12))

    def scores(self, history: History) -> np.ndarray:
        liked = np.zeros(len(self.data.item_ids), dtype=np.float32)
        for r in history.liked:
            if r.item_id in self.data.index:
                liked[self.data.index[r.item_id]] = 1.0
        return np.asarray(self.normalised.T @ (self.normalised @ liked)).ravel()

    def recommend(self, history: History, k: int) -> list[str]:
        return _top(self.scores(history), self.data.item_ids, set(history.item_ids), k)


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
        return _top(self.vectors @ centre, self.item_ids, set(history.item_ids), k)
