"""Property-based tests (hypothesis) for the loaders and for reading the LLM's JSON.

- Loaders: whatever the bytes of a catalogue or history file, the only error is DataError (which names
  the file and line); valid rows written as JSONL or CSV come back exactly.
- The LLM's structured output: whatever JSON (or text) the model returns, parsing raises only
  ModelOutputError, and what it yields, and the profile and plan built from it, always validate.
  Tests named *scripted_llm* feed that output through a scripted stand-in for the model, on purpose:
  the real model is constrained by outlines and would never produce most of these inputs.
"""

import csv
import io
import json
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from explorer.catalog import History, Rating, history_from_lines, load_catalog, load_history_file
from explorer.config import Settings
from explorer.errors import DataError
from explorer.pipeline.plan import Planner
from explorer.pipeline.profile import ProfileBuilder
from explorer.pipeline.prompts import select_prompt
from explorer.pipeline.values import ExploreQuery, InterestProfile, ModelOutputError, parse_choices

SETTINGS = Settings()
CATALOG = load_catalog(SETTINGS.catalog)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
FIELDS = ["id", "title", "kind", "year", "creator", "tags", "description", "item_id", "rating", "timestamp"]
row_like = st.dictionaries(st.sampled_from(FIELDS), scalars | json_values, max_size=6)
line_like = st.one_of(st.text(max_size=60), row_like.map(json.dumps), json_values.map(json.dumps))
file_text = st.lists(line_like, max_size=8).map("\n".join)
file_bytes = st.one_of(file_text.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=200))


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    """One folder for the module: hypothesis runs each test body many times, and a function-scoped
    tmp_path would be shared by all of those runs anyway."""
    return tmp_path_factory.mktemp("properties")


def write(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


# ---------------------------------------------------------------- loaders never raise anything but DataError

@FAST
@given(content=file_bytes, name=st.sampled_from(["c.jsonl", "c.csv", "c.json"]))
def test_catalogue_loader_raises_only_data_error(tmp, content, name):
    path = write(tmp, name, content)
    try:
        catalog = load_catalog(path)
    except DataError as exc:
        assert str(path) in str(exc)
    else:
        assert len(catalog) >= 1 and all(item.id and item.title for item in catalog.items.values())


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(row_like.map(lambda r: {"id": "ok", "title": "Ok", **r}), min_size=1, max_size=3))
def test_catalogue_rows_of_any_shape_raise_only_data_error(tmp, rows):
    path = write(tmp, "rows.jsonl", "\n".join(json.dumps(r) for r in rows).encode())
    try:
        load_catalog(path)
    except DataError as exc:
        assert exc.line is not None and str(path) in str(exc)


@FAST
@given(content=file_bytes, name=st.sampled_from(["h.jsonl", "h.csv", "h.txt"]))
def test_history_loader_raises_only_data_error(tmp, content, name):
    path = write(tmp, name, content)
    try:
        parsed = load_history_file(path, CATALOG)
    except DataError as exc:
        assert str(path) in str(exc)
    else:
        assert all(r.item_id in CATALOG for r in parsed.history.ratings)
        assert all(r.rating is None or 0 <= r.rating <= 5 for r in parsed.history.ratings)


@FAST
@given(lines=st.lists(st.one_of(st.text(max_size=40), st.sampled_from(sorted(CATALOG.items)),
                                st.tuples(st.sampled_from(["Arrival", "Dune (1965)"]), st.floats(allow_nan=True))
                                .map(lambda t: f"{t[0]}, {t[1]}")), max_size=10))
def test_pasted_history_never_raises(lines):
    parsed = history_from_lines(lines, CATALOG)  # pasted text never raises: bad lines are listed back
    assert all(r.item_id in CATALOG for r in parsed.history.ratings)
    assert all(r.rating is None or 0 <= r.rating <= 5 for r in parsed.history.ratings)


# ---------------------------------------------------------------- valid rows round-trip

