"""The Explorer facade: the one public API that the web chat, the CLI and the evaluation all call.

    from explorer import Explorer
    ex = Explorer.default()
    result = ex.recommend(ex.persona("maya"), k=5, explore=0.4)
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from explorer.catalog import (Catalog, History, ParsedHistory, Persona, history_from_lines, load_catalog,
                              load_history_file, load_personas, require_usable)
from explorer.interest.clusters import cached_cluster_model
from explorer.interest.base import InterestModel
from explorer.interest.collab import Interactions
from explorer.interest.models import build_interest_model
from explorer.config import Settings
from explorer.resources import load_once
from explorer.store.embed import Embedder
from explorer.errors import UnknownPersonaError
from explorer.pipeline.explain import Explainer, pick_evidence, template_explanation
from explorer.llm import load_backend
from explorer.pipeline.plan import Planner
from explorer.pipeline.profile import ProfileBuilder
from explorer.pipeline.injection import strip_injection
from explorer.pipeline.rank import lane_weights, lanes_for, rank
from explorer.pipeline.request import RequestReading, TagVocabulary, read_request
from explorer.pipeline.retrieve import Retriever
from explorer.pipeline.events import Event, EventKind
from explorer.pipeline.values import InterestProfile, Recommendation, RecommendResult, StepResult, StepsServedBy
from explorer.store.items import ItemStore, collection_name, open_client

PROFILE_CACHE_SIZE = 256  # histories whose profiles are kept; the oldest unused goes first


class Explorer:
    def __init__(self, settings: Settings | None = None, *, catalog: Catalog | str | Path | None = None,
                 catalog_format: str | None = None, progress: bool = False,
                 on_stage: Callable[[str], None] | None = None, interactions: dict[str, History] | None = None):
        """`on_stage`, when given, is called with a short description before each slow start-up step
        (loading the catalogue, the embedder, the index, the LLM), so a UI can show where it is.

        `interactions` (everyone's histories: MovieLens ratings, say) feed the collaborative score and the
        cluster transitions; by default the demo personas serve."""
        self.settings = settings or Settings()
        s = self.settings
        stage = on_stage or (lambda _: None)
        if not isinstance(catalog, Catalog):
            stage("reading the catalogue")
            catalog = load_catalog(catalog or s.catalog, catalog_format)
        self.catalog = catalog
        stage("loading the embedding model")
        self.embedder: Embedder = load_once(("embed", s.embed.model_dump_json()), lambda: Embedder(s.embed))
        stage("opening the index")
        client = load_once(("chroma", s.store.model_dump_json(), str(s.data_dir)), lambda: open_client(s.store, s.data_dir))
        self.store = ItemStore(client, collection_name(s.store.collection_prefix, catalog.name))
        stage(f"indexing the catalogue ({len(catalog)} items; only new or changed ones are embedded)")
        self.sync_report = self.store.sync(catalog, self.embedder, progress=progress)
        self.vectors = self.store.vectors  # read once here; requests never fetch vectors from Chroma again
        stage("loading the language model" if s.llm.backend != "none" else "preparing the pipeline")
        self.llm = load_once(("llm", s.llm.model_dump_json()), lambda: load_backend(s.llm))
        steps, variants = s.pipeline, s.prompt_variants
        self.profiler = ProfileBuilder.from_config(steps.profile, catalog, self.llm, s.prompts_dir, variants)
        self._personas: dict[str, Persona] | None = None
        if interactions is None:
            interactions = {p.name: History.of(p.history, name=p.name) for p in self.personas.values()}
        self.clusters, self.interest = self._collaborative_parts(interactions, stage)
        self.planner = Planner.from_config(steps.plan, catalog, self.llm, s.prompts_dir, variants, self.clusters)
        self.retriever = Retriever.from_config(steps.retrieve, self.store, self.embedder, self.clusters, self.interest,
                                               len(interactions), catalog, self._popularity(interactions))
        self.explainer = Explainer.from_config(steps.explain, catalog, self.llm, s.prompts_dir, variants)
        self._profiles: OrderedDict[str, StepResult[InterestProfile]] = OrderedDict()
        self._profiles_lock = threading.Lock()  # Gradio runs several sessions' events at once
        self._vocabulary: TagVocabulary | None = None  # the catalogue's tags for reading requests, built on first use

    def _collaborative_parts(self, interactions: dict[str, History], stage) -> tuple:
        """Interest clusters (cached under the data directory, ids written to Chroma) and the interest model
        (`interest.model`: EASE by default; trained once per data set, cached under data_dir/interest)."""
        p = self.settings.pipeline.plan
        if not p.use_clusters and not interactions:
            return None, None
        ids, vectors = self.vectors.ids, self.vectors.matrix  # sorted by id: clusters do not depend on the store
        clusters = None
        if p.use_clusters and len(ids) >= 2 * (p.clusters or 2):
            stage("finding interest clusters")
            clusters, _ = cached_cluster_model(
                Path(self.settings.data_dir) / "clusters" / f"{self.store.name}.json", ids, vectors, self.catalog,
                interactions, p.clusters, p.cluster_seed)
            self.store.set_clusters(clusters.assignment)
        interest: InterestModel | None = None
        if interactions:
            stage(f"loading the interest model ({self.settings.interest.model})")
            interest = build_interest_model(self.settings.interest, interactions, ids,
                                            Path(self.settings.data_dir) / "interest")
        return clusters, interest

    def _popularity(self, interactions: dict[str, History]):
        """Each of the interest model's items' share of the users who interacted with it (add-one smoothed, as the
        evaluation's novelty reads it), for the retriever's popularity discount."""
        if self.interest is None:
            return None
        data = Interactions(interactions, self.interest.item_ids)
        return (data.counts + 1.0) / (data.n_users + 1.0)

    @classmethod
    def default(cls, data_dir: str | Path | None = None, *, progress: bool = False, **settings: Any) -> "Explorer":
        """The embedded default: demo catalogue, packaged models, index under `data_dir`."""
        if data_dir is not None:
            settings["data_dir"] = Path(data_dir)
        return cls(Settings(**settings), progress=progress)

    # ---------------------------------------------------------------- histories
    @property
    def personas(self) -> dict[str, Persona]:
        if self._personas is None:
            path = self.settings.personas
            self._personas = load_personas(path, self.catalog) if Path(path).is_file() and \
                Path(self.catalog.source) == Path(self.settings.catalog) else {}
        return self._personas

    def persona(self, name: str) -> History:
        persona = self.personas.get(name.strip().lower())
        if persona is None:
            raise UnknownPersonaError(name, [p.name for p in self.personas.values()])
        return History.of(persona.history, name=persona.name)

    def parse_history(self, lines: list[str] | str) -> ParsedHistory:
        """Titles or ids, one a line; unknown lines are returned, never silently dropped."""
        if isinstance(lines, str):
            lines = lines.splitlines()
        return history_from_lines(lines, self.catalog)

    def load_history(self, path: str | Path) -> ParsedHistory:
        return load_history_file(path, self.catalog)

    # ---------------------------------------------------------------- steps
    def profile(self, history: History) -> StepResult[InterestProfile]:
        """The interest profile, cached per history: the same ratings give the same profile."""
        require_usable(history, self.catalog)
        key = history.fingerprint()
        with self._profiles_lock:
            if key in self._profiles:
                self._profiles.move_to_end(key)
                return self._profiles[key]
        built = self.profiler.build(history)  # outside the lock: one slow build must not hold up other sessions
        with self._profiles_lock:
            self._profiles[key] = built
            while len(self._profiles) > PROFILE_CACHE_SIZE:
                self._profiles.popitem(last=False)
        return built

    def recommend(self, history: History, k: int = 5, explore: float = 0.3,
                  profile: InterestProfile | None = None, request: str | RequestReading | None = None,
                  kinds: list[str] | None = None, explain: bool = True) -> RecommendResult:
        for event in self.recommend_stream(history, k, explore, profile, request, kinds, explain):
            if event.kind is EventKind.RESULT:
                return event.data
        raise RuntimeError("recommend_stream ended without a result")  # a bug, not a user error

    def recommend_stream(self, history: History, k: int = 5, explore: float = 0.3,
                         profile: InterestProfile | None = None, request: str | RequestReading | None = None,
                         kinds: list[str] | None = None, explain: bool = True) -> Iterator[Event]:
        """The whole pipeline as events, so a UI can show each part as soon as it exists. `request` is the
        person's words (read here into catalogue tags) or a reading of them (`read_request`)."""
        require_usable(history, self.catalog)
        seconds: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(stage: str):
            nonlocal clock
            now = time.perf_counter()
            seconds[stage] = round(now - clock, 3)
            clock = now

        if profile is None:
            cached = self.known_profile(history) is not None
            outcome = self.profile(history)
            profile, profile_by = outcome.value, outcome.served_by
            notes = ["profile: reused from the cache for this history"] if cached else list(outcome.notes)
        else:
            profile_by, notes = "edited", []
        lap("profile")
        yield Event(EventKind.PROFILE, profile)

        reading = self.read_request(request) if isinstance(request, str) else request
        if reading is not None:
            notes += self._request_notes(reading)
            if reading.avoided:  # "no horror": avoided in this answer (a chat session also keeps it in the profile)
                profile = profile.model_copy(update={"avoid": tuple(dict.fromkeys([*profile.avoid, *reading.avoided]))})
        planned = self.planner.plan(profile, explore, request=self._request_query(reading), history=history,
                                    asked=reading.words if reading else None)
        queries = planned.value
        notes += planned.notes
        lap("plan")
        yield Event(EventKind.PLAN, planned.value)

        cited = {i for t in profile.themes for i in t.evidence}
        seeds = History.of([r for r in history.liked if r.item_id in cited]) if profile_by == "edited" else None
        candidates = self.retriever.retrieve(queries, history, kinds, seeds, k)
        lap("retrieve")
        liked_ids = [r.item_id for r in history.liked]
        embeddings = self.vectors.get({c.item_id for c in candidates} | set(liked_ids))
        ranked = rank(candidates, profile, self.catalog, embeddings, k, self.settings.pipeline.rank.mmr_lambda,
                      lanes_for(queries), lane_weights(queries, explore), avoid_in_deepen=profile_by == "edited")
        lap("rank")

        # Every card goes out at once with its template reason; the LLM's sentences follow, all of one answer
        # written in one batched call and each checked before it is handed on (never a draft, never a retraction).
        recommendations: list[Recommendation] = []
        jobs = []
        theme_evidence = {t.label: t.evidence for t in profile.themes}
        for index, (candidate, score) in enumerate(ranked):
            item = self.catalog[candidate.item_id]
            query = queries[candidate.query]
            evidence_ids = pick_evidence(item.id, history, embeddings, 2, theme_evidence.get(query.anchor or "", ()))
            evidence = [self.catalog[e] for e in evidence_ids]
            rec = Recommendation(item_id=item.id, title=item.title, kind=item.kind, year=item.year, score=score,
                                 mode=query.mode, query=query.text, evidence=tuple(evidence_ids),
                                 explanation=template_explanation(item, evidence, query))
            recommendations.append(rec)
            jobs.append((item, evidence, query))
            yield Event(EventKind.ITEM, rec, index)
        served = []
        if explain and jobs:
            words = reading.words if reading else None
            for index, explanation in enumerate(self.explainer.explain_all(jobs, profile, words)):
                notes += explanation.notes
                served.append(explanation.served_by)
                recommendations[index] = recommendations[index].model_copy(
                    update={"explanation": explanation.value, "explanation_served_by": explanation.served_by})
                yield Event(EventKind.EXPLANATION, explanation, index)
        lap("explain")
        explain_by = served[0] if served and len(set(served)) == 1 else ("mixed" if served else "fallback")
        result = RecommendResult(profile=profile, queries=queries, recommendations=recommendations,
                                 served_by=StepsServedBy(profile=profile_by, plan=planned.served_by, explain=explain_by),
                                 notes=notes, seconds=seconds)
        yield Event(EventKind.RESULT, result)

    # ---------------------------------------------------------------- requests
    def read_request(self, message: str) -> RequestReading:
        """A person's words as wanted and avoided catalogue tags (explorer/pipeline/request.py); sentences
        addressed to the model are left out first."""
        if self._vocabulary is None:
            self._vocabulary = TagVocabulary(dict(self.catalog.tag_counts()), embed=self.embedder.encode)
        words = strip_injection(message)[0].strip()
        return read_request(words, self._vocabulary, lambda title: getattr(self.catalog.find(title), "id", None))

    def _request_query(self, reading: RequestReading | None) -> str | None:
        """The request's query, in catalogue tags only: the wanted tags, else the tags of the titles it named."""
        if reading is None:
            return None
        tags = list(reading.wanted) or [t for i in reading.titles for t in self.catalog[i].tags[:2]]
        tags = [t for t in dict.fromkeys(tags) if t not in reading.avoided]
        return ", ".join(tags) or None

    @staticmethod
    def _request_notes(reading: RequestReading) -> list[str]:
        notes = [f"request: {t!r} is not in the catalogue" for t in reading.unknown_titles]
        if reading.unmatched:
            notes.append(f"request: no catalogue tag matched {', '.join(repr(u) for u in reading.unmatched)}")
        return notes

    def known_profile(self, history: History) -> InterestProfile | None:
        """The profile of this history if it has been built already (no model call), else None."""
        with self._profiles_lock:
            outcome = self._profiles.get(history.fingerprint())
        return outcome.value if outcome else None

    def item_embeddings(self) -> tuple[list[str], np.ndarray]:
        """Every catalogue item's id and embedding (one row each, in id order), e.g. for a map."""
        return self.vectors.ids, self.vectors.matrix
