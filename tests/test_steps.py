"""Each step on its own: fallbacks, validation, and what happens when the LLM misbehaves.

Tests named *scripted_llm* use a scripted stand-in for the LLM, on purpose: they pin how a step reacts to
output the real model produces only sometimes (garbage, invented names, exceptions). The real model runs
in test_end_to_end.py.
"""

import numpy as np
import pytest

from explorer.catalog import Catalog, History, Item, Rating, load_catalog
from explorer.config import Settings
from explorer.pipeline.explain import Explainer, template_explanation
from explorer.pipeline.claims import Facts, unsupported_claims
from explorer.pipeline.grounding import first_sentences, foreign_titles, looks_degenerate
from explorer.pipeline.plan import Planner
from explorer.pipeline.profile import ProfileBuilder, tag_stats
from explorer.pipeline.prompts import prompts_for_step, select_prompt
from explorer.pipeline.rank import lane_weights, lanes_for, rank
from explorer.pipeline.values import Candidate, ExploreQuery, InterestProfile
from explorer.testing import ScriptedLLM

SETTINGS = Settings()
CATALOG = load_catalog(SETTINGS.catalog)
SCIFI = History.of([Rating(item_id="film-arrival-2016", rating=5.0), Rating(item_id="book-dune-1965", rating=4.5),
                    Rating(item_id="film-interstellar-2014", rating=4.5), Rating(item_id="film-the-shining-1980", rating=1.0)])


def prompt(step):
    return select_prompt(SETTINGS.prompts_dir, step)


def test_every_prompt_file_loads_and_has_a_step():
    for step in ("profile_themes", "profile_summary", "plan", "explain"):
        assert step in prompts_for_step(SETTINGS.prompts_dir, step)
    assert "explain_brief" in prompts_for_step(SETTINGS.prompts_dir, "explain")
    assert prompt("explain").opening(evidence_first="Arrival", query="space").startswith("Because you enjoyed Arrival")


def test_fallback_profile_is_grounded_in_the_history():
    outcome = ProfileBuilder(CATALOG).build(SCIFI)
    profile = outcome.value
    assert outcome.served_by == "fallback" and 2 <= len(profile.themes) <= 4
    assert "science fiction" in [t.label for t in profile.themes]
    for theme in profile.themes:
        assert theme.evidence and set(theme.evidence) <= set(SCIFI.item_ids)
        assert "film-the-shining-1980" not in theme.evidence  # a dislike is never evidence of a liking
    assert "horror" in profile.avoid
    assert abs(sum(t.weight for t in profile.themes) - 1.0) < 0.01


def test_profile_with_scripted_llm_keeps_valid_choices_and_rejects_invented_names():
    options = tag_stats(SCIFI, CATALOG).top(8)
    llm = ScriptedLLM(text="science fiction, as told by Captain Zorblax.", choice={"themes": [options[1], options[0]]})
    outcome = ProfileBuilder(CATALOG, llm, prompt("profile_themes"), prompt("profile_summary")).build(SCIFI)
    assert [t.label for t in outcome.value.themes] == [options[1], options[0]]
    assert outcome.served_by == "fallback"  # the summary named what the history does not
    assert any("zorblax" in n.lower() for n in outcome.notes), outcome.notes


def test_profile_with_scripted_llm_that_raises_falls_back():
    llm = ScriptedLLM(error=RuntimeError("out of memory"))
    outcome = ProfileBuilder(CATALOG, llm, prompt("profile_themes"), prompt("profile_summary")).build(SCIFI)
    assert outcome.served_by == "fallback" and outcome.value.themes
    assert any("out of memory" in n for n in outcome.notes)


@pytest.mark.parametrize("explore, n_deepen", [(0.0, 4), (0.5, 2), (1.0, 0)])
def test_explore_knob_sets_the_mix(explore, n_deepen):
    profile = ProfileBuilder(CATALOG).build(SCIFI).value
    queries = Planner(CATALOG, n_queries=4).plan(profile, explore).value
    assert len(queries) == 4
    assert sum(q.mode == "deepen" for q in queries) == n_deepen
    assert len({q.text for q in queries}) == len(queries)


