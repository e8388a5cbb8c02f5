"""The interest map: the catalogue's interest clusters as labelled regions, a person's history as marks in
them, the current shelves' items as numbered stars, and an arrow from where the person is to where each
exploring shelf goes.

Regions, not axes: each cluster (explorer/interest/clusters.py, labelled by its most distinctive tags) is
a disc placed by its centroid's position among the other centroids, so neighbouring interests sit near
each other; an item sits inside its cluster's disc, offset by where it lies within the cluster. The
catalogue has no clusters (they are switched off)? Then its kinds are the regions. `layout` returns the
picture as data (what the test and the text alternative read); `figure` draws it; `describe` says it in
words for a screen reader. Text is drawn with math parsing off, so a `$` in a tag is only a character.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyArrowPatch

from explorer.catalog import History
from explorer.pipeline.values import ExploreQuery, Recommendation

REGION_COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f",
                  "#bab0ac", "#86bcb6"]
EXPLORING = ("adjacent", "novel")


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """The rows of `vectors` on their first two principal components (signs fixed, so deterministic)."""
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        return np.zeros((0, 2))
    x = x - x.mean(axis=0)
    if len(x) == 1:
        return np.zeros((1, 2))
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    components = vt[:2]
    # An SVD's signs are arbitrary: make the largest loading of each component positive.
    signs = np.sign(components[np.arange(len(components)), np.abs(components).argmax(axis=1)])
    coords = x @ (components * signs[:, None]).T
    if coords.shape[1] == 1:
        coords = np.hstack([coords, np.zeros((len(coords), 1))])
    return coords


def spread_apart(points: np.ndarray, gap: float, rounds: int = 400) -> np.ndarray:
    """Points scaled into [-1, 1] and pushed apart until every two are at least `gap` apart (or as near
    as `rounds` of pairwise pushes get), keeping who is near whom. Deterministic."""
    p = np.asarray(points, dtype=np.float64).copy()
    if len(p) < 2:
        return np.zeros_like(p)
    p /= np.abs(p).max() or 1.0
    for _ in range(rounds):
        delta = p[:, None] - p[None]
        dist = np.linalg.norm(delta, axis=-1) + np.eye(len(p)) * 9
        if dist.min() >= gap * 0.999:
            break
        push = np.where(dist < gap, (gap - dist) / 2, 0.0)
        direction = delta / np.maximum(dist, 1e-9)[..., None]
        p += (direction * push[..., None]).sum(axis=1) * 0.5
        p -= p.mean(axis=0)
    return p


@dataclass(frozen=True)
class Region:
    key: int
    label: str
    centre: tuple[float, float]
    radius: float
    size: int


@dataclass
class MapData:
    regions: list[Region]
    liked: list[tuple[str, tuple[float, float]]] = field(default_factory=list)  # (item id, position)
    disliked: list[tuple[str, tuple[float, float]]] = field(default_factory=list)
    stars: list[tuple[int, str, tuple[float, float]]] = field(default_factory=list)  # (card number, id, position)
    you: tuple[float, float] | None = None  # the centre of the likes in the region holding most of them
    arrows: list[tuple[str, tuple[float, float], tuple[float, float], int]] = field(default_factory=list)
    # (mode, from, to, region key) per exploring shelf


class InterestMap:
    def __init__(self, explorer):
        ids, vectors = explorer.item_embeddings()
        self.catalog = explorer.catalog
        self.ids = ids
        clusters = getattr(explorer, "clusters", None)
        if clusters is not None and all(i in clusters.assignment for i in ids):
            keys = [clusters.assignment[i] for i in ids]
            names = {c.id: c.label for c in clusters.clusters}
        else:  # no clusters: the kinds are the regions
            kinds = sorted({self.catalog[i].kind for i in ids})
            keys = [kinds.index(self.catalog[i].kind) for i in ids]
            names = dict(enumerate(kinds))
        self.key = dict(zip(ids, keys))
        self.regions, self.coords = self._place(np.asarray(vectors, dtype=np.float64), np.array(keys), names)
        self.row = {item_id: i for i, item_id in enumerate(ids)}

    @staticmethod
    def _place(vectors: np.ndarray, keys: np.ndarray, names: dict[int, str]) -> tuple[list[Region], np.ndarray]:
        present = sorted(set(keys.tolist()))
        if not present:
            return [], np.zeros((0, 2))
        centroids = np.stack([vectors[keys == k].mean(axis=0) for k in present])
        radius = min(0.34, 1.1 / np.sqrt(len(present)))
        centres = spread_apart(pca_2d(centroids), 2 * radius + 0.22)
        coords = np.zeros((len(vectors), 2))
        regions = []
        for n, k in enumerate(present):
            rows = np.flatnonzero(keys == k)
            local = pca_2d(vectors[rows] - centroids[n])
            scale = np.linalg.norm(local, axis=1).max() if len(local) else 0.0
            coords[rows] = centres[n] + (local / scale * radius * 0.85 if scale > 0 else 0.0)
            regions.append(Region(int(k), names.get(int(k), str(k)), (float(centres[n][0]), float(centres[n][1])),
                                  float(radius), len(rows)))
        return regions, coords

    def position(self, item_id: str) -> tuple[float, float] | None:
        row = self.row.get(item_id)
        return None if row is None else (float(self.coords[row][0]), float(self.coords[row][1]))

    def layout(self, history: History | None = None, recommendations: Sequence[Recommendation] = (),
               queries: Sequence[ExploreQuery] = ()) -> MapData:
        data = MapData(self.regions)
        if history is not None:
            data.liked = [(r.item_id, p) for r in history.liked if (p := self.position(r.item_id))]
            data.disliked = [(r.item_id, p) for r in history.disliked if (p := self.position(r.item_id))]
        if data.liked:  # where the person is: the centre of their likes in their strongest region
            home = Counter(self.key[i] for i, _ in data.liked).most_common(1)[0][0]
            data.you = tuple(float(v) for v in np.mean([p for i, p in data.liked if self.key[i] == home], axis=0))
        data.stars = [(n, rec.item_id, p) for n, rec in enumerate(recommendations, start=1)
                      if (p := self.position(rec.item_id))]
        if data.you is not None:
            shelves: dict[str, list[Recommendation]] = {}
            for rec in recommendations:
                if rec.mode in EXPLORING and self.position(rec.item_id):
                    shelves.setdefault(rec.query, []).append(rec)
            for recs in shelves.values():
                region = Counter(self.key[r.item_id] for r in recs).most_common(1)[0][0]
                to = tuple(float(v) for v in np.mean([self.position(r.item_id) for r in recs], axis=0))
                data.arrows.append((recs[0].mode, data.you, to, region))
        return data

    def figure(self, history: History | None = None, recommendations: Sequence[Recommendation] = (),
               queries: Sequence[ExploreQuery] = ()) -> Figure:
        data = self.layout(history, recommendations, queries)
        fig = Figure(figsize=(6.4, 5.6), dpi=100, layout="constrained")
        ax = fig.add_subplot()
        mine = Counter(self.key[i] for i, _ in data.liked)
        for n, region in enumerate(data.regions):
            colour = REGION_COLOURS[n % len(REGION_COLOURS)]
            strong = mine.get(region.key, 0) > 0
            ax.add_patch(Circle(region.centre, region.radius, facecolor=colour, alpha=0.28 if strong else 0.13,
                                edgecolor=colour, linewidth=2.2 if strong else 1.0))
            pts = self.coords[[self.row[i] for i in self.ids if self.key[i] == region.key]]
            ax.scatter(pts[:, 0], pts[:, 1], s=7, c=colour, alpha=0.6, linewidths=0)
            ax.text(region.centre[0], region.centre[1] + region.radius + 0.015, _wrap(region.label),
                    ha="center", va="bottom", fontsize=7.5, fontweight="bold" if strong else "normal",
                    color="#222222", parse_math=False)
        handles = []
        if data.liked:
            pts = np.array([p for _, p in data.liked])
            ax.scatter(pts[:, 0], pts[:, 1], s=60, facecolors="white", edgecolors="#111111", linewidths=1.5, zorder=4)
            handles.append(Line2D([], [], marker="o", ls="", mfc="white", mec="#111111", label="you liked"))
        if data.disliked:
            pts = np.array([p for _, p in data.disliked])
            ax.scatter(pts[:, 0], pts[:, 1], s=60, marker="x", c="#d62728", linewidths=2, zorder=4)
            handles.append(Line2D([], [], marker="x", ls="", color="#d62728", label="you disliked"))
        if data.you is not None:
            ax.scatter([data.you[0]], [data.you[1]], s=140, marker="P", c="#111111", zorder=6)
            ax.annotate("you are here", data.you, xytext=(-8, -6), textcoords="offset points", fontsize=8, zorder=9,
                        ha="right", va="top", bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85))
            handles.append(Line2D([], [], marker="P", ls="", color="#111111", label="you: your strongest interest"))
        for mode, start, end, _ in data.arrows:
            ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=16, linewidth=1.8,
                                         color="#b3541e" if mode == "novel" else "#2e8b57", zorder=5,
                                         connectionstyle="arc3,rad=0.15"))
        modes = {mode for mode, *_ in data.arrows}
        if "adjacent" in modes:
            handles.append(Line2D([], [], color="#2e8b57", label="exploring: a step beside"))
        if "novel" in modes:
            handles.append(Line2D([], [], color="#b3541e", label="exploring: something new"))
        for n, _, pos in data.stars:
            ax.scatter([pos[0]], [pos[1]], s=260, marker="*", c="#ffd700", edgecolors="#111111", linewidths=1.0, zorder=7)
            ax.annotate(str(n), pos, xytext=(6, 4), textcoords="offset points", fontsize=9, fontweight="bold", zorder=8)
        if data.stars:
            handles.append(Line2D([], [], marker="*", ls="", mfc="#ffd700", mec="#111111", markersize=12,
                                  label="recommended (card number)"))
        ax.set_aspect("equal")
        if data.regions:
            c = np.array([r.centre for r in data.regions])
            r = data.regions[0].radius
            ax.set_xlim(c[:, 0].min() - r - 0.25, c[:, 0].max() + r + 0.25)
            ax.set_ylim(c[:, 1].min() - r - 0.1, c[:, 1].max() + r + 0.3)
        ax.axis("off")
        ax.set_title("Your interests on the map of the catalogue", fontsize=10)
        if handles:
            fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=7.5, frameon=False)
        return fig

    def describe(self, history: History | None = None, recommendations: Sequence[Recommendation] = (),
                 queries: Sequence[ExploreQuery] = ()) -> list[str]:
        """The map in words, one line per region that holds anything of the person's, then the arrows."""
        data = self.layout(history, recommendations, queries)
        label = {r.key: r.label for r in data.regions}
        liked = Counter(self.key[i] for i, _ in data.liked)
        disliked = Counter(self.key[i] for i, _ in data.disliked)
        stars: dict[int, list[int]] = {}
        for n, item_id, _ in data.stars:
            stars.setdefault(self.key[item_id], []).append(n)
        lines = [f"The catalogue has {len(data.regions)} interest regions."]
        for region in data.regions:
            parts = []
            if liked.get(region.key):
                parts.append(f"{liked[region.key]} you liked")
            if disliked.get(region.key):
                parts.append(f"{disliked[region.key]} you disliked")
            if stars.get(region.key):
                parts.append("recommended: card " + ", ".join(map(str, stars[region.key])))
            if parts:
                lines.append(f"{region.label}: {'; '.join(parts)}.")
        for mode, _, _, key in data.arrows:
            lines.append(f"Exploring ({mode}): from your interests towards {label[key]}.")
        return lines


def _wrap(label: str, width: int = 22) -> str:
    words, lines, line = label.split(), [], ""
    for word in words:
        if line and len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line][:3])
