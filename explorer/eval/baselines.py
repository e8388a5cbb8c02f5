"""Classic recommenders the explorer is measured against: popularity, item-item CF, embedding similarity."""

from __future__ import annotations

import numpy as np

from explorer.catalog import History
from explorer.interest.base import top_items
from explorer.interest.collab import Interactions, ItemItemCF  # the baseline is the explorer's own CF

__all__ = ["EmbeddingSimilarity", "Interactions", "ItemItemCF", "MMRCF", "ModelRanking", "Popularity",
           "PopularityDiscountCF"]


class Popularity:
    name = "popularity"

    def __init__(self, data: Interactions):
        self.data = data

    def recommend(self, history: History, k: int) -> list[str]:
        return top_items(self.data.counts, self.data.item_ids, set(history.item_ids), k)


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


class ModelRanking:
    """Any interest model's own top k (EASE, the sequence model): the explorer's base, measured alone."""

    def __init__(self, model, name: str | None = None):
        self.model, self.name = model, name or model.name

    def recommend(self, history: History, k: int) -> list[str]:
        return self.model.recommend(history, k)


class PopularityDiscountCF(ItemItemCF):
    """Item-item CF scores divided by popularity^β: the one-line novelty trick the explorer must beat."""

    def __init__(self, data: Interactions, beta: float):
        super().__init__(data)
        self.beta = beta
        self.name = f"CF ÷ pop^{beta:g}"
        self._discount = ((data.counts + 1.0) / (data.n_users + 1.0)) ** beta

    def recommend(self, history: History, k: int) -> list[str]:
        return top_items(self.scores(history) / self._discount, self.data.item_ids, set(history.item_ids), k)


class MMRCF(ItemItemCF):
    """Item-item CF re-ranked by maximal marginal relevance over content embeddings: λ·CF (scaled to [0, 1])
    − (1 − λ)·(largest cosine to an item already chosen), over CF's top `pool` items. λ = 1 is CF itself."""

    def __init__(self, data: Interactions, vectors: np.ndarray, lam: float, pool: int = 100):
        super().__init__(data)
        self.lam, self.pool, self.name = lam, pool, f"MMR CF λ={lam:g}"
        self.unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def recommend(self, history: History, k: int) -> list[str]:
        scores = self.scores(history)
        top = top_items(scores, self.data.item_ids, set(history.item_ids), self.pool)
        if not top:
            return []
        idx = np.array([self.data.index[i] for i in top])
        rel = scores[idx] / max(float(scores[idx].max()), 1e-12)
        chosen: list[int] = []
        redundancy = np.zeros(len(idx))
        remaining = np.ones(len(idx), dtype=bool)
        while len(chosen) < min(k, len(idx)):
            value = np.where(remaining, self.lam * rel - (1 - self.lam) * redundancy, -np.inf)
            pick = int(np.argmax(value))  # ties: the better CF rank
            chosen.append(pick)
            remaining[pick] = False
            redundancy = np.maximum(redundancy, self.unit[idx] @ self.unit[idx[pick]]) if len(chosen) else redundancy
        return [top[c] for c in chosen]