def test_plan_never_explores_what_the_profile_avoids():
    profile = ProfileBuilder(CATALOG).build(SCIFI).value.model_copy(update={"avoid": ("horror", "comedy")})
    for q in Planner(CATALOG, n_queries=6).plan(profile, 1.0).value:
        assert "horror" not in q.text and "comedy" not in q.text


def test_plan_with_scripted_llm_outside_the_options_is_topped_up():
    profile = ProfileBuilder(CATALOG).build(SCIFI).value
    llm = ScriptedLLM(choice={"nearby": ["pirates of nowhere", "pirates of nowhere"], "new": []})
    outcome = Planner(CATALOG, llm, prompt("plan"), 4).plan(profile, 0.5)
    assert outcome.served_by == "llm"
    assert all("pirates" not in q.text for q in outcome.value)
    assert [q.mode for q in outcome.value].count("adjacent") == 1


def test_rank_drops_avoided_items_and_diversifies():
    ids = ["film-arrival-2016", "film-the-shining-1980", "book-dune-1965", "film-dune-2021"]
    vec = {i: np.eye(4, dtype=np.float32)[n] for n, i in enumerate(ids)}
    vec["film-dune-2021"] = vec["book-dune-1965"]  # two copies of the same idea
    cands = [Candidate(item_id=i, query=0, score=s) for i, s in zip(ids, [0.9, 0.95, 0.8, 0.79])]
    ranked = rank(cands, InterestProfile(avoid=("horror",)), CATALOG, vec, k=3, mmr_lambda=0.5)
    order = [c.item_id for c, _ in ranked]
    assert "film-the-shining-1980" not in order
    assert order[:2] == ["film-arrival-2016", "book-dune-1965"]


def test_rank_lets_queries_take_turns():
    cands = [Candidate(item_id=i, query=q, score=s) for i, q, s in
             [("film-arrival-2016", 0, 0.9), ("book-dune-1965", 0, 0.85), ("film-dune-2021", 1, 0.3)]]
    ranked = rank(cands, InterestProfile(), CATALOG, {}, k=2)
    assert {c.query for c, _ in ranked} == {0, 1}


def test_template_explanation_cites_history_and_query():
    item, query = CATALOG["film-dune-2021"], ExploreQuery(text="desert politics", mode="deepen")
    text = template_explanation(item, [CATALOG["book-dune-1965"]], query)
    assert "Dune" in text and "desert politics" in text and not foreign_titles(text, CATALOG, {item.id, "book-dune-1965"})


def test_explain_with_scripted_llm_naming_another_work_falls_back():
    item, evidence = CATALOG["film-dune-2021"], [CATALOG["book-dune-1965"]]
    query = ExploreQuery(text="desert politics", mode="deepen")
    llm = ScriptedLLM(text="it is much like Blade Runner and Interstellar in tone.")
    result = Explainer(CATALOG, llm, prompt("explain")).explain(item, evidence, query)
    assert result.served_by == "fallback" and "not used" in result.notes[0]
    good = Explainer(CATALOG, ScriptedLLM(text="this film shares its desert politics and its epic adventure."),
                     prompt("explain")).explain(item, evidence, query)
    assert good.served_by == "llm" and good.value.startswith("Because you enjoyed Dune and you are exploring desert politics,")


def test_explain_with_scripted_llm_that_raises_falls_back():
    item, evidence = CATALOG["film-dune-2021"], [CATALOG["book-dune-1965"]]
    result = Explainer(CATALOG, ScriptedLLM(error=TimeoutError("slow")), prompt("explain")).explain(
        item, evidence, ExploreQuery(text="x y", mode="novel"))
    assert result.served_by == "fallback" and "TimeoutError" in result.notes[0] and "Dune" in result.value


