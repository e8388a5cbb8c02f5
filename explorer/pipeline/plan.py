"""Step 2: profile -> exploratory queries. `deepen` grows from the person's own themes; `adjacent` and
`novel` step to tags the catalogue links to those themes, or to ones it does not. The LLM only chooses
among offered options (an enum), so it can steer but never leave the catalogue's vocabulary."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations

from explorer.catalog import Catalog, History
from explorer.interest.clusters import ClusterModel
from explorer.pipeline.injection import strip_injection
from explorer.pipeline.prompts import Prompt
from explorer.config import PlanConfig
from explorer.pipeline.prompts import select_prompt
from explorer.pipeline.values import ExploreQuery, InterestProfile, StepResult, parse_choices

MIN_TAG_ITEMS = 2  # a tag on a single item is too thin to explore


class TagGraph:
    """Which tags the catalogue's items carry together: the neighbourhoods that exploration walks."""

    def __init__(self, catalog: Catalog):
        self.df = Counter(t for item in catalog.items.values() for t in item.tags)
        self.co: dict[str, Counter] = defaultdict(Counter)
        for item in catalog.items.values():
            for a, b in combinations(item.tags, 2):
                self.co[a][b] += 1
                self.co[b][a] += 1
        self.n = max(len(catalog), 1)

    def usable(self, tag: str) -> bool:
        return self.df[tag] >= MIN_TAG_ITEMS

    def affinity(self, tag: str, anchors: list[str]) -> float:
        """Pointwise mutual information of `tag` with the anchors, positive part, summed."""
        total = 0.0
        for anchor in anchors:
            joint = self.co[anchor][tag]
            if joint:
                total += max(math.log(joint * self.n / (self.df[anchor] * self.df[tag])), 0.0)
        return total

    def companions(self, tag: str, n: int = 1, exclude: set[str] = frozenset()) -> list[str]:
        return [t for t, _ in self.co[tag].most_common() if t not in exclude and self.usable(t)][:n]


@dataclass(frozen=True)
class Option:
    tag: str  # what the LLM sees and chooses: a tag, or a cluster's label
    mode: str
    anchor: str | None
    score: float
    cluster: int | None = None


def explore_options(profile: InterestProfile, graph: TagGraph, limit: int = 8) -> tuple[list[Option], list[Option]]:
    """Adjacent options (tags strongly tied to the themes) and novel ones (popular tags not tied to them)."""
    own = {t.label for t in profile.themes}
    blocked = own | set(profile.avoid)
    anchors = [t.label for t in profile.themes]
    scored = []
    for tag in graph.df:
        if tag in blocked or not graph.usable(tag) or any(a in tag or tag in a for a in blocked):
            continue
        ties = {a: graph.affinity(tag, [a]) for a in anchors}
        best_anchor = max(ties, key=ties.get) if ties else None
        scored.append((tag, sum(ties.values()), best_anchor))
    adjacent = sorted((s for s in scored if s[1] > 0), key=lambda s: (-s[1] * math.log(1 + graph.df[s[0]]), s[0]))
    novel = sorted((s for s in scored if s[1] == 0), key=lambda s: (-graph.df[s[0]], s[0]))
    return ([Option(t, "adjacent", a, sc) for t, sc, a in adjacent[:limit]],
            [Option(t, "novel", None, float(graph.df[t])) for t, _, _ in novel[:limit]])


def theme_cluster_weights(profile: InterestProfile, model: ClusterModel, catalog: Catalog) -> dict[int, float]:
    """Where the profile's themes live: each theme's weight spread over its evidence's clusters, or, for a
    theme the person typed in (no evidence), over the clusters that hold the items tagged with it."""
    weights: dict[int, float] = defaultdict(float)
    for theme in profile.themes:
        homes = [model.of(i) for i in theme.evidence if model.of(i) is not None]
        if not homes:
            homes = [model.of(i) for i, item in catalog.items.items() if theme.label in item.tags]
            homes = [c for c in homes if c is not None]
        for c in homes:
            weights[c] += (theme.weight or 1.0 / len(profile.themes)) / len(homes)
    return dict(weights)


