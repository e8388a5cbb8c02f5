"""The interest map: the catalogue in two dimensions, with a person's history and recommendations on it.

Item embeddings (from the facade's store) are projected onto their first two principal components,
once per catalogue. Points are coloured by kind; liked history items are ringed, disliked ones
crossed out, and the current recommendations are stars numbered like their cards. Only numbers are
drawn on the picture, never catalogue text, so nothing in a title can be interpreted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from explorer.catalog import History
from explorer.pipeline.values import Recommendation

KIND_COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#bab0ac"]


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


class InterestMap:
    def __init__(self, explorer):
        ids, vectors = explorer.item_embeddings()
        self.ids = ids
        self.coords = pca_2d(vectors)
        self.row = {item_id: i for i, item_id in enumerate(ids)}
        self.kinds = [explorer.catalog[i].kind for i in ids]
        self.kind_colour = {kind: KIND_COLOURS[n % len(KIND_COLOURS)] for n, kind in enumerate(sorted(set(self.kinds)))}

    def position(self, item_id: str) -> tuple[float, float] | None:
        row = self.row.get(item_id)
        return None if row is None else tuple(float(v) for v in self.coords[row])

    def figure(self, history: History | None = None, recommendations: Sequence[Recommendation] = ()) -> Figure:
        fig = Figure(figsize=(6.4, 5.0), dpi=100, layout="constrained")
        ax = fig.add_subplot()
        kinds = np.array(self.kinds)
        for kind, colour in self.kind_colour.items():
            pts = self.coords[kinds == kind]
            ax.scatter(pts[:, 0], pts[:, 1], s=14, c=colour, alpha=0.55, linewidths=0)
        handles = [Line2D([], [], marker="o", ls="", color=c, label=k, markersize=6) for k, c in self.kind_colour.items()]
        if history is not None:
            liked = self._points([r.item_id for r in history.ratings if not r.disliked])
            disliked = self._points([r.item_id for r in history.disliked])
            if len(liked):
                ax.scatter(liked[:, 0], liked[:, 1], s=90, facecolors="none", edgecolors="#111111", linewidths=1.6)
                handles.append(Line2D([], [], marker="o", ls="", mfc="none", mec="#111111", label="your history"))
            if len(disliked):
                ax.scatter(disliked[:, 0], disliked[:, 1], s=80, marker="x", c="#d62728", linewidths=2)
                handles.append(Line2D([], [], marker="x", ls="", color="#d62728", label="disliked"))
        shown = False
        for n, rec in enumerate(recommendations, start=1):
            pos = self.position(rec.item_id)
            if pos is None:
                continue
            ax.scatter([pos[0]], [pos[1]], s=320, marker="*", c="#ffd700", edgecolors="#111111", linewidths=1.2, zorder=5)
            ax.annotate(str(n), pos, xytext=(7, 5), textcoords="offset points", fontsize=10, fontweight="bold", zorder=6)
            shown = True
        if shown:
            handles.append(Line2D([], [], marker="*", ls="", mfc="#ffd700", mec="#111111", markersize=13, label="recommended"))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("first principal component of the item embeddings")
        ax.set_ylabel("second")
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        return fig

    def _points(self, item_ids: list[str]) -> np.ndarray:
        rows = [self.row[i] for i in item_ids if i in self.row]
        return self.coords[rows] if rows else np.zeros((0, 2))