def test_grounding_helpers_on_hand_made_cases():
    assert foreign_titles("reminds me of Blade Runner", CATALOG, set()) == ["Blade Runner"]
    assert foreign_titles("reminds me of Blade Runner", CATALOG, {"film-blade-runner-1982"}) == []
    assert looks_degenerate("1.1.1.1.1.1.1.1") and looks_degenerate("the the the the the the")
    assert looks_degenerate("A fine calm story about two sisters.") is None
    assert unsupported_claims("It stars Bob Smith.", Facts(about_item=["a film"])) == ["'stars' is in no fact", "'bob' is in no fact", "'smith' is in no fact"]
    assert first_sentences("One. Two! Three? half") == "One. Two!"


def test_deepen_queries_share_one_lane_and_lanes_keep_the_explore_mix():
    from explorer.pipeline.rank import lanes_for

    queries = [ExploreQuery(text="a b", mode="deepen"), ExploreQuery(text="c d", mode="deepen"),
               ExploreQuery(text="e f", mode="novel")]
    strong = ["film-arrival-2016", "book-dune-1965", "film-dune-2021", "film-interstellar-2014"]
    cands = [Candidate(item_id=i, query=0, score=0.9 - n / 100) for n, i in enumerate(strong)]
    cands += [Candidate(item_id="film-blade-runner-1982", query=1, score=0.1),
              Candidate(item_id="film-the-shining-1980", query=2, score=0.2),
              Candidate(item_id="book-the-shining-1977", query=2, score=0.19)]
    ranked = [c for c, _ in rank(cands, InterestProfile(), CATALOG, {}, k=3, mmr_lambda=1.0, lanes=lanes_for(queries))]
    # two deepen queries to one novel: two deepen slots, won by the strongest deepen candidates wherever they came from
    assert [c.item_id for c in ranked if c.query in (0, 1)] == ["film-arrival-2016", "book-dune-1965"]
    assert [c.item_id for c in ranked if c.query == 2] == ["film-the-shining-1980"]


def test_an_item_may_quote_its_own_description_without_a_grounding_violation():
    item = CATALOG["book-stories-of-your-life-and-others-2002"]
    text = template_explanation(item, [CATALOG["film-interstellar-2014"]], ExploreQuery(text="x y", mode="deepen"))
    from explorer.pipeline.grounding import item_facts
    assert "Arrival" in item.description
    assert foreign_titles(text, CATALOG, {item.id, "film-interstellar-2014"}, item_facts(item)) == []


def test_a_request_in_words_fills_at_least_half_the_list():
    """"Something funny" must not be one card of five: the requested lane is owed half the slots, the
    deepen and exploring lanes share the rest in their own proportion."""
    queries = [ExploreQuery(text="comedy, wit", mode="adjacent", rationale="You asked.", requested=True),
               ExploreQuery(text="space", mode="deepen"), ExploreQuery(text="war", mode="novel")]
    weights = lane_weights(queries, 0.3)
    assert weights[0] == 0.5 and abs(sum(weights.values()) - 1.0) < 1e-9
    assert weights["deepen"] > weights[2]  # explore 0.3 still favours the deepen lane among the rest
    cands = [Candidate(item_id=f"{q}-{n}", query=q, score=1.0 - n / 10) for q in range(3) for n in range(10)]
    catalog = Catalog({c.item_id: Item(id=c.item_id, title=c.item_id) for c in cands})
    ranked = rank(cands, InterestProfile(), catalog, {}, k=6, mmr_lambda=1.0, lanes=lanes_for(queries),
                  weights=weights)
    assert sum(c.query == 0 for c, _ in ranked) >= 3
    # without a request the same knob gives exploration its own share only
    plain = lane_weights([q.model_copy(update={"requested": False}) for q in queries], 0.3)
    assert plain[0] < 0.5
