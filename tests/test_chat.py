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
    assert first[0].title in text and "profile: llm" in text  # the stand-in served it, no fallback
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
