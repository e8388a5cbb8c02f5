"""The interest model chosen by settings, trained once per data set and cached under the data directory."""

from __future__ import annotations

import logging
from pathlib import Path

from explorer.catalog import History
from explorer.config import InterestConfig
from explorer.interest.base import InterestModel
from explorer.interest.collab import Interactions, ItemItemCF

log = logging.getLogger(__name__)


def build_interest_model(config: InterestConfig, histories: dict[str, History], item_ids: list[str],
                         cache_dir: Path) -> InterestModel:
    """`config.model` over these histories; EASE and the sequence model come from `cache_dir` when the same data
    and settings trained them before (item-item CF is a sparse product: cheaper to rebuild than to read)."""
    if config.model == "itemcf":
        return ItemItemCF(Interactions(histories, item_ids))
    if config.model == "ease":
        from explorer.interest.ease import cached_ease

        model, built = cached_ease(cache_dir, histories, item_ids, config.ease_l2)
    else:
        from explorer.interest.sequence import cached_sequence

        model, built = cached_sequence(cache_dir, histories, item_ids, config.sequence)
    log.info("%s %s", model.name, "trained and cached" if built else "read from the cache")
    return model
