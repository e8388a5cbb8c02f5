"""EASE (Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse Data"): a closed-form item-item model.

B = I - P·diag(1/diag(P)), P = (XᵀX + λI)⁻¹, with diag(B) = 0; a history x scores every item as x·B, so a new
or edited history is folded in by one vector-matrix product. Written here in a few lines of numpy: the
closed form is one matrix inverse, and no maintained library offers it without a heavy framework around it.
The L2 weight λ is chosen on a validation split carved from the training histories (never the evaluated
futures); only items that someone interacted with get a column, the rest score lowest.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import scipy.linalg

from explorer.catalog import History
from explorer.interest.base import (InterestModel, ValidationSplit, cached, data_key, input_items,
                                    validation_ndcg, validation_split)
from explorer.interest.collab import Interactions

log = logging.getLogger(__name__)

L2_GRID = (30.0, 100.0, 300.0, 1000.0, 3000.0)  # wide enough for MovieLens-sized data; ends are reported
DEFAULT_L2 = 300.0  # when the validation split has too few users to choose (a handful of personas)
MIN_VALIDATION_USERS = 20


class EASE(InterestModel):
    name = "EASE"

    def __init__(self, item_ids: list[str], active: np.ndarray, weights: np.ndarray, l2: float,
                 validation: dict[float, float] | None = None):
        super().__init__(item_ids)
        self.active = np.asarray(active, dtype=np.int64)  # catalogue positions that have a column in B
        self.weights = np.asarray(weights, dtype=np.float32)  # B restricted to the active items
        self.l2 = float(l2)
        self.validation = validation or {}  # λ -> validation NDCG@10, when λ was chosen
        self.seconds = 0.0  # training time, λ search included
        self._col = np.full(len(self.item_ids), -1, dtype=np.int64)
        self._col[self.active] = np.arange(len(self.active))

    @classmethod
    def fit(cls, histories: dict[str, History], item_ids: list[str], l2: float) -> "EASE":
        data = Interactions(histories, item_ids)
        active = np.flatnonzero(data.counts > 0)
        x = data.matrix[:, active]
        gram = (x.T @ x).toarray().astype(np.float32)
        gram[np.diag_indices_from(gram)] += l2
        # XᵀX + λI is symmetric positive definite: a Cholesky solve is about twice as fast as a general inverse,
        # and float32 holds the precision EASE needs (λ keeps the matrix well conditioned).
        factor = scipy.linalg.cho_factor(gram, overwrite_a=True, check_finite=False)
        p = scipy.linalg.cho_solve(factor, np.eye(len(active), dtype=np.float32), check_finite=False)
        del factor
        b = p / (-np.diag(p))
        np.fill_diagonal(b, 0.0)
        return cls(item_ids, active, b.astype(np.float32), l2)

    @classmethod
    def fit_validated(cls, histories: dict[str, History], item_ids: list[str],
                      grid: tuple[float, ...] = L2_GRID) -> "EASE":
        """λ chosen by NDCG@10 on a temporal validation split of `histories`, then refitted on all of them."""
        split = validation_split(histories)
        if len(split.targets) < MIN_VALIDATION_USERS:
            return cls.fit(histories, item_ids, DEFAULT_L2)
        found = {l2: validation_ndcg(cls.fit(split.train, item_ids, l2), split) for l2 in grid}
        best = max(found, key=lambda l2: (found[l2], -l2))
        log.info("EASE validation NDCG@10 by L2 weight: %s; chosen %g", found, best)
        model = cls.fit(histories, item_ids, best)
        model.validation = found
        return model

    def scores(self, history: History) -> np.ndarray:
        cols = [c for c in (self._col[self.index[i]] for i in input_items(history) if i in self.index) if c >= 0]
        x = np.zeros(len(self.active), dtype=np.float32)
        x[cols] = 1.0
        known = x @ self.weights
        out = np.full(len(self.item_ids), float(known.min()) if known.size else 0.0, dtype=np.float32)
        out[self.active] = known
        return out

    # ------------------------------------------------------------ storage
    def save(self, path: Path) -> None:
        grid = np.array(sorted(self.validation.items()), dtype=np.float64).reshape(-1, 2)
        with open(path, "wb") as f:
            np.savez(f, item_ids=np.array(self.item_ids), active=self.active, weights=self.weights,
                     l2=np.array(self.l2), validation=grid, seconds=np.array(self.seconds))

    @classmethod
    def load(cls, path: Path) -> "EASE":
        with np.load(path, allow_pickle=False) as z:
            validation = {float(a): float(b) for a, b in z["validation"]}
            model = cls([str(i) for i in z["item_ids"]], z["active"], z["weights"], float(z["l2"]), validation)
            model.seconds = float(z["seconds"])
            return model


def cached_ease(cache_dir: Path, histories: dict[str, History], item_ids: list[str],
                l2: float | None = None) -> tuple[EASE, bool]:
    """EASE trained once per (interactions, items, λ setting) and kept under `cache_dir`."""
    key = data_key(histories, item_ids, {"model": "ease", "l2": l2, "grid": L2_GRID, "v": 1})
    def build() -> EASE:
        start = time.perf_counter()
        model = EASE.fit_validated(histories, item_ids) if l2 is None else EASE.fit(histories, item_ids, l2)
        model.seconds = time.perf_counter() - start
        return model
    return cached(Path(cache_dir) / f"ease-{key}.npz", build, EASE.save, EASE.load)


__all__ = ["EASE", "ValidationSplit", "cached_ease"]
