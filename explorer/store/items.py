"""The catalogue's Chroma collection: idempotent, hash-checked ingestion and filtered vector queries.

Embeddings are always computed here and passed to Chroma, so Chroma never downloads its default model.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from explorer.catalog import Catalog, Item
from explorer.config import StoreSettings
from explorer.store.embed import Embedder
from explorer.errors import ExplorerError, IndexUnavailableError, rebuild_command


@dataclass(frozen=True)
class Hit:
    item_id: str
    similarity: float  # cosine similarity to the query, in [-1, 1]


@dataclass(frozen=True)
class SyncReport:
    total: int
    embedded: int
    removed: int


class ItemVectors:
    """Every item's embedding, held in memory once the index is in sync (ids in sorted order, so anything
    built from them, clusters say, does not depend on the store's order). Requests read vectors from here
    instead of asking Chroma again for what the process already has."""

    def __init__(self, ids: list[str], matrix: np.ndarray):
        order = sorted(range(len(ids)), key=ids.__getitem__)
        self.ids = [ids[i] for i in order]
        self.matrix = np.asarray(matrix, dtype=np.float32).reshape(len(ids), -1)[order] if ids else \
            np.zeros((0, 0), dtype=np.float32)
        self.index = {item_id: n for n, item_id in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self.index

    def get(self, item_ids) -> dict[str, np.ndarray]:
        """{id: vector} for the ids that have one."""
        return {i: self.matrix[self.index[i]] for i in item_ids if i in self.index}


def collection_name(prefix: str, catalog_name: str) -> str:
    name = re.sub(r"[^a-zA-Z0-9._-]+", "-", f"{prefix}-{catalog_name}").strip("-._")
    return name[:500].ljust(3, "x")


def open_client(settings: StoreSettings, data_dir: Path):
    """The embedded PersistentClient under `data_dir`, or an HttpClient for a Chroma server (mode "http")."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.mode == "http":
        try:
            return chromadb.HttpClient(host=settings.host, port=settings.port, settings=chroma_settings)
        except ValueError as exc:  # chromadb's way of saying the heartbeat/tenant request found no server
            raise StoreServerUnavailableError(settings.host, settings.port, str(exc)) from exc
    path = Path(data_dir) / "chroma"
    if not path.exists() and Path(data_dir).is_dir() and any(Path(data_dir).iterdir()):
        # The data dir has state (clusters, sessions) but no index: it was deleted. Rebuilt by the sync that follows.
        logging.getLogger(__name__).warning(
            "no Chroma index at %s (deleted?): building a new one from the catalogue, as %s would", path,
            rebuild_command(data_dir))
    try:
        if not all(os.access(p, os.W_OK) for p in (path, path / "chroma.sqlite3") if p.exists()):
            raise PermissionError("not writable by this user")  # chroma would fail later, less clearly
        path.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        client.list_collections()  # reads the schema: a damaged or foreign index fails here, not mid-answer
        return client
    except Exception as exc:  # chroma raises many types here; all mean "this directory is unusable"
        raise IndexUnavailableError.from_chroma(path, data_dir, exc) from exc


class StoreServerUnavailableError(IndexUnavailableError):
    """The Chroma server (store mode "http") does not answer; says how to start one."""

    def __init__(self, host: str, port: int, detail: str = ""):
        self.host, self.port = host, port
        ExplorerError.__init__(
            self, f"cannot reach the Chroma server at {host}:{port}" + (f" ({detail})" if detail else "")
            + f". Start it with: chroma run --path <index dir> --host {host} --port {port}"
            " (or set EXPLORER_STORE__MODE=persistent for the embedded store)")