def clean_text(max_size: int):
    chars = st.characters(blacklist_categories=("Cc", "Cs"))  # control characters are not catalogue text
    return st.text(chars, min_size=1, max_size=max_size).map(str.strip).filter(bool)


tag = st.text(string.ascii_lowercase + "äéø- ", min_size=1, max_size=12).map(str.strip).filter(bool)
valid_row = st.fixed_dictionaries({
    "id": clean_text(30), "title": clean_text(60), "kind": st.sampled_from(["film", "book", "album"]),
    "year": st.none() | st.integers(-3000, 2100), "creator": st.none() | clean_text(30),
    "tags": st.lists(tag, unique=True, max_size=5), "description": st.just("") | clean_text(200)})
valid_rows = st.lists(valid_row, min_size=1, max_size=6, unique_by=lambda r: r["id"])


def expected(rows):
    return [{**r, "tags": tuple(r["tags"])} for r in rows]


def loaded(catalog):
    return [item.model_dump() for item in catalog.items.values()]


@FAST
@given(rows=valid_rows)
def test_valid_rows_round_trip_through_jsonl(tmp, rows):
    path = write(tmp, "rt.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode())
    catalog = load_catalog(path)
    assert loaded(catalog) == expected(rows) and catalog.notes == []


@FAST
@given(rows=valid_rows)
def test_valid_rows_round_trip_through_csv(tmp, rows):
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["id", "title", "kind", "year", "creator", "tags", "description"])
    for r in rows:
        writer.writerow([r["id"], r["title"], r["kind"], "" if r["year"] is None else r["year"], r["creator"] or "",
                         "|".join(r["tags"]), r["description"]])
    catalog = load_catalog(write(tmp, "rt.csv", out.getvalue().encode()))
    assert loaded(catalog) == expected(rows)


@FAST
@given(ratings=st.lists(st.tuples(st.sampled_from(sorted(CATALOG.items)[:40]), st.none() | st.sampled_from(
    [0.5, 1.0, 2.0, 3.5, 4.0, 5.0]), st.integers(0, 1_700_000_000)), max_size=12))
def test_valid_history_rows_round_trip(tmp, ratings):
    rows = [{"item_id": i, "rating": r, "timestamp": t} for i, r, t in ratings]
    parsed = load_history_file(write(tmp, "rt-h.jsonl", "\n".join(map(json.dumps, rows)).encode()), CATALOG)
    assert parsed.history == History.of([Rating(**row) for row in rows])


# ---------------------------------------------------------------- the LLM's JSON

OPTIONS = {"nearby": ["space opera", "cyberpunk", "jazz"], "new": ["cooking", "poetry"]}
choice_like = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional={k: st.one_of(json_values, st.lists(st.sampled_from(v) | st.text(max_size=8)
                                                                           | json_values, max_size=5))
                                        for k, v in OPTIONS.items()}))
model_output = st.one_of(choice_like, choice_like.map(json.dumps), st.text(max_size=60), st.binary(max_size=40))


@settings(max_examples=100, deadline=None)
@given(raw=model_output)
def test_parse_choices_yields_only_offered_options_or_one_error(raw):
    try:
        chosen = parse_choices(raw, OPTIONS)
    except ModelOutputError:
        return
    assert set(chosen) == set(OPTIONS)
    for field, picked in chosen.items():
        assert set(picked) <= set(OPTIONS[field]) and len(picked) == len(set(picked))


model_like = st.dictionaries(st.sampled_from(["summary", "themes", "avoid", "label", "weight", "evidence", "text",
                                              "mode", "rationale", "cluster"]),
                             st.one_of(scalars, json_values, st.lists(st.dictionaries(st.sampled_from(
                                 ["label", "weight", "evidence"]), json_values), max_size=3)), max_size=5)


@settings(max_examples=100, deadline=None)
@given(raw=st.one_of(model_like, model_like.map(json.dumps), st.text(max_size=80), json_values))
def test_profile_json_raises_only_validation_error(raw):
    for model in (InterestProfile, ExploreQuery):
        try:
            value = model.model_validate_json(raw) if isinstance(raw, str) else model.model_validate(raw)
        except ValidationError:
            continue
        assert model.model_validate_json(value.model_dump_json()) == value