def cluster_options(profile: InterestProfile, history: History, model: ClusterModel, catalog: Catalog,
                    limit: int = 8) -> tuple[list[Option], list[Option], list[Option]]:
    """Deepen (the profile's own clusters), adjacent (untouched clusters people move into next) and novel
    (untouched clusters people rarely move into), none labelled with anything the profile avoids."""
    def allowed(c) -> bool:
        return not any(a in c.label for a in profile.avoid)
    weights = theme_cluster_weights(profile, model, catalog) or model.interest_map(history)
    deepen = [Option(model.clusters[c].label, "deepen", _anchor(profile, model, catalog, c), w, c)
              for c, w in sorted(weights.items(), key=lambda kv: -kv[1]) if allowed(model.clusters[c])]
    touched = model.touched(history) | set(weights)
    pull = model.transition_scores(model.interest_map(history) or weights)
    fresh = [c for c in model.clusters if c.id not in touched and allowed(c)]
    by_pull = sorted(fresh, key=lambda c: (-pull[c.id], c.id))
    adjacent = [Option(c.label, "adjacent", None, float(pull[c.id]), c.id) for c in by_pull[:limit]]
    rest = sorted(by_pull[limit:][len(by_pull[limit:]) // 2:], key=lambda c: (-c.size, c.id))  # rarely visited next
    novel = [Option(c.label, "novel", None, float(pull[c.id]), c.id) for c in rest[:limit]]
    return deepen, adjacent, novel


def _anchor(profile: InterestProfile, model: ClusterModel, catalog: Catalog, cluster: int) -> str | None:
    """The theme most at home in the cluster: by its evidence there, then by catalogue items tagged with it."""
    def at_home(theme) -> tuple[int, int]:
        evidence = sum(model.of(i) == cluster for i in theme.evidence)
        tagged = sum(model.of(i) == cluster for i, item in catalog.items.items() if theme.label in item.tags)
        return evidence, tagged
    best = max(profile.themes, key=at_home, default=None)
    return best.label if best is not None and at_home(best) != (0, 0) else None


class Planner:
    def __init__(self, catalog: Catalog, llm=None, prompt: Prompt | None = None, n_queries: int = 4,
                 clusters: ClusterModel | None = None):
        self.catalog, self.llm, self.prompt, self.clusters = catalog, llm, prompt, clusters
        self.graph = TagGraph(catalog)
        self.n_queries = n_queries

    @classmethod
    def from_config(cls, config: PlanConfig, catalog: Catalog, llm, prompts_dir, variants: dict[str, str],
                    clusters: ClusterModel | None = None):
        return cls(catalog, llm if config.with_llm else None, select_prompt(prompts_dir, "plan", variants.get("plan")),
                   config.queries, clusters)

    def plan(self, profile: InterestProfile, explore: float = 0.3, n_queries: int | None = None,
             request: str | None = None, history: History | None = None,
             asked: str | None = None) -> StepResult[list[ExploreQuery]]:
        """`explore` in [0, 1] sets the share of exploring queries (at least one when above 0; the ranker then
        gives exploration that share of the list); `request` is what the person asked for in the catalogue's
        vocabulary (explorer/pipeline/request.py), `asked` their own words, quoted in its rationale.

        With clusters and a history, every query is grounded in one interest cluster; otherwise queries
        are built from the catalogue's tag neighbourhoods.
        """
        notes: list[str] = []
        if request:  # a request is the person's words for the search, never orders for the model
            request, dropped = strip_injection(request)
            request = request.strip() or None
            if dropped:
                notes.append(f"plan: {dropped} sentence(s) of the request addressed to the model were left out")
        n = n_queries or self.n_queries
        # Any explore above 0 plans at least one exploring query; the ranker gives it `explore` of the list.
        n_explore = min(math.ceil(max(0.0, min(1.0, explore)) * n - 1e-9), n)
        if not profile.themes and not (history is not None and _readable(history) and self.clusters is not None):
            n_explore = n  # nothing to deepen yet: everything is exploration
        deepen_options = None
        if self.clusters is not None and history is not None:
            deepen_options, adjacent, novel = cluster_options(profile, history, self.clusters, self.catalog)
        else:
            adjacent, novel = explore_options(profile, self.graph)
        n_novel = min(n_explore // 2, len(novel))
        n_adjacent = min(n_explore - n_novel, len(adjacent))
        n_deepen = n - n_adjacent - n_novel - (1 if request else 0)
        picked_adjacent, picked_novel, path = adjacent[:n_adjacent], novel[:n_novel], "fallback"
        if self.llm is not None and self.prompt is not None and (n_adjacent or n_novel):
            try:
                picked_adjacent, picked_novel = self._llm_choice(profile, adjacent, novel, n_adjacent, n_novel)
                path = "llm"
            except Exception as exc:
                notes.append(f"plan: option choice failed ({type(exc).__name__}: {exc})")
        if deepen_options is not None:
            queries = [self._cluster_deepen(deepen_options[i % len(deepen_options)], profile)
                       for i in range(max(n_deepen, 0)) if deepen_options]
            queries = list({(q.text, q.cluster): q for q in queries}.values())  # fewer clusters than slots
        else:
            queries = [q for q in (self._deepen(profile, i) for i in range(max(n_deepen, 0))) if q]
        if n_deepen > 0 and not any(q.mode == "deepen" for q in queries) and history is not None \
                and self.clusters is not None and _readable(history):
            # No theme to grow from (or every one avoided): the deepen lane is still owed its share, and the
            # interest model can fill it from the history alone; the text names where the history lives.
            home = max(self.clusters.interest_map(history).items(), key=lambda kv: kv[1], default=(None, 0))[0]
            text = self.clusters.clusters[home].label if home is not None else "more of what you rated highly"
            queries.append(ExploreQuery(text=text, mode="deepen", rationale="More of what you rated highly."))
        if request:
            why = f"You asked for \"{asked.strip()[:150]}\"." if asked and asked.strip() else "You asked for this."
            queries.insert(0, ExploreQuery(text=request[:200], mode="adjacent", rationale=why, requested=True))
        queries += [self._explore_query(o) for o in picked_adjacent + picked_novel]
        if not queries:  # an empty profile and an empty catalogue neighbourhood: fall back to popular tags
            queries = [self._explore_query(o) for o in novel[:n]]
        return StepResult(queries[:6], path, notes)

    def _llm_choice(self, profile, adjacent, novel, n_adjacent, n_novel):
        def field(options, count):
            return {"type": "array", "items": {"type": "string", "enum": [o.tag for o in options]},
                    "minItems": count, "maxItems": count}
        # An empty choice still says what its items are: llama.cpp's schema-to-grammar converter ignores
        # maxItems on an array without `items`, and would then admit any array.
        none = {"type": "array", "items": {"type": "string"}, "maxItems": 0}
        schema = {"type": "object", "required": ["nearby", "new"],
                  "properties": {"nearby": field(adjacent, n_adjacent) if n_adjacent else none,
                                 "new": field(novel, n_novel) if n_novel else none}}
        messages = self.prompt.messages(themes=", ".join(t.label for t in profile.themes) or "none yet",
                                        avoid=", ".join(profile.avoid) or "nothing",
                                        adjacent=", ".join(o.tag for o in adjacent) or "none",
                                        novel=", ".join(o.tag for o in novel) or "none",
                                        n_adjacent=n_adjacent, n_novel=n_novel)
        answer = parse_choices(self.llm.choose(messages, schema, 80),
                               {"nearby": [o.tag for o in adjacent], "new": [o.tag for o in novel]})
        # Repeats are topped up from the fallback order, so the mix the knob asked for still holds.
        return (_distinct(answer["nearby"], adjacent, n_adjacent), _distinct(answer["new"], novel, n_novel))

    def _deepen(self, profile: InterestProfile, index: int) -> ExploreQuery | None:
        if not profile.themes:
            return None
        theme = profile.themes[index % len(profile.themes)]
        exclude = {t.label for t in profile.themes} | set(profile.avoid)
        rounds = index // len(profile.themes)  # later passes over the themes pick later companions
        extra = self.graph.companions(theme.label, rounds + 1, exclude)[rounds:rounds + 1]
        text = " ".join([theme.label, *extra])
        seen = [self.catalog[i].title for i in theme.evidence[:2] if i in self.catalog]
        because = f" like {' and '.join(seen)}" if seen else ""
        return ExploreQuery(text=text, mode="deepen", anchor=theme.label,
                            rationale=f"More {theme.label}: you rated things{because} highly.")

    def _cluster_deepen(self, option: Option, profile: InterestProfile) -> ExploreQuery:
        theme = next((t for t in profile.themes if t.label == option.anchor), None)
        seen = [self.catalog[i].title for i in (theme.evidence if theme else ())
                if i in self.catalog and self.clusters.of(i) == option.cluster][:2]
        because = f": you rated {' and '.join(seen)} highly" if seen else ""
        # A theme the person typed in has no evidence: their own words are the best query text.
        text = theme.label if theme is not None and not theme.evidence else option.tag
        return ExploreQuery(text=text, mode="deepen", anchor=option.anchor, cluster=option.cluster,
                            rationale=f"More of {option.tag}{because}.")

    def _explore_query(self, option: Option) -> ExploreQuery:
        if option.cluster is not None:
            why = (f"People with your interests often move on to {option.tag}." if option.mode == "adjacent" else
                   f"Something new: {option.tag}, a part of the catalogue you have not visited.")
            return ExploreQuery(text=option.tag, mode=option.mode, cluster=option.cluster, rationale=why)
        companion = self.graph.companions(option.tag, 1, {option.tag})
        text = " ".join([option.tag, option.anchor or (companion[0] if companion else "")]).strip()
        if option.mode == "adjacent":
            why = f"Next door to your interest in {option.anchor}: the catalogue often pairs it with {option.tag}."
        else:
            why = f"Something new: {option.tag} is a well-stocked corner of the catalogue you have not visited."
        return ExploreQuery(text=text, mode=option.mode, anchor=option.anchor, rationale=why)


def _readable(history: History) -> bool:
    """Whether an interest model has anything to read in the history (any item not disliked)."""
    return any(not r.disliked for r in history.ratings)


def _distinct(chosen: list[str], options: list[Option], count: int) -> list[Option]:
    by_tag = {o.tag: o for o in options}
    order = list(dict.fromkeys([c for c in chosen if c in by_tag] + [o.tag for o in options]))
    return [by_tag[t] for t in order[:count]]
