"""Ranking and beyond-accuracy metrics: small pure functions of (recommended list, relevant items).

Each undefined case is NaN, not 0 (an empty list has no precision; one item has no intra-list
similarity), so averages never hide missing data as bad data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np

NAN = float("nan")


def recall_at_k(recs: Sequence[str], relevant: set[str], k: int) -> float:
    if not relevant:
        return NAN
    return len(set(recs[:k]) & relevant) / len(relevant)


def ndcg_at_k(recs: Sequence[str], relevant: set[str], k: int) -> float:
    """Binary-gain NDCG: DCG of the list over the DCG of a perfect list of min(|relevant|, k) hits."""
    if not relevant:
        return NAN
    dcg = sum(1.0 / math.log2(rank + 2) for rank, item in enumerate(recs[:k]) if item in relevant)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(relevant), k)))
    return dcg / ideal


def hit_at_k(recs: Sequence[str], relevant: set[str], k: int) -> float:
    if not relevant:
        return NAN
    return 1.0 if set(recs[:k]) & relevant else 0.0


def mrr_at_k(recs: Sequence[str], relevant: set[str], k: int) -> float:
    if not relevant:
        return NAN
    return next((1.0 / (rank + 1) for rank, item in enumerate(recs[:k]) if item in relevant), 0.0)


def intra_list_similarity(vectors: Sequence[np.ndarray]) -> float:
    """Mean pairwise cosine similarity of the list (lower = more diverse)."""
    if len(vectors) < 2:
        return NAN
    m = np.asarray(vectors, dtype=np.float64)
    m = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
    sims = m @ m.T
    n = len(m)
    return float((sims.sum() - np.trace(sims)) / (n * (n - 1)))


def coverage(lists: Iterable[Sequence[str]], catalog_size: int) -> float:
    """Share of the catalogue that appears in at least one list."""
    return len({i for recs in lists for i in recs}) / catalog_size if catalog_size else NAN


def novelty(recs: Sequence[str], popularity: Callable[[str], float]) -> float:
    """Mean self-information −log2 p(i), where p(i) is the share of users who interacted with i."""
    if not recs:
        return NAN
    return float(np.mean([-math.log2(popularity(i)) for i in recs]))


def serendipity(recs: Sequence[str], relevant: set[str], expected: set[str], k: int) -> float:
    """Share of the list that is relevant and that an obvious recommender (`expected`) would not have shown."""
    if not recs:
        return NAN
    return len([i for i in recs[:k] if i in relevant and i not in expected]) / k


def exploration_hit(recs: Sequence[str], relevant: set[str], region: Callable[[str], object],
                    visited: set, k: int) -> float:
    """1 if a relevant item in the list lies in an interest region the history never touched."""
    if not relevant:
        return NAN
    return 1.0 if any(i in relevant and region(i) not in visited for i in recs[:k]) else 0.0
