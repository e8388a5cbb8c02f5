"""A small SASRec-style sequence model (Kang & McAuley 2018): item embeddings, causal self-attention over a
person's items in time order, trained to predict the next item with cross-entropy over the whole catalogue.

Built from torch's own `nn.TransformerEncoderLayer` (no recommender framework is needed for a model this
size, and torch is already here). Trained on the CPU with a fixed seed and thread count, so a run is
repeatable; the number of epochs is chosen on a temporal validation split of the training histories (never
the evaluated futures), then the model is retrained on every training history for that many epochs. Any
history is scored by one forward pass over its latest items: nothing is retrained at query time.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from explorer.catalog import History
from explorer.config import SequenceConfig
from explorer.interest.base import InterestModel, cached, data_key, input_items, validation_ndcg, validation_split

log = logging.getLogger(__name__)


def _network(n_items: int, c: SequenceConfig):
    import torch
    from torch import nn

    class SASRec(nn.Module):
        def __init__(self):
            super().__init__()
            self.items = nn.Embedding(n_items + 1, c.dim, padding_idx=0)
            self.positions = nn.Embedding(c.max_len, c.dim)
            layer = nn.TransformerEncoderLayer(c.dim, c.heads, dim_feedforward=c.dim, dropout=c.dropout,
                                               batch_first=True, norm_first=True)
            self.blocks = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(c.dim)
            self.drop = nn.Dropout(c.dropout)
            nn.init.normal_(self.items.weight, std=c.dim ** -0.5)  # inputs of unit scale, logits of order 1
            with torch.no_grad():
                self.items.weight[0].zero_()
            self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(c.max_len), persistent=False)

        def forward(self, seq):  # seq: (batch, max_len) item indices, 0 = padding on the left
            x = self.items(seq) * (c.dim ** 0.5) + self.positions.weight[None, :, :]
            x = self.drop(x) * (seq > 0).unsqueeze(-1)
            h = self.blocks(x, mask=self.causal, is_causal=True)
            return self.norm(h) @ self.items.weight.T  # logits over the catalogue (column 0: padding)

    torch.manual_seed(c.seed)
    return SASRec()


class SequenceModel(InterestModel):
    name = "sequence (SASRec)"

    def __init__(self, item_ids: list[str], config: SequenceConfig, state: dict, trained: np.ndarray,
                 epochs: int, validation: dict[int, float] | None = None, seconds: float = 0.0):
        super().__init__(item_ids)
        import torch

        self.config, self.epochs, self.validation, self.seconds = config, epochs, validation or {}, seconds
        self.trained = np.asarray(trained, dtype=bool)  # items some training sequence held
        self.net = _network(len(item_ids), config)
        self.net.load_state_dict(state)
        self.net.eval()
        self._torch = torch

    # ------------------------------------------------------------ training
    @classmethod
    def fit(cls, histories: dict[str, History], item_ids: list[str], config: SequenceConfig | None = None,
            epochs: int | None = None) -> "SequenceModel":
        """`epochs` None: chosen on a validation split (early stopping), then retrained on everything."""
        config = config or SequenceConfig()
        start = time.perf_counter()
        validation: dict[int, float] = {}
        if epochs is None:
            split = validation_split(histories)
            if split.targets:
                state, trained, validation = _train(split.train, item_ids, config, config.max_epochs,
                                                    lambda m: validation_ndcg(m, split))
                epochs = max(validation, key=lambda e: (validation[e], -e))
                log.info("sequence model validation NDCG@10 by epoch: %s; chosen %d", validation, epochs)
            else:
                epochs = config.max_epochs // 3
        state, trained, _ = _train(histories, item_ids, config, epochs, None)
        return cls(item_ids, config, state, trained, epochs, validation, time.perf_counter() - start)

    # ------------------------------------------------------------ scoring
    def _window(self, history: History) -> np.ndarray:
        ids = [self.index[i] + 1 for i in input_items(history) if i in self.index][-self.config.max_len:]
        seq = np.zeros(self.config.max_len, dtype=np.int64)
        if ids:
            seq[-len(ids):] = ids
        return seq

    def scores(self, history: History) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            logits = self.net(torch.from_numpy(self._window(history)[None, :]))[0, -1, 1:].numpy()
        out = logits.astype(np.float32).copy()
        if (~self.trained).any():
            out[~self.trained] = out[self.trained].min() if self.trained.any() else 0.0
        return out

    # ------------------------------------------------------------ storage
    def save(self, path: Path) -> None:
        torch = self._torch
        torch.save({"item_ids": self.item_ids, "config": self.config.model_dump(), "state": self.net.state_dict(),
                    "trained": self.trained.tolist(), "epochs": self.epochs, "validation": self.validation,
                    "seconds": self.seconds}, path)

    @classmethod
    def load(cls, path: Path) -> "SequenceModel":
        import torch

        d = torch.load(path, weights_only=True)
        return cls(d["item_ids"], SequenceConfig(**d["config"]), d["state"], np.array(d["trained"]), d["epochs"],
                   {int(k): v for k, v in d["validation"].items()}, d["seconds"])


def _chunks(histories: dict[str, History], index: dict[str, int], length: int) -> np.ndarray:
    """Every training sequence cut from its end into windows of length+1 (input and next-item target), left-padded."""
    rows = []
    for user in sorted(histories):
        ids = [index[i] + 1 for i in input_items(histories[user]) if i in index]
        end = len(ids)
        while end >= 2:
            piece = ids[max(0, end - length - 1):end]
            row = np.zeros(length + 1, dtype=np.int64)
            row[-len(piece):] = piece
            rows.append(row)
            end -= length
    return np.array(rows, dtype=np.int64).reshape(-1, length + 1)


def _train(histories, item_ids, c: SequenceConfig, epochs: int, score_epoch):
    """Train for up to `epochs`; with `score_epoch`, keep the best state by its validation score and stop
    after `patience` epochs without progress. Returns (state, trained-items mask, {epoch: score})."""
    import torch
    from torch.nn import functional as F

    threads = torch.get_num_threads()
    torch.set_num_threads(c.threads)
    try:
        index = {item: n for n, item in enumerate(item_ids)}
        data = _chunks(histories, index, c.max_len)
        trained = np.zeros(len(item_ids), dtype=bool)
        trained[np.unique(data[data > 0]) - 1] = True
        net = _network(len(item_ids), c)
        optimiser = torch.optim.Adam(net.parameters(), lr=c.lr, betas=(0.9, 0.98))
        rng = np.random.default_rng(c.seed)
        scores, best, best_state, since = {}, -1.0, None, 0
        probe = SequenceModel.__new__(SequenceModel)  # a view on the network being trained, for validation
        InterestModel.__init__(probe, item_ids)
        probe.config, probe.trained, probe.net, probe._torch = c, trained, net, torch
        for epoch in range(1, epochs + 1):
            net.train()
            for batch in np.array_split(rng.permutation(len(data)), max(1, -(-len(data) // c.batch_size))):
                rows = torch.from_numpy(data[batch])
                logits = net(rows[:, :-1])
                target = rows[:, 1:]
                logits[..., 0] = float("-inf")  # never predict padding
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=0)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            if score_epoch is None:
                continue
            net.eval()
            scores[epoch] = round(score_epoch(probe), 5)
            if scores[epoch] > best:
                best, since = scores[epoch], 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                since += 1
                if since >= c.patience:
                    break
        state = best_state if best_state is not None else net.state_dict()
        return {k: v.detach().clone() for k, v in state.items()}, trained, scores
    finally:
        torch.set_num_threads(threads)


def cached_sequence(cache_dir: Path, histories: dict[str, History], item_ids: list[str],
                    config: SequenceConfig | None = None) -> tuple[SequenceModel, bool]:
    config = config or SequenceConfig()
    key = data_key(histories, item_ids, {"model": "sasrec", **config.model_dump(), "v": 1})
    return cached(Path(cache_dir) / f"sequence-{key}.pt", lambda: SequenceModel.fit(histories, item_ids, config),
                  SequenceModel.save, SequenceModel.load)
