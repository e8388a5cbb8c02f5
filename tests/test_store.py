"""The Chroma store, real: a PersistentClient in a temporary folder and the packaged embedder."""

import pytest

from explorer.catalog import Catalog, Item
from explorer.config import StoreSettings
from explorer.store import ItemStore, open_client


def catalog_of(*items: Item) -> Catalog:
    return Catalog({i.id: i for i in items}, name="tiny")


ITEMS = [Item(id="sf1", title="Space Opera", kind="film", tags=("science fiction", "space")),
         Item(id="sf2", title="Robots Rising", kind="book", tags=("science fiction", "artificial intelligence")),
         Item(id="cook", title="Kitchen Stories", kind="podcast", tags=("food", "cooking")),
         Item(id="jazz", title="Blue Night", kind="album", tags=("music", "jazz"))]


@pytest.fixture
def store(tmp_path):
    return ItemStore(open_client(StoreSettings(), tmp_path), "explorer-tiny")


def test_sync_is_idempotent_and_hash_checked(store, embedder):
    first = store.sync(catalog_of(*ITEMS), embedder, progress=False)
    assert (first.total, first.embedded, first.removed) == (4, 4, 0)
    again = store.sync(catalog_of(*ITEMS), embedder, progress=False)
    assert again.embedded == 0 and store.count() == 4
    changed = [ITEMS[0].model_copy(update={"description": "now with a description"}), *ITEMS[1:3]]
    third = store.sync(catalog_of(*changed), embedder, progress=False)
    assert (third.embedded, third.removed) == (1, 1) and store.count() == 3


def test_query_excludes_and_filters(store, embedder):
    store.sync(catalog_of(*ITEMS), embedder, progress=False)
    hits = store.query(embedder.query("science fiction about space"), 4)
    assert hits[0].item_id == "sf1"
    hits = store.query(embedder.query("science fiction about space"), 4, exclude={"sf1"})
    assert "sf1" not in [h.item_id for h in hits] and hits[0].item_id == "sf2"
    hits = store.query(embedder.query("science fiction"), 4, kinds=["podcast", "album"])
    assert {h.item_id for h in hits} == {"cook", "jazz"}
    assert store.query(embedder.query("x"), 4, exclude={i.id for i in ITEMS}) == []


def test_store_survives_a_reopen(tmp_path, embedder):
    ItemStore(open_client(StoreSettings(), tmp_path), "explorer-tiny").sync(catalog_of(*ITEMS), embedder, progress=False)
    reopened = ItemStore(open_client(StoreSettings(), tmp_path), "explorer-tiny")
    assert reopened.count() == 4
    assert reopened.sync(catalog_of(*ITEMS), embedder, progress=False).embedded == 0
