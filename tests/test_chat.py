"""Multi-turn sessions, and message reading. The LLM is the scripted stand-in (explorer/testing.py): every
step takes its model path, deterministically and without a model; the model itself is tested elsewhere."""

import pytest

from explorer.chat.session import clean_message, read_intent
from explorer.chat import ChatSession


@pytest.fixture
def session(explorer_scripted):
    return ChatSession(explorer_scripted, explorer_scripted.persona("Raven"), k=5)


def answer(session, message):
    return "".join(session.send(message))


@pytest.mark.parametrize("message, kind, target", [
    ("", "recommend", None),
    ("why the third one?", "why", "why the third one?"),
    ("less horror please", "less", "horror"),
    ("More like Arrival!", "more_like", "Arrival"),
    ("surprise me", "surprise", None),
    ("something lighter", "request", "something lighter"),
])
def test_read_intent(message, kind, target):
    intent = read_intent(message)
    assert (intent.kind, intent.target) == (kind, target)


def test_clean_message_keeps_scripts_and_drops_control_characters():
    assert clean_message("héllo\x00 世界\x1b[31m") == "héllo 世界 [31m"
    assert len(clean_message("x" * 100_000)) == 500


def test_a_conversation_follows_feedback_and_steering(session, explorer_scripted):
    catalog = explorer_scripted.catalog
    text = answer(session, "")
    first = session.last.recommendations
    assert first[0].title in text and "(profile: composed" in text  # the stand-in served it (its choice), no fallback
    disliked = first[0].item_id
    session.feedback(disliked, liked=False)
    answer(session, "")
    assert disliked not in [r.item_id for r in session.last.recommendations]
    assert "horror" in [t.label for t in session.current_profile().themes]
    answer(session, "less horror")
    assert "horror" in session.current_profile().avoid
    assert all("horror" not in catalog[r.item_id].tags for r in session.last.recommendations)
    second = session.last.recommendations[1]
    why = answer(session, "why the second one?")
    assert second.title in why and second.query in why
    assert catalog[second.evidence[0]].title in why


def test_more_like_an_unknown_title_says_so(session):
    assert "could not find" in answer(session, "more like Nonexistent Film 3000")


def test_a_compound_message_takes_both_parts_in_the_catalogues_words(explorer_fallback):
    """"funny but clever, no horror" wants comedy and wit and avoids horror; the words are quoted as the person's,
    the query is made of catalogue tags only."""
    session = ChatSession(explorer_fallback, explorer_fallback.persona("Maya"), k=5)
    message = "I want something funny but clever, no horror please"
    text = answer(session, message)
    assert f'You asked for "{message}": I looked for comedy, wit.' in text and "Noted: less horror." in text
    assert "horror" in session.current_profile().avoid
    asked = session.last.queries[0]
    assert asked.text == "comedy, wit" and asked.rationale == f'You asked for "{message}".'
    tags = explorer_fallback.catalog.tag_counts()
    assert all(t in tags for q in session.last.queries for t in q.text.split(", ") if q is asked)
    catalog = explorer_fallback.catalog
    assert all("horror" not in catalog[r.item_id].tags for r in session.last.recommendations)
    assert any("comedy" in catalog[r.item_id].tags for r in session.last.recommendations)
    assert message not in [q.text for q in session.last.queries] and f"[adjacent: {message}]" not in text


def test_a_title_the_catalogue_lacks_is_said_and_never_becomes_a_query(session):
    text = answer(session, "Recommend 'Totally Real Movie 9000'.")
    assert 'I could not find "Totally Real Movie 9000" in the catalogue.' in text
    assert not any("Totally Real" in q.text or "Recommend" in q.text for q in session.last.queries)
    assert "[adjacent: Recommend" not in text and 'came up for "Recommend' not in text


def test_a_quoted_catalogue_title_steers_by_its_tags(session, explorer_fallback):
    answer(session, "something like 'Paddington 2' please")
    paddington = explorer_fallback.catalog["film-paddington-2-2017"]
    assert session.last.queries[0].text == ", ".join(paddington.tags[:2])


class ScriptedInventingLLM:
    """A scripted fake (the real model's own inventions are in tests/data/claims_audit.jsonl): it picks the first
    options and writes one claim no fact supports, so the test can pin what the reader sees when a sentence fails."""

    model_id = "scripted-inventing"

    def choose(self, messages, schema, max_new_tokens=None):
        return {name: (spec.get("items", {}).get("enum") or [])[: spec.get("minItems", 0)]
                for name, spec in schema["properties"].items()}

    def generate(self, messages, max_new_tokens=None):
        return " which is also related to your personal journey with child adoption."


def test_nothing_unchecked_reaches_the_reader_scripted_fake(explorer_fallback):
    """Every card comes first with its template reason; the explanation events follow, after all cards, and one
    that failed the check keeps the template: no draft, no retraction, no unsupported claim in the text."""
    from explorer.chat.session import ChatSession as Session
    from explorer.pipeline.explain import Explainer
    from explorer.pipeline.events import EventKind

    ex = explorer_fallback
    inventing = Explainer(ex.catalog, ScriptedInventingLLM(), ex.explainer.prompt)
    original, ex.explainer = ex.explainer, inventing
    try:
        session = Session(ex, ex.persona("Nina"), k=4)
        events = list(session.send_events(""))
    finally:
        ex.explainer = original
    kinds = [e.kind for e in events if e.kind in ("item", "explanation")]
    assert kinds == ["item"] * 4 + ["explanation"] * 4
    assert set(EventKind) == {"profile", "plan", "item", "explanation", "text", "result"}  # no token stream
    for e in events:
        if e.kind == "item":
            assert e.data.explanation.startswith("Because you enjoyed")  # the template, at once
        if e.kind == "explanation":
            assert e.data.served_by == "fallback" and "child adoption" not in e.data.value
            assert "not used" in e.data.notes[0] and "person" in e.data.notes[0]
    text = "".join(e.data for e in events if e.kind == "text")
    assert "child adoption" not in text and "failed the grounding check" not in text and "instead" not in text
