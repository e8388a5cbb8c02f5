import pytest

from explorer.catalog import load_catalog
from explorer.errors import DataError
from explorer.catalog.movielens import load_movielens_histories
from tests.conftest import MOVIELENS


@pytest.fixture
def tiny_movielens(tmp_path):
    (tmp_path / "movies.csv").write_text(
        'movieId,title,genres\n1,Toy Story (1995),Adventure|Animation|Children\n'
        '2,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",Drama|Sci-Fi\n'
        '3,Untitled,(no genres listed)\n', encoding="utf-8")
    (tmp_path / "tags.csv").write_text("userId,movieId,tag,timestamp\n1,1,Pixar,1\n2,1,pixar,2\n2,1,toys,3\n")
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,10\n1,2,1.5,5\n2,3,5.0,7\n")
    return tmp_path


def test_movies_and_tags_become_items(tiny_movielens):
    catalog = load_catalog(tiny_movielens)
    assert catalog.name == "movielens" and len(catalog) == 3
    toy = catalog["1"]
    assert (toy.title, toy.year, toy.kind) == ("Toy Story", 1995, "film")
    assert toy.tags[:3] == ("adventure", "animation", "children") and toy.tags[3] == "pixar"
    assert catalog["2"].title.startswith("City of Lost Children") and catalog["2"].year == 1995
    assert catalog["3"].tags == () and catalog["3"].year is None


def test_ratings_become_histories_oldest_first(tiny_movielens):
    histories = load_movielens_histories(tiny_movielens)
    assert histories["1"].item_ids == ["2", "1"]
    assert histories["1"].disliked[0].item_id == "2" and histories["2"].liked[0].item_id == "3"


def test_missing_column_is_named(tiny_movielens):
    (tiny_movielens / "movies.csv").write_text("movieId,name\n1,x\n")
    with pytest.raises(DataError, match="missing column") as exc:
        load_catalog(tiny_movielens)
    assert exc.value.field == "title"


@pytest.mark.movielens
@pytest.mark.skipif(not MOVIELENS.is_dir(), reason="../shared/data/movielens-small is not here")
def test_real_movielens_small():
    catalog = load_catalog(MOVIELENS)
    assert len(catalog) == 9742
    histories = load_movielens_histories(MOVIELENS)
    assert len(histories) == 610 and min(len(h) for h in histories.values()) >= 20
    assert all(i in catalog for h in list(histories.values())[:50] for i in h.item_ids)
