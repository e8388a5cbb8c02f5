"""The Chroma store, real, in both modes: the embedded PersistentClient in a temporary folder and an HttpClient
against a real `chroma run` server on loopback (the session's `chroma_server` fixture). Every store test runs
once per mode, so the two modes are held to the same behaviour."""

import uuid

import numpy as np
import pytest

from explorer.catalog import Catalog, Item
from explorer.tools.chroma_server import chroma_server as run_server
from explorer.tools.processes import free_port
from explorer.config import Settings, StoreSettings
from explorer.errors import IndexUnavailableError
from explorer.store.items import OVERFETCH_LIMIT, ItemStore, StoreServerUnavailableError, open_client
from tests.tiers import needs


def catalog_of(*items: Item) -> Catalog:
    return Catalog({i.id: i for i in items}, name="tiny")


ITEMS = [Item(id="sf1", title="Space Opera", kind="film", tags=("science fiction", "space")),
         Item(id="sf2", title="Robots Rising", kind="book", tags=("science fiction", "artificial intelligence")),
         Item(id="cook", title="Kitchen Stories", kind="podcast", tags=("food", "cooking")),
         Item(id="jazz", title="Blue Night", kind="album", tags=("music", "jazz"))]


@pytest.fixture(params=["persistent", pytest.param("http", marks=pytest.mark.system)])
def settings(request, tmp_path) -> StoreSettings:
    """Store settings for one mode; the http mode points at the session's real Chroma server."""
    if request.param == "http":
        server = request.getfixturevalue("chroma_server")
        return StoreSettings(mode="http", host=server.host, port=server.port)
    return StoreSettings()


@pytest.fixture
def name() -> str:
    """A fresh collection per test: the server outlives the test, the temporary folder does not."""
    return f"explorer-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
@needs("index")
def store(settings, tmp_path, name):
    store = ItemStore(open_client(settings, tmp_path), name)
    yield store
    store.client.delete_collection(name)


def test_sync_is_idempotent_hash_checked_and_removes_stale_items(store, embedder):
    first = store.sync(catalog_of(*ITEMS), embedder, progress=False)
    assert (first.total, first.embedded, first.removed) == (4, 4, 0)
    again = store.sync(catalog_of(*ITEMS), embedder, progress=False)
    assert again.embedded == 0 and store.count() == 4
    before = store.embeddings(["sf1", "sf2"])
    changed = [ITEMS[0].model_copy(update={"description": "now with a description"}), *ITEMS[1:3]]
    third = store.sync(catalog_of(*changed), embedder, progress=False)
    assert (third.embedded, third.removed) == (1, 1) and store.count() == 3
    after = store.embeddings(["sf1", "sf2", "jazz"])
    assert set(after) == {"sf1", "sf2"}  # the stale item is gone
    assert not np.allclose(after["sf1"], before["sf1"]) and np.allclose(after["sf2"], before["sf2"])


def test_query_excludes_and_filters_by_kind(store, embedder):
    store.sync(catalog_of(*ITEMS), embedder, progress=False)
    hits = store.query(embedder.query("science fiction about space"), 4)
    assert hits[0].item_id == "sf1" and len(hits) == 4 and hits[0].similarity > hits[-1].similarity
    hits = store.query(embedder.query("science fiction about space"), 4, exclude={"sf1"})
    assert "sf1" not in [h.item_id for h in hits] and hits[0].item_id == "sf2" and len(hits) == 3
    hits = store.query(embedder.query("science fiction"), 4, kinds=["podcast", "album"])
    assert {h.item_id for h in hits} == {"cook", "jazz"}
    hits = store.query(embedder.query("science fiction"), 4, exclude={"jazz"}, kinds=["podcast", "album"])
    assert [h.item_id for h in hits] == ["cook"]
    assert store.query(embedder.query("x"), 4, exclude={i.id for i in ITEMS}) == []
    assert store.query(embedder.query("x"), 0) == []


def test_set_clusters_writes_only_changes_and_filters_queries(store, embedder):
    store.sync(catalog_of(*ITEMS), embedder, progress=False)
    assignment = {"sf1": 0, "sf2": 0, "cook": 1, "jazz": 1}
    assert store.set_clusters(assignment) == 4
    assert store.set_clusters(assignment) == 0
    assert store.set_clusters({**assignment, "jazz": 2}) == 1
    query = embedder.query("science fiction about space")
    assert [h.item_id for h in store.query(query, 4, cluster=1)] == ["cook"]
    assert {h.item_id for h in store.query(query, 4, cluster=0)} == {"sf1", "sf2"}
    assert [h.item_id for h in store.query(query, 4, cluster=0, exclude={"sf1"}, kinds=["book"])] == ["sf2"]
    # a re-sync after an edit keeps the cluster of the unchanged items
    store.sync(catalog_of(ITEMS[0].model_copy(update={"description": "edited"}), *ITEMS[1:]), embedder,
               progress=False)
    assert [h.item_id for h in store.query(query, 4, cluster=2)] == ["jazz"]


