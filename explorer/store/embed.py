"""Sentence embeddings from a sentence-transformers model (the packaged all-MiniLM-L6-v2 by default)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from explorer.config import EmbedSettings, resolve_embedder_source


class Embedder:
    """Normalised embeddings, so a dot product is a cosine similarity."""

    def __init__(self, settings: EmbedSettings):
        from sentence_transformers import SentenceTransformer

        self.settings = settings
        self.source = resolve_embedder_source(settings)
        self.model = SentenceTransformer(self.source, device="cpu", local_files_only=True)
        self.dimension = self.model.get_embedding_dimension()
        self._query_cache = lru_cache(maxsize=2048)(self._encode_one)

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.model.encode(texts, batch_size=self.settings.batch_size, normalize_embeddings=True,
                                 show_progress_bar=progress, convert_to_numpy=True).astype(np.float32)

    def _encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def query(self, text: str) -> np.ndarray:
        """One text's embedding, cached: queries and profile themes repeat across turns."""
        return self._query_cache(text)
