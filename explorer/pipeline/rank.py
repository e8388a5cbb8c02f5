"""Step 4: merge and diversify. Lanes take turns in proportion to their queries, so the explore knob's mix
survives ranking; within a turn maximal marginal relevance picks the candidate that is relevant and unlike
those already chosen. All deepen queries share one lane, so the strongest of the person's own interests
win the deepen slots instead of each interest getting an equal share."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable

import numpy as np

from explorer.catalog import Catalog
from explorer.pipeline.values import Candidate, ExploreQuery, InterestProfile


def avoided(tags: tuple[str, ...], avoid: tuple[str, ...]) -> bool:
    return any(a == t or a in t.split() or (len(a) > 3 and a in t) for a in avoid for t in tags)


def lanes_for(queries: list[ExploreQuery]) -> dict[int, Hashable]:
    """Deepen queries pool into one lane; each exploring query is a lane of its own."""
    return {i: "deepen" if q.mode == "deepen" else i for i, q in enumerate(queries)}


def rank(candidates: list[Candidate], profile: InterestProfile, catalog: Catalog,
         embeddings: dict[str, np.ndarray], k: int, mmr_lambda: float = 0.7,
         lanes: dict[int, Hashable] | None = None) -> list[tuple[Candidate, float]]:
    """Top k (candidate, score) pairs. Items tagged with something the profile avoids are dropped.

    `lanes` maps a query index to its lane (default: every query its own lane).
    """
    best: dict[str, Candidate] = {}
    for c in candidates:  # an item found by several queries keeps its best match
        if c.item_id not in best or c.score > best[c.item_id].score:
            best[c.item_id] = c
    lane_of = (lambda q: lanes.get(q, q)) if lanes else (lambda q: q)
    pool: dict[Hashable, list[Candidate]] = defaultdict(list)
    for c in best.values():
        if not avoided(catalog[c.item_id].tags, profile.avoid):
            pool[lane_of(c.query)].append(c)
    weight = Counter(lane_of(q) for q in sorted({c.query for c in candidates}))
    order = sorted(pool, key=lambda lane: min(c.query for c in pool[lane]))
    picked: Counter = Counter()
    chosen: list[tuple[Candidate, float]] = []
    chosen_vecs: list[np.ndarray] = []
    while len(chosen) < k and any(pool.values()):
        lane = min((l for l in order if pool[l]), key=lambda l: (picked[l] / weight[l], order.index(l)))
        scored = [(_mmr(c, embeddings, chosen_vecs, mmr_lambda), c) for c in pool[lane]]
        score, pick = max(scored, key=lambda s: (s[0], s[1].item_id))
        pool[lane].remove(pick)
        picked[lane] += 1
        chosen.append((pick, round(float(score), 4)))
        if pick.item_id in embeddings:
            chosen_vecs.append(embeddings[pick.item_id])
    return chosen


def _mmr(c: Candidate, embeddings: dict[str, np.ndarray], chosen: list[np.ndarray], lam: float) -> float:
    vec = embeddings.get(c.item_id)
    redundancy = max((float(vec @ v) for v in chosen), default=0.0) if vec is not None else 0.0
    return lam * c.score - (1 - lam) * redundancy
