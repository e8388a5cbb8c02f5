"""Step 3: each query -> candidates, never an item the person has rated.

A query grounded in an interest cluster takes its candidates from inside that cluster: the items nearest
to its text (Chroma, metadata filter on the cluster) and the items the collaborative signal ranks highest
there; each is scored by a blend of the two. Without clusters or interaction data, text relevance alone.
"""

from __future__ import annotations

import numpy as np

from explorer.catalog import History
from explorer.config import RetrieveConfig
from explorer.interest.clusters import ClusterModel
from explorer.interest.collab import ItemItemCF
from explorer.store.embed import Embedder
from explorer.pipeline.values import Candidate, ExploreQuery
from explorer.store.items import ItemStore


class Retriever:
    def __init__(self, store: ItemStore, embedder: Embedder, per_query: int = 12,
                 clusters: ClusterModel | None = None, collab: ItemItemCF | None = None,
                 relevance_weight: float = 0.5, collab_weight: float = 0.5, full_trust_users: int = 100):
        self.store, self.embedder, self.per_query = store, embedder, per_query
        self.clusters, self.collab = clusters, collab
        # A handful of users' co-occurrences is noise, not taste: shrink the CF weight until data is plentiful.
        trust = min(1.0, collab.data.n_users / full_trust_users) if collab is not None else 0.0
        share = trust * collab_weight / max(relevance_weight + collab_weight, 1e-12)
        self.weights = (1.0 - share, share)
        if clusters is not None and collab is not None:
            self._cluster_of = np.array([clusters.assignment.get(i, -1) for i in collab.data.item_ids])

    @classmethod
    def from_config(cls, config: RetrieveConfig, store: ItemStore, embedder: Embedder,
                    clusters: ClusterModel | None = None, collab: ItemItemCF | None = None):
        return cls(store, embedder, config.per_query, clusters, collab, config.relevance_weight, config.collab_weight,
                   config.collab_full_trust_users)

    def retrieve(self, queries: list[ExploreQuery], history: History, kinds: list[str] | None = None,
                 seeds: History | None = None) -> list[Candidate]:
        """`seeds` (default: the history) are the liked items the collaborative score starts from; an edited
        profile passes only the items its themes still cite, so the edit wins over the old history."""
        seen = set(history.item_ids)  # liked, disliked and merely seen items are all excluded
        collab = self._collab_scores(history if seeds is None else seeds)
        candidates = []
        for index, query in enumerate(queries):
            vector = self.embedder.query(query.text)
            hits = {h.item_id: h.similarity for h in
                    self.store.query(vector, self.per_query, exclude=seen, kinds=kinds, cluster=query.cluster)}
            if collab is not None and query.cluster is not None:
                hits.update(self._collab_hits(collab, query.cluster, vector, seen, set(hits)))
            for item_id, similarity in hits.items():
                score = similarity if collab is None else \
                    self.weights[0] * similarity + self.weights[1] * self._collab_of(collab, item_id)
                candidates.append(Candidate(item_id=item_id, query=index, score=round(float(score), 6)))
        return candidates

    def _collab_scores(self, history: History) -> np.ndarray | None:
        """Item-item CF scores for this history (in the interaction data's item order), scaled to [0, 1];
        None without interaction data."""
        if self.collab is None or not history.liked:
            return None
        scores = self.collab.scores(history)
        top = float(scores.max()) if scores.size else 0.0
        return scores / top if top > 0 else None

    def _collab_of(self, collab: np.ndarray, item_id: str) -> float:
        n = self.collab.data.index.get(item_id)
        return float(collab[n]) if n is not None else 0.0

    def _collab_hits(self, collab: np.ndarray, cluster: int, vector, seen: set[str], have: set[str]) -> dict[str, float]:
        """The cluster's best items by collaborative score, with their text relevance to the query."""
        scores = np.where(self._cluster_of == cluster, collab, -1.0)
        ids = self.collab.data.item_ids
        picked = []
        for n in np.argsort(-scores, kind="stable"):
            if scores[n] <= 0 or len(picked) == self.per_query:
                break
            if ids[n] not in seen and ids[n] not in have:
                picked.append(ids[n])
        vectors = self.store.embeddings(picked)
        return {i: float(vectors[i] @ vector) for i in picked if i in vectors}