def test_store_survives_a_reopen(settings, tmp_path, name, embedder):
    ItemStore(open_client(settings, tmp_path), name).sync(catalog_of(*ITEMS), embedder, progress=False)
    reopened = ItemStore(open_client(settings, tmp_path), name)
    assert reopened.count() == 4
    assert reopened.sync(catalog_of(*ITEMS), embedder, progress=False).embedded == 0
    reopened.client.delete_collection(name)


def test_5000_excluded_ids_give_the_exact_nearest_items_by_both_strategies(store):
    """A long history (5,000 ids, most of them outside this store) excludes exactly, whether it is applied by
    over-fetching (the default) or by Chroma's `$nin` filter (histories above OVERFETCH_LIMIT)."""
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((600, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"item-{i}" for i in range(600)]
    store.upsert(ids, vectors, [{"item_id": i, "kind": "book" if n % 2 else "film"} for n, i in enumerate(ids)])
    exclude = set(ids[:500]) | {f"elsewhere-{i}" for i in range(4500)}
    assert len(exclude) == 5000
    query = vectors[0] + 0.5 * vectors[550]
    allowed = np.arange(500, 600)
    expected = [ids[i] for i in allowed[np.argsort(-(vectors[allowed] @ query))][:10]]
    assert len(exclude) <= OVERFETCH_LIMIT
    overfetched = store.query(query, 10, exclude=exclude)
    store.overfetch_limit = 0  # the `$nin` filter instead
    filtered = store.query(query, 10, exclude=exclude)
    assert [h.item_id for h in overfetched] == expected == [h.item_id for h in filtered]
    films = store.query(query, 10, exclude=exclude, kinds=["film"])
    assert len(films) == 10 and all(int(h.item_id.split("-")[1]) % 2 == 0 for h in films)


def test_explorer_recommends_catalogue_items_through_a_chroma_server(chroma_server, explorer_fallback, tmp_path):
    """The whole pipeline (LLM off) over the http store gives the same answer as over the embedded store."""
    from explorer import Explorer

    ex = Explorer(Settings(data_dir=tmp_path, llm={"backend": "none"},
                           store={"mode": "http", "host": chroma_server.host, "port": chroma_server.port}))
    assert ex.sync_report.embedded == len(ex.catalog) and ex.store.count() == len(ex.catalog)
    history = ex.persona("Maya")
    result = ex.recommend(history, k=5, explore=0.3)
    assert len(result.recommendations) == 5
    for rec in result.recommendations:
        assert rec.item_id in ex.catalog and rec.item_id not in history.item_ids
    embedded = explorer_fallback.recommend(explorer_fallback.persona("Maya"), k=5, explore=0.3)
    assert [r.item_id for r in result.recommendations] == [r.item_id for r in embedded.recommendations]
    ex.store.client.delete_collection(ex.store.name)


def test_a_missing_server_is_a_clear_error_naming_host_port_and_the_fix(tmp_path):
    port = free_port()
    with pytest.raises(IndexUnavailableError) as caught:
        open_client(StoreSettings(mode="http", port=port), tmp_path)
    assert isinstance(caught.value, StoreServerUnavailableError)
    assert f"127.0.0.1:{port}" in str(caught.value) and "chroma run --path" in str(caught.value)


@pytest.fixture
@needs("system")
def own_chroma_server(tmp_path):
    """A Chroma server of the test's own, to stop when it likes: `with own_chroma_server() as server:`."""
    return lambda: run_server(tmp_path / "db")


def test_a_server_that_stops_mid_session_is_a_clear_error(tmp_path, own_chroma_server):
    with own_chroma_server() as server:
        store = ItemStore(open_client(StoreSettings(mode="http", host=server.host, port=server.port), tmp_path),
                          "explorer-stops")
        store.upsert(["a"], np.ones((1, 384), dtype=np.float32), [{"item_id": "a", "kind": "book"}])
        assert store.count() == 1
    with pytest.raises(StoreServerUnavailableError, match=f"{server.host}:{server.port}.*chroma run"):
        store.query(np.ones(384, dtype=np.float32), 3)


def test_an_explorer_pointed_at_a_down_server_says_how_to_start_it(tmp_path, embedder):
    """The facade raises the typed error (an ExplorerError: the CLI and the app show it as one line)."""
    from explorer import Explorer
    from explorer.errors import ExplorerError

    port = free_port()
    with pytest.raises(ExplorerError, match=f"cannot reach the Chroma server at 127.0.0.1:{port}.*chroma run"):
        Explorer(Settings(data_dir=tmp_path, llm={"backend": "none"}, store={"mode": "http", "port": port}))
