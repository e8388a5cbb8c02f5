"""Bad input, case by case (issue 5): catalogues, histories and chat messages.

Each case asserts the kind of error and that its message names the file, line and field where there is
one; where rows are kept and changed instead (a long description cut, an exact repeat ignored, repeated
ratings merged), that the count is reported. test_catalog.py holds the first cases (empty id, missing
title, a year that is not a number, malformed JSON, duplicate ids, a short CSV row, an empty file, invalid
UTF-8); this file adds the rest.
"""

import json
import time

import pytest

from explorer.catalog import (MAX_DESCRIPTION_CHARS, Catalog, History, Item, Rating, history_from_lines,
                              load_catalog, load_history_file, require_usable)
from explorer.chat.session import MAX_MESSAGE_CHARS, NOTHING_TO_READ
from explorer.config import Settings, StoreSettings
from explorer.errors import DataError, EmptyHistoryError, UnknownItemError
from explorer.chat import ChatSession

GOOD = {"id": "a", "title": "Alpha", "kind": "film", "year": 2001, "tags": ["drama"], "description": "x"}
CATALOG = load_catalog(Settings().catalog)


def jsonl(*rows) -> str:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n"


def assert_names(exc: DataError, path, line: int | None, field: str | None = None):
    """The error names the file, the line and the field, in its attributes and in its one-line message."""
    assert (exc.path, exc.line, exc.field) == (str(path), line, field)
    text = str(exc)
    assert text.startswith(f"{path}:{line}: " if line else f"{path}: ")
    assert (f"(field '{field}')" in text) if field else ("field '" not in text)


# ---------------------------------------------------------------- catalogues: rejected with file, line, field

@pytest.mark.parametrize("row, field, words", [
    ({k: v for k, v in GOOD.items() if k != "id"}, "id", "required"),
    ({**GOOD, "tags": 5}, "tags", "tuple"),
    ({**GOOD, "tags": [{"name": "drama"}]}, "tags.0", "string"),
    ({**GOOD, "tags": ["x" * 101]}, "tags", "at most 100 characters"),
    ({**GOOD, "description": {"text": "nested"}}, "description", "string"),
    ({**GOOD, "year": True}, "year", "not true/false"),
    ({**GOOD, "year": 1e9}, "year", "less than or equal to 2100"),
    ({**GOOD, "creator": ["A", "B"]}, "creator", "string"),
    ({**GOOD, "id": {"a": 1}}, "id", "string"),
    ({**GOOD, "title": "t" * 501}, "title", "at most 500 characters"),
])
def test_wrong_types_name_file_line_and_field(write, row, field, words):
    path = write("c.jsonl", jsonl({**GOOD, "id": "ok"}, row))
    with pytest.raises(DataError, match=words) as exc:
        load_catalog(path)
    assert_names(exc.value, path, 2, field)


