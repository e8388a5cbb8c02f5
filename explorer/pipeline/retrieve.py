"""Step 3: each query -> candidates, never an item the person has rated.

The interest model (EASE by default, explorer/interest/) does the scoring, as in Google's hierarchical
explorer (Wang et al. 2024): the deepen lane is the model's own ranking, unrestricted; an exploring query
grounded in an interest cluster takes the model's best less-known items inside that cluster (its score ÷
popularity^β: exploring leaves the head as well as the known clusters), with the query's text relevance only as
a tie-breaker. With few users (the demo's personas) the model is trusted proportionally
less and the text relevance carries the score, as it did before there was any interaction data.
"""

from __future__ import annotations

import numpy as np

from explorer.catalog import Catalog, History
from explorer.config import RetrieveConfig
from explorer.interest.base import InterestModel, input_items
from explorer.interest.clusters import ClusterModel
from explorer.store.embed import Embedder
from explorer.pipeline.values import Candidate, ExploreQuery
from explorer.store.items import ItemStore


class Retriever:
    def __init__(self, store: ItemStore, embedder: Embedder, per_query: int = 12,
                 clusters: ClusterModel | None = None, interest: InterestModel | None = None,
                 n_users: int = 0, full_trust_users: int = 100, text_tiebreak: float = 0.01,
                 catalog: Catalog | None = None, popularity: np.ndarray | None = None,
                 explore_discount: float = 0.0):
        """`store.vectors` (every item's embedding, held in memory) gives the text tie-breaker for the model's
        picks without a round trip to Chroma. `popularity` (each of the model's items' share of users, in its
        order) and `explore_discount` (β): an exploring query ranks its cluster by the model's score ÷
        popularity^β (`discounted`); the deepen lane keeps the model's own scores."""
        self.store, self.embedder, self.per_query = store, embedder, per_query
        self.clusters, self.interest, self.catalog = clusters, interest, catalog
        # A handful of users' co-occurrences is noise, not taste: shrink the model's weight until data is plentiful.
        self.trust = min(1.0, n_users / full_trust_users) if interest is not None else 0.0
        self.text_tiebreak = text_tiebreak
        self.popularity = None if popularity is None else np.asarray(popularity, dtype=np.float64)
        self.explore_discount = explore_discount
        if interest is not None:
            self._cluster_of = np.array([clusters.assignment.get(i, -1) for i in interest.item_ids]) \
                if clusters is not None else None
            self._kind_of = np.array([catalog[i].kind if catalog is not None and i in catalog else ""
                                      for i in interest.item_ids])

    @classmethod
    def from_config(cls, config: RetrieveConfig, store: ItemStore, embedder: Embedder,
                    clusters: ClusterModel | None = None, interest: InterestModel | None = None,
                    n_users: int = 0, catalog: Catalog | None = None, popularity: np.ndarray | None = None):
        return cls(store, embedder, config.per_query, clusters, interest, n_users, config.collab_full_trust_users,
                   config.text_tiebreak, catalog, popularity, config.explore_discount)

    def retrieve(self, queries: list[ExploreQuery], history: History, kinds: list[str] | None = None,
                 seeds: History | None = None, k: int = 10) -> list[Candidate]:
        """`seeds` (default: the history) are what the interest model reads; an edited profile passes only the
        liked items its themes still cite, so the edit wins over the old history. `k`: the list's length, the
        least the deepen lane must offer."""
        seen = set(history.item_ids)  # liked, disliked and merely seen items are all excluded
        raw = self._raw_scores(history if seeds is None else seeds)
        deep = self._scaled(raw, 0.0)  # the deepen lane: the model's own ranking
        wide = self._scaled(raw, self.explore_discount)  # exploring lanes: its best less-known items
        model = deep
        trusted = model is not None and self.trust >= 1.0
        candidates: list[Candidate] = []
        deepen = [i for i, q in enumerate(queries) if q.mode == "deepen"]
        if trusted and deepen:  # the model's own ranking, unrestricted, shared by every deepen query
            n = max(k, self.per_query * len(deepen))
            for place, n_item in enumerate(self._best(model, None, seen, kinds, n), start=1):
                home = self._deepen_home(queries, deepen, n_item)
                candidates.append(Candidate(item_id=self.interest.item_ids[n_item], query=home,
                                            score=float(model[n_item]), rank=place))
        for index, query in enumerate(queries):
            if trusted and query.mode == "deepen":
                continue
            model = deep if query.mode == "deepen" else wide
            vector = self.embedder.query(query.text)
            grounded = query.cluster is not None and model is not None and self._cluster_of is not None
            # A trusted model picks a grounded query's items itself: text only breaks ties, so no text search.
            text = {} if trusted and grounded else \
                {h.item_id: h.similarity for h in
                 self.store.query(vector, self.per_query, exclude=seen, kinds=kinds, cluster=query.cluster)}
            if model is None:
                candidates += [Candidate(item_id=i, query=index, score=round(float(s), 6)) for i, s in text.items()]
                continue
            picked = []
            if grounded:
                picked = [self.interest.item_ids[n] for n in self._best(model, query.cluster, seen, kinds,
                                                                         self.per_query)]
                missing = [i for i in picked if i not in text]
                vectors = self.store.vectors.get(missing)
                text.update({i: float(vectors[i] @ vector) for i in missing if i in vectors})
            for item_id, similarity in text.items():
                m = self._model_of(model, item_id)
                score = self.trust * m + (1.0 - self.trust) * similarity + self.text_tiebreak * similarity
                candidates.append(Candidate(item_id=item_id, query=index, score=float(score)))
        return candidates

    def _raw_scores(self, history: History) -> np.ndarray | None:
        """The interest model's scores for this history (in its item order); None without a model or without
        anything to read."""
        if self.interest is None or not input_items(history):
            return None
        return self.interest.scores(history).astype(np.float64)

    def _scaled(self, scores: np.ndarray | None, beta: float) -> np.ndarray | None:
        """`discounted` by popularity^beta, then scaled to [0, 1]; None when nothing is there to rank."""
        if scores is None:
            return None
        if beta > 0 and self.popularity is not None:
            scores = discounted(scores, self.popularity, beta)
        lo, hi = float(scores.min()), float(scores.max())
        return (scores - lo) / (hi - lo) if hi > lo else None

    def _best(self, model: np.ndarray, cluster: int | None, seen: set[str], kinds: list[str] | None,
              n: int) -> list[int]:
        """Positions of the model's n best items (inside `cluster` when given), in its order; ties by position."""
        mask = np.ones(len(model), dtype=bool)
        if cluster is not None:
            mask &= self._cluster_of == cluster
        if kinds:
            mask &= np.isin(self._kind_of, list(kinds))
        ids = self.interest.item_ids
        out = []
        for n_item in np.flatnonzero(mask)[np.argsort(-model[mask], kind="stable")]:
            if ids[n_item] not in seen:
                out.append(int(n_item))
                if len(out) == n:
                    break
        return out

    def _deepen_home(self, queries: list[ExploreQuery], deepen: list[int], n_item: int) -> int:
        """The deepen query whose cluster holds the item (its explanation names that interest), else the first."""
        if self._cluster_of is not None:
            for i in deepen:
                if queries[i].cluster is not None and queries[i].cluster == self._cluster_of[n_item]:
                    return i
        return deepen[0]

    def _model_of(self, model: np.ndarray, item_id: str) -> float:
        n = self.interest.index.get(item_id)
        return float(model[n]) if n is not None else 0.0


def discounted(scores: np.ndarray, popularity: np.ndarray, beta: float) -> np.ndarray:
    """Positive scores divided by popularity^beta (the share of users who know the item): among items the model
    finds likely, the less known rise. Scores at or below zero (the model's 'unlikely') keep their value and
    order, so the discount never lifts an item the model argues against; beta = 0 changes nothing."""
    if beta <= 0:
        return scores
    return np.where(scores > 0, scores / np.power(popularity, beta), scores)
