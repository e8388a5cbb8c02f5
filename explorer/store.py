"""The catalogue's Chroma collection: idempotent, hash-checked ingestion and filtered vector queries.

Embeddings are always computed here and passed to Chroma, so Chroma never downloads its default model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explorer.catalog import Catalog, Item
from explorer.config import StoreSettings
from explorer.embed import Embedder
from explorer.errors import IndexUnavailableError


@dataclass(frozen=True)
class Hit:
    item_id: str
    similarity: float  # cosine similarity to the query, in [-1, 1]


@dataclass(frozen=True)
class SyncReport:
    total: int
    embedded: int
    removed: int


def collection_name(prefix: str, catalog_name: str) -> str:
    name = re.sub(r"[^a-zA-Z0-9._-]+", "-", f"{prefix}-{catalog_name}").strip("-._")
    return name[:500].ljust(3, "x")


def open_client(settings: StoreSettings, data_dir: Path):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.mode == "http":
        return chromadb.HttpClient(host=settings.host, port=settings.port, settings=chroma_settings)
    path = Path(data_dir) / "chroma"
    try:
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:  # chroma raises many types here; all mean "this directory is unusable"
        raise IndexUnavailableError(f"cannot open the Chroma index at {path} ({exc})", data_dir) from exc


class ItemStore:
    """One catalogue's items in one Chroma collection, keyed by item id."""

    def __init__(self, client, name: str):
        self.client = client
        self.name = name
        self.collection = client.get_or_create_collection(
            name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None)

    def count(self) -> int:
        return self.collection.count()

    def sync(self, catalog: Catalog, embedder: Embedder, progress: bool = True) -> SyncReport:
        """Make the collection hold exactly the catalogue; embed only new or changed items.

        Upserts are keyed by item id and each batch is self-contained, so a run that is killed half-way
        is completed by running it again.
        """
        from tqdm.auto import tqdm

        stored = self._stored_hashes()
        changed = [item for item in catalog.items.values() if stored.get(item.id) != item.content_hash()]
        stale = [item_id for item_id in stored if item_id not in catalog]
        batch = min(self.client.get_max_batch_size(), 512)
        with tqdm(total=len(changed), desc=f"embedding {catalog.name}", unit="item", disable=not progress or not changed) as bar:
            for start in range(0, len(changed), batch):
                chunk = changed[start:start + batch]
                vectors = embedder.encode([item.text_for_embedding() for item in chunk])
                self.collection.upsert(ids=[i.id for i in chunk], embeddings=vectors,
                                       metadatas=[_metadata(i) for i in chunk],
                                       documents=[i.text_for_embedding() for i in chunk])
                bar.update(len(chunk))
        for start in range(0, len(stale), batch):
            self.collection.delete(ids=stale[start:start + batch])
        return SyncReport(total=len(catalog), embedded=len(changed), removed=len(stale))

    def _stored_hashes(self) -> dict[str, str]:
        hashes, offset, page = {}, 0, 5000
        while True:
            got = self.collection.get(include=["metadatas"], limit=page, offset=offset)
            for item_id, meta in zip(got["ids"], got["metadatas"]):
                hashes[item_id] = (meta or {}).get("content_hash", "")
            if len(got["ids"]) < page:
                return hashes
            offset += page

    def set_clusters(self, assignment: dict[str, int]) -> int:
        """Write each item's interest cluster into its metadata (only where it changed)."""
        got = self.collection.get(include=["metadatas"])
        changed = [(i, assignment[i]) for i, m in zip(got["ids"], got["metadatas"])
                   if i in assignment and (m or {}).get("cluster") != assignment[i]]
        batch = min(self.client.get_max_batch_size(), 2048)
        for start in range(0, len(changed), batch):
            chunk = changed[start:start + batch]
            self.collection.update(ids=[i for i, _ in chunk], metadatas=[{"cluster": c} for _, c in chunk])
        return len(changed)

    def query(self, embedding: np.ndarray, n: int, exclude: set[str] = frozenset(),
              kinds: list[str] | None = None, cluster: int | None = None) -> list[Hit]:
        """Nearest items, never one in `exclude` (the history and dislikes)."""
        n = min(n, max(self.count() - len(exclude), 0))
        if n <= 0:
            return []
        clauses = []
        if exclude:
            clauses.append({"item_id": {"$nin": sorted(exclude)}})
        if kinds:
            clauses.append({"kind": {"$in": list(kinds)}})
        if cluster is not None:
            clauses.append({"cluster": int(cluster)})
        where = clauses[0] if len(clauses) == 1 else {"$and": clauses} if clauses else None
        result = self.collection.query(query_embeddings=[np.asarray(embedding, dtype=np.float32)], n_results=n,
                                       where=where, include=["distances"])
        return [Hit(item_id, 1.0 - float(dist)) for item_id, dist in zip(result["ids"][0], result["distances"][0])]

    def embeddings(self, item_ids: list[str]) -> dict[str, np.ndarray]:
        if not item_ids:
            return {}
        got = self.collection.get(ids=list(item_ids), include=["embeddings"])
        return {item_id: np.asarray(vec, dtype=np.float32) for item_id, vec in zip(got["ids"], got["embeddings"])}

    def all_embeddings(self) -> tuple[list[str], np.ndarray]:
        got = self.collection.get(include=["embeddings"])
        return list(got["ids"]), np.asarray(got["embeddings"], dtype=np.float32)


def _metadata(item: Item) -> dict:
    meta = {"item_id": item.id, "title": item.title, "kind": item.kind, "tags": "|".join(item.tags),
            "content_hash": item.content_hash()}
    if item.year is not None:
        meta["year"] = item.year
    return meta
