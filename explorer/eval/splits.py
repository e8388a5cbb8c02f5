"""Per-user temporal splits: the earliest share of each user's ratings is the history, the rest the future."""

from __future__ import annotations

import random
from dataclasses import dataclass

from explorer.catalog import LIKE_THRESHOLD, History


@dataclass(frozen=True)
class UserSplit:
    user: str
    history: History  # the past the recommender sees (ratings <= 2.0 in it are dislikes)
    future: History  # held out
    relevant: frozenset[str]  # future items rated >= 4.0


def temporal_split(user: str, history: History, history_share: float = 0.8) -> UserSplit:
    ratings = sorted(history.ratings, key=lambda r: (r.timestamp or 0, r.item_id))
    cut = max(1, min(len(ratings) - 1, round(len(ratings) * history_share)))
    past, future = History.of(ratings[:cut], name=user), History.of(ratings[cut:], name=user)
    relevant = frozenset(r.item_id for r in future.ratings if r.rating is not None and r.rating >= LIKE_THRESHOLD)
    return UserSplit(user, past, future, relevant)


def sample_users(histories: dict[str, History], n: int, seed: int, history_share: float = 0.8) -> list[UserSplit]:
    """n users, drawn with a fixed seed among those whose future holds at least one positive."""
    splits = [temporal_split(u, h, history_share) for u, h in sorted(histories.items(), key=lambda kv: _key(kv[0]))
              if len(h) >= 2]
    usable = [s for s in splits if s.relevant]
    rng = random.Random(seed)
    return sorted(rng.sample(usable, min(n, len(usable))), key=lambda s: _key(s.user))


def _key(user: str):
    return (0, int(user), user) if user.isdigit() else (1, 0, user)
