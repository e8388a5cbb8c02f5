"""The second way for the LLM's words (explorer/pipeline/compose.py): it chooses what to say under a schema and the
sentence is composed around its choice. Pinned here: a composed sentence states only facts of the item and its
cited history, whatever the model picks; the policy serves free text, then the composition, then the template,
deterministically, and says which path served; a junk summary is never shown."""

from __future__ import annotations

import itertools

import pytest

from explorer.catalog import History, Rating, load_catalog
from explorer.catalog.histories import load_personas
from explorer.config import ExplainConfig, PROJECT_ROOT, ProfileConfig, Settings
from explorer.pipeline.claims import check_explanation, explanation_facts
from explorer.pipeline.compose import (compose_explanation, compose_summary, explanation_options, favourite_options,
                                       template_facts)
from explorer.pipeline.explain import Explainer, template_explanation
from explorer.pipeline.grounding import foreign_titles, item_facts, summary_junk
from explorer.pipeline.profile import ProfileBuilder
from explorer.pipeline.prompts import select_prompt
from explorer.pipeline.values import ExploreQuery
from explorer.testing import ScriptedLLM
from tests.tiers import needs

SETTINGS = Settings()
CATALOG = load_catalog(SETTINGS.catalog)
PERSONAS = load_personas(PROJECT_ROOT / "data" / "personas.jsonl", CATALOG)
CHOICE = select_prompt(SETTINGS.prompts_dir, "explain_choice")
PROFILE_CHOICE = select_prompt(SETTINGS.prompts_dir, "profile_choice")
QUERY = ExploreQuery(text="science fiction, puzzle, rpg", mode="deepen")


def persona_jobs(per_persona: int = 6):
    """(item, cited history items) for every persona: catalogue items sharing a tag with two liked items, and a
    few sharing none (the composition's other template)."""
    jobs = []
    for persona in PERSONAS.values():
        liked = [CATALOG[r.item_id] for r in persona.history if (r.rating or 0) >= 4][:2]
        seen = {r.item_id for r in persona.history}
        near = [i for i in CATALOG.items.values() if i.id not in seen and set(i.tags) & {t for e in liked for t in e.tags}]
        far = [i for i in CATALOG.items.values() if i.id not in seen and not set(i.tags) & {t for e in liked for t in e.tags}]
        jobs += [(item, liked) for item in near[:per_persona] + far[:2]]
    return jobs


def test_every_choice_the_model_could_make_composes_a_sentence_of_the_item_and_history_facts_only():
    """Each (link, adds) the schema allows, for items beside every persona's history: the sentence names no other
    catalogue item, every claim in it traces to the facts (the claims check, the template's words counted as
    ours), and each slot is filled with a tag of the item (shared ones also of the cited history item) or a title
    of the item or the cited history."""
    jobs = persona_jobs()
    assert len(jobs) >= 40
    composed = 0
    for item, evidence in jobs:
        options = explanation_options(item, evidence)
        adds_choices = [list(c) for n in (1, 2) for c in itertools.combinations(options.adds, n)] or [[]]
        for link, adds in itertools.product(options.links, adds_choices):
            shared, history = options.links[link]
            assert history in evidence and all(t in item.tags and t not in sum((e.tags for e in evidence), ()) for t in adds)
            assert shared is None or (shared in item.tags and shared in history.tags)
            try:
                text = compose_explanation(CHOICE, item, QUERY, options, link, adds)
            except ValueError:  # nothing in common and nothing new: the template serves
                assert shared is None and not adds
                continue
            composed += 1
            facts = template_facts(CHOICE, explanation_facts(item, evidence, QUERY.text))
            assert check_explanation(text, "", facts) == [], text
            allowed = {item.id, *(e.id for e in evidence)}
            assert foreign_titles(text, CATALOG, allowed, item_facts(item, QUERY.text)) == [], text
            assert item.title in text and history.title in text
    assert composed >= 100


def explainer(llm, policy: str = "both") -> Explainer:
    return Explainer.from_config(ExplainConfig(policy=policy), CATALOG, llm, SETTINGS.prompts_dir, {})


JOB = (CATALOG["game-bioshock-2007"], [CATALOG["game-outer-wilds-2019"]], QUERY)
INVENTED = " which is also related to your personal journey with child adoption."
PLAIN = " and dystopia."  # a tag of BioShock: passes the claims check


def test_scripted_free_text_that_passes_is_served_as_the_llms_own():
    """Scripted stand-in for the model (the test is about the policy, not the model)."""
    result = explainer(ScriptedLLM(text=PLAIN)).explain_all([JOB])[0]
    assert result.served_by == "llm" and result.value.endswith("and dystopia.")


def test_scripted_free_text_that_fails_the_check_gives_way_to_the_composed_choice():
    """Scripted stand-in: the invented claim is refused; the model's choice (its first options) is composed."""
    llm = ScriptedLLM(text=INVENTED, choice={"link": "science fiction, as in Outer Wilds", "adds": ["dystopia"]})
    result = explainer(llm).explain_all([JOB])[0]
    assert result.served_by == "composed"
    assert result.value.startswith("Like Outer Wilds, which you enjoyed, BioShock is tagged science fiction, and it "
                                   "adds dystopia.")
    assert "adoption" not in result.value
    assert any("was not used" in n for n in result.notes)  # why the free sentence was not used is still said