def _server_errors(method):
    """Turn a dropped connection to the Chroma server into StoreServerUnavailableError."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except httpx.TransportError as exc:
            settings = self.client.get_settings()
            raise StoreServerUnavailableError(settings.chroma_server_host, settings.chroma_server_http_port,
                                              f"{type(exc).__name__}: {exc}") from exc
    return wrapper


# Exclusions up to this size are applied by over-fetching n + len(exclude) neighbours and dropping the excluded
# ones here. Chroma evaluates a metadata filter such as `item_id $nin [...]` over the metadata of every item
# it lets through, so its cost grows with the catalogue whatever the list's length, while over-fetching only
# widens the HNSW search. Measured on 2 cores (`python -m explorer.tools.scale`, README "Scaling out"): a 20-id
# history at 30k items, 174 ms with `$nin` against 2.3 ms over-fetching; 5,000 ids at 100k items, 473 against
# 113 ms. Longer exclusions fall back to `$nin`, whose cost does not grow with the list.
OVERFETCH_LIMIT = 10_000


class ItemStore:
    """One catalogue's items in one Chroma collection, keyed by item id.

    The same code runs against the embedded PersistentClient and an HttpClient for a Chroma server; batches
    are sized by the client's own maximum, and a server that stops answering raises
    StoreServerUnavailableError instead of a transport traceback.
    """

    @_server_errors
    def __init__(self, client, name: str, overfetch_limit: int = OVERFETCH_LIMIT):
        self.client = client
        self.name = name
        self.overfetch_limit = overfetch_limit
        self.collection = client.get_or_create_collection(
            name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None)
        self.max_batch = client.get_max_batch_size()
        self.vectors: ItemVectors | None = None  # every item's embedding once `sync` has run
        self._clusters: dict[str, int | None] | None = None  # stored cluster per item, known since `sync`

    @_server_errors
    def count(self) -> int:
        return self.collection.count()

    @_server_errors
    def sync(self, catalog: Catalog, embedder: Embedder, progress: bool = True) -> SyncReport:
        """Make the collection hold exactly the catalogue; embed only new or changed items.

        Upserts are keyed by item id and each batch is self-contained, so a run that is killed half-way
        is completed by running it again. The collection is read once (hashes, clusters and vectors
        together); afterwards `self.vectors` holds every item's embedding in memory.
        """
        from tqdm.auto import tqdm

        stored = self._read_all()
        changed = [item for item in catalog.items.values()
                   if stored.get(item.id, ({}, None))[0].get("content_hash", "") != item.content_hash()]
        stale = [item_id for item_id in stored if item_id not in catalog]
        vectors = {item_id: vec for item_id, (_, vec) in stored.items() if item_id in catalog}
        self._clusters = {item_id: meta.get("cluster") for item_id, (meta, _) in stored.items() if item_id in catalog}
        batch = min(self.max_batch, 512)  # also the embedder's batch: keeps progress and memory steady
        with tqdm(total=len(changed), desc=f"embedding {catalog.name}", unit="item", disable=not progress or not changed) as bar:
            for start in range(0, len(changed), batch):
                chunk = changed[start:start + batch]
                texts = [item.text_for_embedding() for item in chunk]
                encoded = embedder.encode(texts)
                self.upsert([i.id for i in chunk], encoded, [_metadata(i) for i in chunk], texts)
                vectors.update(zip((i.id for i in chunk), np.asarray(encoded, dtype=np.float32)))
                self._clusters.update((i.id, None) for i in chunk)  # a rewritten item lost its cluster
                bar.update(len(chunk))
        for start in range(0, len(stale), self.max_batch):
            self.collection.delete(ids=stale[start:start + self.max_batch])
        ids = list(vectors)
        self.vectors = ItemVectors(ids, np.stack([vectors[i] for i in ids]) if ids else np.zeros((0, 0)))
        return SyncReport(total=len(catalog), embedded=len(changed), removed=len(stale))

    def _read_all(self) -> dict[str, tuple[dict, np.ndarray]]:
        """{id: (metadata, embedding)} for everything stored, read in pages."""
        stored, offset, page = {}, 0, 5000
        while True:
            got = self.collection.get(include=["metadatas", "embeddings"], limit=page, offset=offset)
            for item_id, meta, vec in zip(got["ids"], got["metadatas"], got["embeddings"]):
                stored[item_id] = (meta or {}, np.asarray(vec, dtype=np.float32))
            if len(got["ids"]) < page:
                return stored
            offset += page

    @_server_errors
    def upsert(self, ids: list[str], embeddings: np.ndarray, metadatas: list[dict],
               documents: list[str] | None = None) -> None:
        """Insert or replace items by id, in batches of the client's maximum size."""
        for start in range(0, len(ids), self.max_batch):
            end = start + self.max_batch
            self.collection.upsert(ids=ids[start:end], embeddings=embeddings[start:end],
                                   metadatas=metadatas[start:end],
                                   documents=documents[start:end] if documents is not None else None)

    @_server_errors
    def set_clusters(self, assignment: dict[str, int]) -> int:
        """Write each item's interest cluster into its metadata (only where it changed)."""
        known = self._clusters
        if known is None:  # not synced in this process: read what is stored
            got = self.collection.get(include=["metadatas"])
            known = {i: (m or {}).get("cluster") for i, m in zip(got["ids"], got["metadatas"])}
        changed = [(i, c) for i, c in assignment.items() if i in known and known[i] != c]
        for start in range(0, len(changed), self.max_batch):
            chunk = changed[start:start + self.max_batch]
            self.collection.update(ids=[i for i, _ in chunk], metadatas=[{"cluster": c} for _, c in chunk])
        known.update(changed)
        return len(changed)

    @_server_errors
    def query(self, embedding: np.ndarray, n: int, exclude: set[str] = frozenset(),
              kinds: list[str] | None = None, cluster: int | None = None) -> list[Hit]:
        """Nearest items, never one in `exclude` (the history and dislikes); see OVERFETCH_LIMIT for how."""
        if n <= 0:
            return []
        exclude = set(exclude)
        overfetch = len(exclude) <= self.overfetch_limit
        clauses = []
        if exclude and not overfetch:
            clauses.append({"item_id": {"$nin": sorted(exclude)}})
        if kinds:
            clauses.append({"kind": {"$in": list(kinds)}})
        if cluster is not None:
            clauses.append({"cluster": int(cluster)})
        where = clauses[0] if len(clauses) == 1 else {"$and": clauses} if clauses else None
        # Chroma returns fewer results when fewer items match, so n + len(exclude) needs no count() first.
        result = self.collection.query(query_embeddings=[np.asarray(embedding, dtype=np.float32)],
                                       n_results=n + len(exclude) if overfetch else n,
                                       where=where, include=["distances"])
        hits = [Hit(item_id, 1.0 - float(dist)) for item_id, dist in zip(result["ids"][0], result["distances"][0])
                if item_id not in exclude]
        return hits[:n]

    @_server_errors
    def embeddings(self, item_ids: list[str]) -> dict[str, np.ndarray]:
        if not item_ids:
            return {}
        got = self.collection.get(ids=list(item_ids), include=["embeddings"])
        return {item_id: np.asarray(vec, dtype=np.float32) for item_id, vec in zip(got["ids"], got["embeddings"])}

    @_server_errors
    def all_embeddings(self) -> tuple[list[str], np.ndarray]:
        got = self.collection.get(include=["embeddings"])
        return list(got["ids"]), np.asarray(got["embeddings"], dtype=np.float32)


def _metadata(item: Item) -> dict:
    meta = {"item_id": item.id, "title": item.title, "kind": item.kind, "tags": "|".join(item.tags),
            "content_hash": item.content_hash()}
    if item.year is not None:
        meta["year"] = item.year
    return meta
