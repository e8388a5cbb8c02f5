"""Step 4: merge and diversify. Lanes take turns in proportion to their weights (the explore knob's share of
the list; by default their number of queries), so the knob's mix survives ranking. All deepen queries share
one lane, which keeps the interest model's own order (at explore = 0 the list is the model's list); within an
exploring lane maximal marginal relevance picks the candidate that is relevant and unlike those already chosen."""

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


REQUEST_SHARE = 0.5  # a request in words is the answer's main subject, not one exploring lane among several


def lane_weights(queries: list[ExploreQuery], explore: float) -> dict[Hashable, float]:
    """The share of the list each lane is owed: `explore` split evenly over the exploring lanes, the rest to the
    deepen lane (a lane that is alone gets everything)."""
    lanes = lanes_for(queries)
    exploring = sorted({lane for lane in lanes.values() if lane != "deepen"}, key=str)
    has_deepen = "deepen" in lanes.values()
    share = max(0.0, min(1.0, explore)) if has_deepen else 1.0
    weights: dict[Hashable, float] = {lane: share / len(exploring) for lane in exploring} if exploring else {}
    if has_deepen:
        weights["deepen"] = 1.0 - share if exploring else 1.0
    asked = {lanes[i] for i, q in enumerate(queries) if q.requested}
    if asked and len(weights) > len(asked):  # what the person asked for in words fills at least half the list
        owed = sum(weights[lane] for lane in asked)
        if owed < REQUEST_SHARE:
            rest = 1.0 - owed
            weights = {lane: (REQUEST_SHARE / len(asked) if lane in asked else w * (1.0 - REQUEST_SHARE) / rest)
                       for lane, w in weights.items()}
    return weights


def rank(candidates: list[Candidate], profile: InterestProfile, catalog: Catalog,
         embeddings: dict[str, np.ndarray], k: int, mmr_lambda: float = 0.7,
         lanes: dict[int, Hashable] | None = None, weights: dict[Hashable, float] | None = None,
         avoid_in_deepen: bool = True) -> list[tuple[Candidate, float]]:
    """Top k (candidate, score) pairs. Items tagged with something the profile avoids are dropped (from the
    deepen lane only when `avoid_in_deepen`: the interest model has already read the dislikes behind a
    derived profile, while an edited one is the person's word and holds everywhere).

    `lanes` maps a query index to its lane (default: every query its own lane); `weights` a lane to its share
    (default: its number of queries). The next slot goes to the lane owed most, weight / (picked + 1)
    (D'Hondt), ties to the lane of the earliest query; the deepen lane competes with the exploring lanes as one
    party (so explore = 0.3 gives exploration exactly 3 of 10 slots, the later ones on ties), and takes its
    candidates in score order.
    """
    lane_of = (lambda q: lanes.get(q, q)) if lanes else (lambda q: q)
    best: dict[tuple[Hashable, str], Candidate] = {}
    for c in candidates:  # within a lane an item found by several queries keeps its best match; an item in
        key = (lane_of(c.query), c.item_id)  # two lanes waits in both, and the first lane to pick it takes it
        if key not in best or c.score > best[key].score:
            best[key] = c
    pool: dict[Hashable, list[Candidate]] = defaultdict(list)
    for (lane, _), c in best.items():
        if (lane == "deepen" and not avoid_in_deepen) or not avoided(catalog[c.item_id].tags, profile.avoid):
            pool[lane].append(c)
    weight = Counter(lane_of(q) for q in sorted({c.query for c in candidates}))
    if weights is not None:
        weight = {lane: weights.get(lane, 0.0) for lane in weight}
    order = sorted(pool, key=lambda lane: min(c.query for c in pool[lane]))
    picked: Counter = Counter()
    chosen: list[tuple[Candidate, float]] = []
    chosen_vecs: list[np.ndarray] = []
    while len(chosen) < k and any(pool.values()):
        open_lanes = [l for l in order if pool[l] and weight[l] > 0] or [l for l in order if pool[l]]
        exploring = [l for l in open_lanes if l != "deepen"]
        if "deepen" in open_lanes and exploring:  # first deepen against exploration as a whole, then which lane
            explored = sum(picked[l] for l in order if l != "deepen")
            share = sum(weight[l] for l in exploring)
            if weight["deepen"] / (picked["deepen"] + 1) >= share / (explored + 1):
                exploring = []
        candidates_lanes = exploring or open_lanes
        lane = max(candidates_lanes, key=lambda l: (weight[l] / (picked[l] + 1), -order.index(l)))
        lam = 1.0 if lane == "deepen" else mmr_lambda
        scored = [(_mmr(c, embeddings, chosen_vecs, lam), c) for c in pool[lane]]
        score, pick = max(scored, key=lambda s: (s[0], -(s[1].rank or 1 << 30), s[1].item_id))
        for other in pool.values():
            other[:] = [c for c in other if c.item_id != pick.item_id]
        picked[lane] += 1
        chosen.append((pick, round(float(score), 4)))
        if pick.item_id in embeddings:
            chosen_vecs.append(embeddings[pick.item_id])
    return chosen


def _mmr(c: Candidate, embeddings: dict[str, np.ndarray], chosen: list[np.ndarray], lam: float) -> float:
    vec = embeddings.get(c.item_id)
    redundancy = max((float(vec @ v) for v in chosen), default=0.0) if vec is not None else 0.0
    return lam * c.score - (1 - lam) * redundancy