@pytest.mark.parametrize("name, content, line, words", [
    ("long.csv", "id,title\na,Alpha\nb,Beta,extra,fields\n", 3, "ragged row: expected 2 fields, found 4"),
    ("twice.csv", "id,title,id\na,Alpha,b\n", 1, "names column 'id' twice"),
    ("nul.csv", "id,title\na,Al\x00pha\n", 1, "binary file"),
    ("empty.csv", "", 1, "no header row"),
    ("lines.jsonl", "id,title\na,Alpha\n", 1, "looks like CSV"),
    ("array.jsonl", json.dumps([GOOD, GOOD], indent=2), 1, "one JSON array"),
    ("rows.csv", jsonl(GOOD), 1, "looks like JSON, not CSV"),
    ("report.jsonl", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", 1, "PDF document"),
    ("packed.csv", b"\x1f\x8b\x08\x00\x00\x00\x00\x00", 1, "gzip archive"),
    ("latin1.csv", "id,title\na,Alpha\nb,Caf\xe9\n".encode("latin-1"), 3, "not valid UTF-8"),
])
def test_malformed_files_name_file_and_line(write, name, content, line, words):
    path = write(name, content)
    with pytest.raises(DataError, match=words) as exc:
        load_catalog(path)
    assert_names(exc.value, path, line, exc.value.field)


@pytest.mark.parametrize("name, content", [("blank.jsonl", "\n  \n\n"), ("header.csv", "id,title,kind\n")])
def test_a_file_without_items_is_an_empty_catalogue(write, name, content):
    with pytest.raises(DataError, match="the catalogue is empty") as exc:
        load_catalog(write(name, content))
    assert exc.value.path.endswith(name)


def test_line_numbers_count_as_an_editor_does(write):
    """A quoted CSV field may hold a newline, and JSON may hold U+2028: the error still names the right line."""
    csv_path = write("c.csv", 'id,title,description\na,Alpha,"two\nlines"\nb,,x\n')
    with pytest.raises(DataError) as exc:
        load_catalog(csv_path)
    assert_names(exc.value, csv_path, 4, "title")
    json_path = write("c.jsonl", jsonl({**GOOD, "description": "one\u2028paragraph"}, {"id": "b"}))
    with pytest.raises(DataError) as exc:
        load_catalog(json_path)
    assert_names(exc.value, json_path, 2, "title")


# ---------------------------------------------------------------- catalogues: kept, changed, and counted

@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_10_mb_description_is_cut_and_counted(write, caplog, fmt):
    huge = "A long story. " * (10 * 1024 * 1024 // 14)
    if fmt == "jsonl":
        path = write("c.jsonl", jsonl(GOOD, {**GOOD, "id": "big", "description": huge}))
    else:
        path = write("c.csv", f"id,title,description\na,Alpha,x\nbig,Big,{huge}\n")
    catalog = load_catalog(path)
    assert len(catalog["big"].description) <= MAX_DESCRIPTION_CHARS
    assert catalog["big"].description.startswith("A long story.")
    assert catalog.notes == [f"{path}: 1 description(s) cut to 2,000 characters (line 3)" if fmt == "csv"
                             else f"{path}: 1 description(s) cut to 2,000 characters (line 2)"]
    assert catalog.notes[0] in caplog.text  # logged, so the CLI shows it on stderr


def test_exact_repeats_are_ignored_and_counted(write):
    catalog = load_catalog(write("c.jsonl", jsonl(GOOD, {**GOOD, "id": "b"}, GOOD, GOOD)))
    assert len(catalog) == 2
    assert catalog.notes == [f"{catalog.source}: 2 exact repeat(s) of an earlier row ignored (line 3, 4)"]


def test_a_good_catalogue_has_no_notes():
    assert CATALOG.notes == []


def test_a_rejected_catalogue_leaves_the_existing_index_untouched(tmp_path, embedder, run_explorer):
    """`explorer ingest` (the real CLI, a subprocess) of a bad version of an indexed catalogue: the file is
    validated in full first, so neither its good rows (one of them changed) nor its bad one reach Chroma."""
    from explorer.store.items import ItemStore, collection_name, open_client

    data_dir, good = tmp_path / "data", [{**GOOD, "id": f"i{n}", "title": f"Item {n}"} for n in range(3)]
    store = ItemStore(open_client(StoreSettings(), data_dir), collection_name("explorer", "mine"))
    store.sync(Catalog({r["id"]: Item(**r) for r in good}, name="mine"), embedder, progress=False)
    before = store.collection.get(include=["documents", "metadatas", "embeddings"])

    bad = tmp_path / "mine.jsonl"
    bad.write_text(jsonl({**good[0], "title": "Changed"}, {**GOOD, "id": "new", "title": "New"}, good[2],
                         {**GOOD, "id": "i9", "year": "soon"}))
    proc = run_explorer("ingest", str(bad), timeout=300, EXPLORER_DATA_DIR=str(data_dir),
                        COLUMNS="1000")  # rich wraps at the width
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{bad}:4:" in proc.stderr and "(field 'year')" in proc.stderr

    after = ItemStore(open_client(StoreSettings(), data_dir), collection_name("explorer", "mine"))
    got = after.collection.get(include=["documents", "metadatas", "embeddings"])
    assert after.count() == 3
    assert (got["ids"], got["documents"], got["metadatas"]) == (before["ids"], before["documents"], before["metadatas"])
    assert (got["embeddings"] == before["embeddings"]).all()


# ---------------------------------------------------------------- histories

def test_an_empty_history_file_says_to_rate_something(write):
    for name, content in (("h.jsonl", ""), ("h.csv", "item_id,rating\n"), ("h.txt", "\n# only a comment\n")):
        parsed = load_history_file(write(name, content), CATALOG)
        with pytest.raises(EmptyHistoryError, match="rate or name at least one catalogue item"):
            require_usable(parsed.history, CATALOG, parsed.unknown)


def test_a_history_of_only_unknown_items_lists_them(write):
    parsed = load_history_file(write("h.csv", "title,rating\nNo Such Film,5\nghost-id,4\n"), CATALOG)
    assert parsed.unknown == ["No Such Film", "ghost-id"] and len(parsed.history) == 0
    with pytest.raises(UnknownItemError, match="2 item\\(s\\) in the history are not in the catalogue: "
                                               "'No Such Film', 'ghost-id'"):
        require_usable(parsed.history, CATALOG, parsed.unknown)


def test_repeated_ratings_are_merged_and_counted(write):
    rows = [{"item_id": "film-arrival-2016", "rating": 2, "timestamp": 100},
            {"title": "Arrival", "rating": 5, "timestamp": 300},
            {"item_id": "book-dune-1965", "rating": 4, "timestamp": 200},
            {"item_id": "film-arrival-2016", "rating": 3, "timestamp": 200}]
    parsed = load_history_file(write("h.jsonl", jsonl(*rows)), CATALOG)
    assert [(r.item_id, r.rating) for r in parsed.history.ratings] == [("book-dune-1965", 4), ("film-arrival-2016", 5)]
    assert parsed.notes == ["2 repeated rating(s) merged: the latest rating of each item counts"]
    pasted = history_from_lines(["Arrival, 1", "Dune (1965), 4", "Arrival, 5"], CATALOG)
    assert pasted.history.ratings[-1].rating == 5 and pasted.notes[0].startswith("1 repeated")


@pytest.mark.parametrize("timestamp, words", [
    (int(time.time()) + 30 * 86_400, "is in the future"),
    (int(time.time() * 1000), "is in the future \\(milliseconds\\? use seconds since 1970\\)"),
    ("next tuesday", "ISO 8601"),
])
def test_future_or_unreadable_timestamps_name_the_line(write, timestamp, words):
    rows = [{"item_id": "film-arrival-2016", "rating": 5, "timestamp": 1_600_000_000},
            {"item_id": "book-dune-1965", "rating": 4, "timestamp": timestamp}]
    path = write("h.jsonl", jsonl(*rows))
    with pytest.raises(DataError, match=words) as exc:
        load_history_file(path, CATALOG)
    assert_names(exc.value, path, 2, "timestamp")


def test_iso_dates_are_read_as_timestamps(write):
    parsed = load_history_file(write("h.csv", "item_id,rating,timestamp\nbook-dune-1965,4,2024-05-02\n"
                                              "film-arrival-2016,5,2024-05-01T10:00:00Z\n"), CATALOG)
    assert [r.item_id for r in parsed.history.ratings] == ["film-arrival-2016", "book-dune-1965"]
    assert parsed.history.ratings[0].timestamp == 1714557600


@pytest.mark.parametrize("name, content, line", [
    ("h.jsonl", jsonl({"item_id": "film-arrival-2016", "rating": 7}), 1),
    ("h.csv", "title,rating\nArrival,4\nDune (1965),-1\n", 3),
    ("h.jsonl", jsonl({"title": "Arrival", "rating": 4}, {"title": "Not In Catalogue", "rating": 50}), 2),
])
def test_ratings_out_of_range_name_the_line(write, name, content, line):
    path = write(name, content)
    with pytest.raises(DataError, match="rating") as exc:
        load_history_file(path, CATALOG)
    assert_names(exc.value, path, line, "rating")


def test_a_rating_out_of_range_in_text_names_the_line(write):
    """Pasted, the line is listed back with its reason and the rest counts; in a file, the file is refused."""
    pasted = history_from_lines(["Arrival, 5", "", "Dune (1965), 7"], CATALOG)
    assert pasted.history.item_ids == ["film-arrival-2016"]
    assert pasted.unknown == ["Dune (1965), 7 (line 3: rating outside 0–5)"]
    path = write("h.txt", "Arrival | 4.5\nInterstellar; 11\n")
    with pytest.raises(DataError) as exc:
        load_history_file(path, CATALOG)
    assert_names(exc.value, path, 2, "rating")
    # A year after a title is not a rating: it says which item is meant, and a wrong year matches nothing.
    assert history_from_lines(["Arrival, 2016"], CATALOG).history.item_ids == ["film-arrival-2016"]
    assert history_from_lines(["Arrival, 1999"], CATALOG).unknown == ["Arrival, 1999"]


@pytest.mark.parametrize("n_history, at_least", [(150, 5), (300, 1)])
def test_a_huge_history_still_gets_recommendations(explorer_fallback, n_history, at_least):
    """Most of the demo catalogue in the history: every query excludes it all and still answers. With 300 of
    330 items rated, the few left rarely sit in the clusters the plan explores, so fewer than k come back."""
    ids = sorted(CATALOG.items)[:n_history]
    history = History.of([Rating(item_id=i, rating=4.0 + (n % 3) / 2, timestamp=n) for n, i in enumerate(ids)])
    result = explorer_fallback.recommend(history, k=5, explain=False)
    assert at_least <= len(result.recommendations) <= 5
    assert not {r.item_id for r in result.recommendations} & set(ids)


def test_a_query_excluding_3000_history_items_never_returns_one(index_dir):
    """The store's exclusion ($nin) with a history of thousands: 6,000 items, 3,000 or 5,990 of them excluded."""
    import numpy as np

    from explorer.store.items import ItemStore, open_client

    store = ItemStore(open_client(StoreSettings(), index_dir), "explorer-big")
    vectors = np.random.default_rng(0).normal(size=(6000, 8)).astype("float32")
    for start in range(0, 6000, 2000):
        ids = [f"x{i}" for i in range(start, start + 2000)]
        store.collection.upsert(ids=ids, embeddings=vectors[start:start + 2000],
                                metadatas=[{"item_id": i, "kind": "film"} for i in ids])
    for n_excluded in (3000, 5990):
        excluded = {f"x{i}" for i in range(n_excluded)}
        hits = store.query(vectors[0], 10, exclude=excluded)
        assert len(hits) == 10 and not {h.item_id for h in hits} & excluded


@pytest.mark.slow
def test_a_history_of_thousands_keeps_the_prompt_inside_the_context(explorer_llm):
    """3,000 ratings over a 3,000-item catalogue (long titles, many tags): the prompts the LLM is sent stay
    far inside SmolLM2's 8,192-token context (counted with its own tokenizer), and the profile says
    that the LLM read a sample."""
    from explorer.pipeline.profile import ProfileBuilder

    words = ["mystery", "space", "jazz", "war", "cooking", "poetry", "horror", "comedy", "history", "travel"]
    items = {f"x{n}": Item(id=f"x{n}", title=f"The Remarkably Long and Winding Title Number {n} " * 4,
                           tags=[words[n % 10], words[(n * 7) % 10], f"tag {n % 97}"] + [f"filler {k}" for k in range(20)])
             for n in range(3000)}
    catalog = Catalog(items, name="big")
    history = History.of([Rating(item_id=f"x{n}", rating=[5.0, 4.5, 4.0, 1.0][n % 4], timestamp=n) for n in range(3000)])
    settings = Settings()
    from explorer.pipeline.prompts import select_prompt
    builder = ProfileBuilder(catalog, explorer_llm.llm, select_prompt(settings.prompts_dir, "profile_themes"),
                             select_prompt(settings.prompts_dir, "profile_summary"),
                             max_history_in_prompt=10_000)  # the character budget must hold on its own
    tokenizer = explorer_llm.llm.tokenizer
    for step, messages in builder.prompt_messages(history).items():
        n_tokens = len(tokenizer(explorer_llm.llm._prompt(messages), add_special_tokens=False)["input_ids"])
        assert n_tokens < 2048, (step, n_tokens)  # room left for the answer, far inside 8,192
    outcome = builder.build(history)
    read = [n for n in outcome.notes if n.startswith("profile: the LLM read ")]
    assert read and " of 3,000 ratings" in read[0], outcome.notes
    assert outcome.value.themes and outcome.value.summary


# ---------------------------------------------------------------- chat messages

@pytest.fixture
def session(explorer_scripted):
    """A chat over the scripted stand-in LLM: the messages reach every step's model path, without a model."""
    return ChatSession(explorer_scripted, explorer_scripted.persona("Maya"), k=3)


def test_a_message_of_only_blanks_and_control_characters_asks_for_words(session):
    answer = "".join(session.send(" \x00\x1b \u200b\t\n "))
    assert answer == NOTHING_TO_READ and session.last is None
    assert session.turns == [("", NOTHING_TO_READ)]
    assert "".join(session.send("")).count("1. ") == 1  # a truly empty message still asks for recommendations
    assert len(session.last.recommendations) == 3


def test_a_100_kb_message_is_cut_said_and_answered(session):
    message = "something lighter with jazz " + "and more words " * 7_000
    answer = "".join(session.send(message))
    assert answer.startswith(f"(Your message has {len(message.strip()):,} characters; I read the first "
                             f"{MAX_MESSAGE_CHARS}.)")
    assert len(session.last.recommendations) == 3
    said, _ = session.turns[-1]
    assert len(said) <= MAX_MESSAGE_CHARS and said.startswith("something lighter with jazz")


def test_control_characters_are_stripped_before_anything_reads_them(session):
    "".join(session.send("less \x1b[31mhorror\x00 please\x07"))
    assert session.turns[-1][0] == "less [31mhorror please"
    assert "horror" in session.current_profile().avoid


@pytest.mark.parametrize("message", ["静かで美しいSF映画が見たい", "أريد فيلم خيال علمي هادئ", "🚀🎷📚 more of this please 🤖",
                                     "less hórror, plus de poésie", "\u202eright-to-left override\u202c and 𝔣𝔯𝔞𝔨𝔱𝔲𝔯"])
def test_other_languages_and_scripts_are_answered(session, message):
    answer = "".join(session.send(message))
    assert len(session.last.recommendations) == 3
    assert all(r.title in answer for r in session.last.recommendations)