def test_scripted_choice_outside_the_options_falls_back_to_the_template():
    """Scripted stand-in: a choice of no offered option (schema-valid JSON from a lax backend) serves nothing."""
    llm = ScriptedLLM(text=INVENTED, choice={"link": "horror, as in The Shining", "adds": ["romance"]})
    result = explainer(llm).explain_all([JOB])[0]
    assert result.served_by == "fallback" and result.value == template_explanation(*JOB)
    assert any("choice failed" in n for n in result.notes)


def test_scripted_failed_generation_falls_back_deterministically_and_says_so():
    """Scripted stand-in that raises on every call: each item keeps its template, the same every time, and its
    notes say both ways failed."""
    jobs = [JOB, (CATALOG["film-arrival-2016"], [CATALOG["book-dune-1965"]], QUERY)]
    first = explainer(ScriptedLLM(error=TimeoutError("deadline"))).explain_all(jobs)
    again = explainer(ScriptedLLM(error=TimeoutError("deadline"))).explain_all(jobs)
    assert [r.served_by for r in first] == ["fallback", "fallback"]
    assert [r.value for r in first] == [r.value for r in again] == [template_explanation(*j) for j in jobs]
    for r in first:
        assert any("generation failed" in n for n in r.notes) and any("choice failed" in n for n in r.notes)


@pytest.mark.parametrize("policy, served", [("free", "fallback"), ("choice", "composed"), ("both", "composed")])
def test_scripted_policy_decides_which_ways_are_tried(policy, served):
    """Scripted stand-in: "free" never asks for a choice, "choice" never generates free text."""
    llm = ScriptedLLM(text=INVENTED, choice={"link": "science fiction, as in Outer Wilds", "adds": ["dystopia"]})
    result = explainer(llm, policy).explain_all([JOB])[0]
    assert result.served_by == served
    kinds = {kind for kind, _ in llm.calls}
    assert kinds == {"free": {"generate"}, "choice": {"choose"}, "both": {"generate", "choose"}}[policy]


MAYA = PERSONAS["maya"]
JUNK = [
    "You enjoy : Science fiction, comedy; 1 more. They disliked: Harry and Sally...",  # seen served on main
    "You enjoy **short**, with an emphasis on \"the\" to create contrast between what they dislike (\"nothing\").",
    "You enjoy : 1. The House Bunny (comedy); 2.",
    "You enjoy science fiction. Their favourites are Arrival and Dune.",
]


@pytest.mark.parametrize("text", JUNK)
def test_a_junk_summary_is_refused_even_when_it_states_nothing_false(text):
    assert summary_junk(text, "You enjoy")


def test_plain_summaries_are_not_junk():
    for text in ("You enjoy science fiction and philosophy, as in Arrival and Outer Wilds. You tend to skip romance.",
                 "You enjoy slow, thoughtful science fiction, like Arrival."):
        assert summary_junk(text, "You enjoy") is None, text


def builder(llm, policy: str = "both") -> ProfileBuilder:
    return ProfileBuilder.from_config(ProfileConfig(policy=policy), CATALOG, llm, SETTINGS.prompts_dir, {})


def test_scripted_junk_summary_gives_way_to_one_composed_from_the_models_choice():
    """Scripted stand-in: the free summary is the junk seen on main; the composed one names only the chosen themes,
    liked titles the model picked and a tag only their dislikes carry."""
    history = History.of(MAYA.history)
    llm = ScriptedLLM(text=" : Science fiction, comedy; 1 more. They disliked: Harry and Sally...",
                      choice=[{"themes": ["science fiction", "philosophy"]},
                              {"favourites": ["Arrival", "Outer Wilds"], "skip": "horror"}])
    result = builder(llm).build(history)
    assert result.served_by == "composed", result.notes
    assert result.value.summary == "You enjoy science fiction and philosophy, as in Arrival and Outer Wilds. " \
                                   "You tend to skip horror."
    assert any("summary rejected" in n for n in result.notes)


def test_scripted_summary_choice_failing_falls_back_to_the_tag_summary():
    """Scripted stand-in: themes chosen, then every call fails: the deterministic summary serves."""
    history = History.of(MAYA.history)
    llm = ScriptedLLM(text=" : 1 more.", choice=[{"themes": ["science fiction", "philosophy"]}, {"favourites": []}])
    result = builder(llm).build(history)
    assert result.served_by == "fallback" and result.value.summary.startswith("You enjoy science fiction")


def test_a_composed_summary_states_only_the_history():
    liked = [CATALOG[r.item_id] for r in MAYA.history if (r.rating or 0) >= 4]
    text = compose_summary(PROFILE_CHOICE, ["science fiction", "philosophy"], favourite_options(liked)[:2], ["horror"])
    b = builder(None)
    assert b.summary_problem(text, "", History.of(MAYA.history), ["science fiction", "philosophy"], composed=True) is None


@pytest.fixture(scope="module")
@needs("llm")
def real_llm():
    from explorer.llm import load_backend
    from explorer.resources import load_once

    return load_once(("llm", SETTINGS.llm.model_dump_json()), lambda: load_backend(SETTINGS.llm))


def test_the_real_model_serves_every_item_by_a_named_path_and_composed_ones_pass_the_check(real_llm):
    jobs = [(item, evidence, QUERY) for item, evidence in persona_jobs(2)[:12]]
    results = explainer(real_llm).explain_all(jobs)
    assert {r.served_by for r in results} <= {"llm", "composed", "fallback"}
    assert sum(r.served_by != "fallback" for r in results) >= len(jobs) // 2
    for (item, evidence, query), r in zip(jobs, results):
        if r.served_by == "composed":
            facts = template_facts(CHOICE, explanation_facts(item, evidence, query.text))
            assert check_explanation(r.value, "", facts) == [] and item.title in r.value
