import json

import pytest

from explorer.catalog import (History, Rating, history_from_lines, load_catalog, load_history_file, load_personas,
                              require_usable)
from explorer.config import Settings
from explorer.errors import DataError, EmptyHistoryError, UnknownItemError

GOOD = {"id": "a", "title": "Alpha", "kind": "film", "year": 2001, "tags": ["drama"], "description": "x"}


def jsonl(*rows) -> str:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n"


def test_demo_catalogue_is_big_and_varied():
    catalog = load_catalog(Settings().catalog)
    assert len(catalog) >= 300
    assert len(catalog.kinds()) >= 4
    for item in catalog.items.values():
        assert item.description and item.tags and item.year, item.id


def test_demo_personas_are_valid():
    catalog = load_catalog(Settings().catalog)
    personas = load_personas(Settings().personas, catalog)
    assert len(personas) >= 6
    for p in personas.values():
        assert p.name and 8 <= len(p.history) <= 30
        assert any(r.disliked for r in p.history), p.name


def test_jsonl_loads_and_normalises(write):
    catalog = load_catalog(write("c.jsonl", jsonl(GOOD, {**GOOD, "id": "b", "title": "Beta", "tags": "Sci-Fi|Space"})))
    assert len(catalog) == 2
    assert catalog["b"].tags == ("sci-fi", "space")
    assert catalog.find("alpha").id == "a" and catalog.find("Alpha (2001)").id == "a"


@pytest.mark.parametrize("row, line, field", [
    ({**GOOD, "id": ""}, 2, "id"),
    ({k: v for k, v in GOOD.items() if k != "title"}, 2, "title"),
    ({**GOOD, "year": "last year"}, 2, "year"),
])
def test_bad_row_names_file_line_and_field(write, row, line, field):
    path = write("c.jsonl", jsonl({**GOOD, "id": "ok"}, row))
    with pytest.raises(DataError) as exc:
        load_catalog(path)
    assert (exc.value.line, exc.value.field) == (line, field)
    assert str(path) in str(exc.value) and f":{line}:" in str(exc.value)


def test_malformed_json_line(write):
    with pytest.raises(DataError, match=r"c.jsonl:2: not valid JSON"):
        load_catalog(write("c.jsonl", jsonl(GOOD, '{"id": "b", "title": ')))


def test_duplicate_id_with_different_content_is_rejected(write):
    with pytest.raises(DataError, match="duplicate id 'a'") as exc:
        load_catalog(write("c.jsonl", jsonl(GOOD, {**GOOD, "title": "Other"})))
    assert exc.value.line == 2


def test_exact_duplicate_is_harmless(write):
    assert len(load_catalog(write("c.jsonl", jsonl(GOOD, GOOD)))) == 1


def test_csv_loads_and_ragged_row_is_named(write):
    ok = write("c.csv", "id,title,kind,year,tags,description\na,Alpha,film,2001,drama|war,\"A, b\"\n")
    assert load_catalog(ok)["a"].tags == ("drama", "war")
    bad = write("d.csv", "id,title,kind\na,Alpha,film\nb,Beta\n")
    with pytest.raises(DataError, match="ragged row") as exc:
        load_catalog(bad)
    assert exc.value.line == 3


def test_empty_and_non_utf8_files(write):
    with pytest.raises(DataError, match="empty"):
        load_catalog(write("e.jsonl", ""))
    with pytest.raises(DataError, match="UTF-8") as exc:
        load_catalog(write("u.jsonl", json.dumps(GOOD).encode() + b"\n\xff\xfe bad\n"))
    assert exc.value.line == 2


def test_history_lines_list_unknown_titles():
    catalog = load_catalog(Settings().catalog)
    parsed = history_from_lines(["Arrival, 5", "No Such Film", "", "book-dune-1965 | 2"], catalog)
    assert [(r.item_id, r.rating) for r in parsed.history.ratings] == [("film-arrival-2016", 5.0), ("book-dune-1965", 2.0)]
    assert parsed.unknown == ["No Such Film"]


def test_history_file_jsonl(write):
    catalog = load_catalog(Settings().catalog)
    path = write("h.jsonl", jsonl({"title": "Arrival", "rating": 5}, {"item_id": "nope", "rating": 1}))
    parsed = load_history_file(path, catalog)
    assert parsed.history.item_ids == ["film-arrival-2016"] and parsed.unknown == ["nope"]


def test_unusable_histories_say_why():
    catalog = load_catalog(Settings().catalog)
    with pytest.raises(EmptyHistoryError):
        require_usable(History.of([]), catalog)
    with pytest.raises(UnknownItemError, match="'ghost'"):
        require_usable(History.of([Rating(item_id="ghost", rating=5)]), catalog)


def test_history_keeps_latest_rating_of_an_item():
    h = History.of([Rating(item_id="a", rating=5, timestamp=1), Rating(item_id="a", rating=1, timestamp=2)])
    assert len(h) == 1 and h.disliked[0].rating == 1


def test_a_title_naming_several_items_is_resolved_by_year_or_kind_or_asked_about():
    """'Dune' is a 2021 film and a 1965 novel: a year or a kind on the line picks one; a bare 'Dune' is
    asked about (its candidates listed), never reported as unknown."""
    from explorer.catalog import history_from_lines, load_catalog
    from explorer.config import Settings

    catalog = load_catalog(Settings().catalog)
    picked = history_from_lines(["Dune (2021), 5", "Dune, book, 4", "Arrival, 2016, 3"], catalog)
    assert [(r.item_id, r.rating) for r in picked.history.ratings] == [
        ("film-dune-2021", 5.0), ("book-dune-1965", 4.0), ("film-arrival-2016", 3.0)]
    assert picked.unknown == [] and picked.ambiguous == []
    for line in ("Dune, 1965", "Dune (book)", "Dune | film | 4.5"):
        assert len(history_from_lines([line], catalog).history) == 1, line

    asked = history_from_lines(["Arrival, 5", "Dune, 4.5", "Saw, 1"], catalog)
    assert asked.history.item_ids == ["film-arrival-2016"] and asked.unknown == ["Saw"]
    [dune] = asked.ambiguous
    assert dune.line == "Dune, 4.5" and {c.id for c in dune.candidates} == {"film-dune-2021", "book-dune-1965"}
    assert sorted(dune.choices()) == ["Dune (1965)", "Dune (2021)"]
    # Each offered choice, pasted back, resolves to its item.
    assert all(len(history_from_lines([c], catalog).history) == 1 for c in dune.choices())


def test_a_history_file_with_a_kind_column_picks_among_same_titles(write):
    from explorer.catalog import load_catalog, load_history_file
    from explorer.config import Settings

    catalog = load_catalog(Settings().catalog)
    path = write("h.csv", "title,kind,rating\nDune,book,4\nDune,,3\n")
    parsed = load_history_file(path, catalog)
    assert parsed.history.item_ids == ["book-dune-1965"] and [a.line for a in parsed.ambiguous] == ["Dune"]