profile_dict = st.fixed_dictionaries({
    "summary": st.text(max_size=200),
    "themes": st.lists(st.fixed_dictionaries({"label": clean_text(30), "weight": st.floats(0, 1),
                                              "evidence": st.lists(st.sampled_from(sorted(CATALOG.items)), max_size=3)}),
                       max_size=4),
    "avoid": st.one_of(st.lists(st.text(max_size=12), max_size=4), st.text(max_size=12))})


@FAST
@given(data=profile_dict)
def test_valid_profiles_round_trip_and_a_single_avoid_word_stays_a_word(data):
    profile = InterestProfile.model_validate(data)
    assert InterestProfile.model_validate_json(profile.model_dump_json()) == profile
    if isinstance(data["avoid"], str) and data["avoid"].strip():
        assert profile.avoid == (data["avoid"].strip().lower(),)


class ScriptedFakeLLM:
    """A fake on purpose: hypothesis picks arbitrary model outputs, which a real model cannot be made to
    produce. Answers every structured call with one fixed object."""

    model_id = "scripted-fake"

    def __init__(self, choice, text="a calm and thoughtful taste."):
        self.choice, self.text = choice, text

    def choose(self, messages, schema, max_new_tokens=None):
        return self.choice

    def generate(self, messages, max_new_tokens=None):
        return self.text

    def stream(self, messages, max_new_tokens=None):
        yield self.text


PLAN_PROMPT = select_prompt(SETTINGS.prompts_dir, "plan")
THEMES_PROMPT = select_prompt(SETTINGS.prompts_dir, "profile_themes")
SUMMARY_PROMPT = select_prompt(SETTINGS.prompts_dir, "profile_summary")
SCIFI = History.of([Rating(item_id="film-arrival-2016", rating=5.0), Rating(item_id="book-dune-1965", rating=4.5),
                    Rating(item_id="film-interstellar-2014", rating=4.5), Rating(item_id="film-the-shining-1980", rating=1.0)])
PROFILE = ProfileBuilder(CATALOG).build(SCIFI).value


@FAST
@given(choice=model_output)
def test_plan_from_any_model_output_validates_scripted_llm(choice):
    planner = Planner(CATALOG, ScriptedFakeLLM(choice), PLAN_PROMPT)
    outcome = planner.plan(PROFILE, explore=0.75)
    fallback = Planner(CATALOG).plan(PROFILE, explore=0.75)
    assert 1 <= len(outcome.value) <= 6
    assert [q.mode for q in outcome.value] == [q.mode for q in fallback.value]  # the knob's mix holds
    for query in outcome.value:
        assert ExploreQuery.model_validate_json(query.model_dump_json()) == query
    assert outcome.served_by == "llm" or any("option choice failed" in n for n in outcome.notes)


@FAST
@given(choice=model_output)
def test_profile_from_any_model_output_validates_scripted_llm(choice):
    outcome = ProfileBuilder(CATALOG, ScriptedFakeLLM(choice), THEMES_PROMPT, SUMMARY_PROMPT).build(SCIFI)
    tags = {t for r in SCIFI.liked for t in CATALOG[r.item_id].tags}
    assert 2 <= len(outcome.value.themes) <= 4 and {t.label for t in outcome.value.themes} <= tags
    assert InterestProfile.model_validate_json(outcome.value.model_dump_json()) == outcome.value
    if outcome.served_by == "fallback":
        assert outcome.notes


@pytest.mark.parametrize("raw, error", [("{\"nearby\": [", "not JSON"), ("[1, 2]", "JSON object"),
                                        ({"nearby": "jazz"}, "must be a list"), (b"\xff", "not JSON")])
def test_parse_choices_says_what_is_wrong(raw, error):
    with pytest.raises(ModelOutputError, match=error):
        parse_choices(raw, OPTIONS)
