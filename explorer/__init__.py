"""Interest Explorer: a local LLM reads your history, writes an editable interest profile, plans
exploratory queries, retrieves from a Chroma catalogue, and explains every recommendation."""

import os

# Offline by design: the packaged models need no hub, and no other model may be fetched at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# Loading the packaged models takes a second; transformers' per-tensor "Loading weights" bar is only noise.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from explorer.catalog import Catalog, History, Item, Rating
from explorer.config import Settings
from explorer.errors import ExplorerError
from explorer.facade import Explorer
from explorer.pipeline.events import Event, EventKind
from explorer.pipeline.values import ExploreQuery, InterestProfile, Recommendation, RecommendResult, Theme

__all__ = ["Catalog", "Event", "EventKind", "ExploreQuery", "Explorer", "ExplorerError", "History", "InterestProfile", "Item",
           "Rating", "Recommendation", "RecommendResult", "Settings", "Theme"]
