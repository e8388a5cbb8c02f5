"""The LLM backends on the same embedded GGUF: CTranslate2 (the default), transformers, llama.cpp in process, and an
OpenAI-compatible server (a real `python -m llama_cpp.server` on loopback, started and stopped here).

The llama.cpp ones need the optional install (`pip install -r requirements-llamacpp.txt`; `make test` does it);
without it they are skipped with that command as the reason.
"""

from __future__ import annotations

import subprocess
import sys

import jsonschema
import pytest

from explorer.catalog import History, Rating, load_catalog
from explorer.config import LLMSettings, Settings
from explorer.errors import BackendUnavailableError
from explorer.llm import load_backend
from explorer.llm.remote import without_restated_prefix
from explorer.pipeline.plan import Planner
from explorer.tools.processes import free_port, stop_process, wait_until_serving
from explorer.pipeline.profile import ProfileBuilder
from explorer.pipeline.prompts import select_prompt
from tests.test_end_to_end import assert_grounded
from tests.tiers import needs

SETTINGS = Settings()
CATALOG = load_catalog(SETTINGS.catalog)
SCIFI = History.of([Rating(item_id="film-arrival-2016", rating=5.0), Rating(item_id="book-dune-1965", rating=4.5),
                    Rating(item_id="film-interstellar-2014", rating=4.5), Rating(item_id="film-the-shining-1980", rating=1.0)])
NEEDS_LLAMACPP = "llama-cpp-python is not installed: pip install -r requirements-llamacpp.txt"
# A continuation with one right answer: the model must carry on from the prefix, not restate it.
COUNTING = [{"role": "user", "content": "Count from one to ten in words, separated by commas."},
            {"role": "assistant", "content": "one, two, three, four,"}]


@pytest.fixture(scope="session")
def ctranslate2_llm(llm_settings):
    """The default backend, under the same key the Explorer uses, so it is loaded once per session."""
    from explorer.resources import load_once

    settings = llm_settings.model_copy(update={"backend": "ctranslate2"})
    return load_once(("llm", settings.model_dump_json()), lambda: load_backend(settings))


@pytest.fixture(scope="session")
@needs("llm")
def llamacpp_llm():
    pytest.importorskip("llama_cpp", reason=NEEDS_LLAMACPP)
    from explorer.resources import load_once

    settings = LLMSettings(backend="llamacpp")
    return load_once(("llm", settings.model_dump_json()), lambda: load_backend(settings))


@pytest.fixture(scope="session")
@needs("system", "llm")
def llama_server(tmp_path_factory):
    """`python -m llama_cpp.server` serving the embedded GGUF on a free loopback port; its base URL."""
    pytest.importorskip("llama_cpp.server.app", reason=NEEDS_LLAMACPP)
    from explorer.llm.llamacpp import gguf_path

    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"  # a file: a pipe nobody reads would fill and stall it
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path(LLMSettings())), "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "2048", "--verbose", "False"],
            stdout=sink, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        try:
            wait_until_serving(f"{base_url}/models", 90, process)
        except (RuntimeError, TimeoutError) as exc:
            pytest.fail(f"llama_cpp.server: {exc}: {log.read_text(errors='replace')[-2000:]}")
        yield base_url
    finally:
        stop_process(process, grace_s=15)


@pytest.fixture(scope="session")
def remote_llm(llama_server):
    """The OpenAI-compatible backend against the loopback server, prefixes sent to its completions endpoint."""
    return load_backend(LLMSettings(backend="openai", base_url=llama_server, remote_prefix="completions"))


BACKEND_FIXTURES = {"ctranslate2": "ctranslate2_llm", "transformers": "transformers_llm", "llamacpp": "llamacpp_llm", "openai": "remote_llm"}


@pytest.fixture(params=["ctranslate2", "transformers", "llamacpp", pytest.param("openai", marks=pytest.mark.system)])
@needs("llm")
def backend(request):
    return request.getfixturevalue(BACKEND_FIXTURES[request.param])


@pytest.fixture(params=["ctranslate2", "llamacpp", pytest.param("openai", marks=pytest.mark.system)])
@needs("llm")
def streaming_backend(request):
    """The backends that stream from a separate decoder (CTranslate2 and llama.cpp in process, and its server)."""
    return request.getfixturevalue(BACKEND_FIXTURES[request.param])


class Recording:
    """The real backend, with each `choose` call's schema and answer kept so the test can check them."""

    def __init__(self, llm):
        self.llm, self.model_id, self.choices = llm, llm.model_id, []

    def generate(self, messages, max_new_tokens=None):
        return self.llm.generate(messages, max_new_tokens)

    def stream(self, messages, max_new_tokens=None):
        return self.llm.stream(messages, max_new_tokens)

    def choose(self, messages, schema, max_new_tokens=None):
        answer = self.llm.choose(messages, schema, max_new_tokens)
        self.choices.append((schema, answer))
        return answer


def test_the_planners_schema_is_met_on_every_backend(backend):
    """The same plan prompt and schema through each backend: one choice from enumerated options, and an empty
    one (maxItems 0, which llama.cpp's grammar converter enforces only because the planner spells out its items)."""
    profile = ProfileBuilder(CATALOG).build(SCIFI).value
    llm = Recording(backend)
    outcome = Planner(CATALOG, llm, select_prompt(SETTINGS.prompts_dir, "plan")).plan(profile, explore=0.25)
    assert outcome.served_by == "llm", outcome.notes
    (schema, answer), = llm.choices
    jsonschema.validate(answer, schema)
    assert len(answer["nearby"]) == 1 and answer["new"] == []


def test_streamed_chunks_join_to_the_generated_text(streaming_backend):
    llm = streaming_backend
    messages = [{"role": "user", "content": "Describe a rainy afternoon in a small harbour town."}]
    chunks = list(llm.stream(messages, 40))
    assert len(chunks) >= 5 and all(isinstance(c, str) and c for c in chunks)
    assert "".join(chunks) == llm.generate(messages, 40)  # greedy: the same text, whether streamed or not


def test_an_assistant_prefix_is_continued_not_repeated(backend):
    text = backend.generate(COUNTING, 12)
    assert "five" in text.lower(), text
    assert "one, two" not in text.lower(), text


def test_a_restated_prefix_is_cut_from_a_chat_answer():
    """For servers that start a new turn instead of continuing (remote_prefix = "chat")."""
    chunks = ["  Because you", " enjoyed Dune,", " you may like Arrival."]
    assert "".join(without_restated_prefix(iter(chunks), "Because you enjoyed Dune,")) == " you may like Arrival."
    fresh = ["It is", " a quiet film."]
    assert "".join(without_restated_prefix(iter(fresh), "Because you enjoyed Dune,")) == "It is a quiet film."
    assert "".join(without_restated_prefix(iter(["Because"]), "Because you")) == ""  # nothing but a restatement
    assert "".join(without_restated_prefix(iter(["One, Two,", " Three"]), "one, two,")) == " Three"  # any case


def test_chat_mode_against_the_server_does_not_restate_the_prefix(llama_server):
    llm = load_backend(LLMSettings(backend="openai", base_url=llama_server, remote_prefix="chat"))
    text = llm.generate(COUNTING, 24)  # this model restates the prefix in a new turn: only the rest is kept
    assert not text.lstrip().lower().startswith("one, two"), text



def test_the_remote_backend_never_sends_openai_api_key_nor_shows_credentials(monkeypatch):
    """$OPENAI_API_KEY is meant for OpenAI; a key for another server is only ever llm.api_key."""
    from explorer.llm.remote import RemoteBackend

    monkeypatch.setenv("OPENAI_API_KEY", "sk-meant-for-openai")
    backend = RemoteBackend(LLMSettings(backend="openai", base_url="http://alice:s3cret@127.0.0.1:9/v1"))
    assert backend.client.api_key == "unused"
    assert "s3cret" not in backend.model_id and "alice" not in backend.model_id
    keyed = RemoteBackend(LLMSettings(backend="openai", base_url="http://127.0.0.1:9/v1", api_key="k-1"))
    assert keyed.client.api_key == "k-1" and "k-1" not in repr(keyed.settings)

def test_auto_takes_llamacpp_for_the_embedded_gguf(llamacpp_llm):
    from explorer.llm.llamacpp import LlamaCppBackend

    llm = load_backend(LLMSettings(backend="auto", n_ctx=512))
    assert isinstance(getattr(llm, "backend", llm), LlamaCppBackend)  # unwrapped from its time limit (llm_guard)


def test_missing_llamacpp_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # what an install without the extra looks like
    with pytest.raises(BackendUnavailableError, match="pip install -r requirements-llamacpp.txt"):
        load_backend(LLMSettings(backend="llamacpp"))


def test_remote_backend_without_an_address_says_which_setting():
    with pytest.raises(BackendUnavailableError, match="llm.base_url"):
        load_backend(LLMSettings(backend="openai"))


def test_a_server_that_is_down_leaves_every_step_on_its_fallback(data_dir, explorer_fallback):
    """The session's index (built by explorer_fallback) with an LLM server that is not there."""
    from explorer import Explorer

    closed = free_port()  # nothing listens there once the probe socket is closed
    ex = Explorer(Settings(data_dir=data_dir, llm={"backend": "openai", "base_url": f"http://127.0.0.1:{closed}/v1"}))
    history = ex.persona("Maya")
    result = ex.recommend(history, k=3, explore=0.5)
    assert_grounded(result, history, ex.catalog, 3)
    assert result.served_by.model_dump() == {"profile": "fallback", "plan": "fallback", "explain": "fallback"}
    assert any(n.startswith("plan:") and f"cannot reach the LLM server at http://127.0.0.1:{closed}/v1" in n
               for n in result.notes), result.notes


@pytest.mark.slow
def test_llamacpp_recommendations_are_grounded(data_dir, llamacpp_llm):
    from explorer import Explorer

    ex = Explorer(Settings(data_dir=data_dir, llm={"backend": "llamacpp"}))
    assert ex.llm is llamacpp_llm  # the session's model, not a second copy
    history = ex.persona("Maya")
    result = ex.recommend(history, k=4, explore=0.5)
    assert_grounded(result, history, ex.catalog, 4)
    assert result.served_by.plan == "llm"


# ---------------------------------------------------------------- CTranslate2, the default

def test_the_ctranslate2_copy_is_converted_once_and_kept_whole(ctranslate2_llm):
    from explorer.llm.ctranslate2_backend import converted_ct2_dir

    target, _, _ = converted_ct2_dir(LLMSettings())
    assert ctranslate2_llm.path == target and (target / "model.bin").is_file()
    assert (target / "tokenizer_config.json").is_file()  # its tokenizer travels with it: no GGUF read at start
    assert not list(target.parent.glob(f"{target.name}.partial-*"))  # written aside, then renamed


def test_a_batch_answers_each_chat_as_it_would_be_answered_alone(ctranslate2_llm):
    """Greedy decoding, batched with other chats (the explanations of an answer, or several sessions' calls
    gathered by the backend's queue), gives each chat an answer of its own, the same as asked alone."""
    import threading

    chats = [[{"role": "user", "content": f"Name one {thing}."}] for thing in ("colour", "fruit", "planet")]
    alone = [ctranslate2_llm.generate(c, 12) for c in chats]
    assert len(set(alone)) == 3 and all(alone)
    assert ctranslate2_llm.generate_batch(chats, 12) == alone
    answers = [None] * 3

    def ask(i):
        answers[i] = ctranslate2_llm.generate(chats[i], 12)
    threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == alone


def test_ctranslate2_scores_a_choice_within_its_schema(ctranslate2_llm):
    options = ["science fiction", "romance", "horror", "comedy"]
    schema = {"type": "object", "required": ["themes"], "properties": {"themes": {
        "type": "array", "items": {"type": "string", "enum": options}, "minItems": 2, "maxItems": 3}}}
    messages = [{"role": "user", "content": "They loved Arrival, Dune and Interstellar. Which themes fit? "
                                            f"Options: {', '.join(options)}."}]
    answer = ctranslate2_llm.choose(messages, schema)
    jsonschema.validate(answer, schema)
    assert answer["themes"][0] == "science fiction", answer


def test_rows_are_batched_only_with_prompts_of_near_equal_length():
    """CTranslate2 forces the tail of each longer prompt token by token through the whole batch, so the
    backend sorts rows by prompt length and batches only runs within BATCH_SPREAD tokens of their shortest."""
    from explorer.llm.ctranslate2_backend import length_groups

    lengths = [124, 144, 131, 124, 132, 127]
    groups = length_groups(lengths, 4)
    assert groups == [[0, 3, 5], [2, 4], [1]]
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    assert all(max(lengths[i] for i in g) - min(lengths[i] for i in g) <= 4 for g in groups)
    assert length_groups(lengths, -1) == [[0], [3], [5], [2], [4], [1]]  # a negative spread: every row alone
    assert length_groups([], 4) == []


def test_the_explanation_and_summary_choice_schemas_are_met_on_every_backend(backend):
    """The composition's choices (explorer/pipeline/compose.py) through each backend: a single enumerated string
    and an array of them for an explanation, an array and a string for a summary; the answer is valid and only
    offered options come back."""
    from explorer.pipeline.compose import (explanation_options, explanation_schema, favourite_options,
                                           summary_schema)

    item, evidence = CATALOG["game-bioshock-2007"], [CATALOG["game-outer-wilds-2019"]]
    options = explanation_options(item, evidence)
    prompt = select_prompt(SETTINGS.prompts_dir, "explain_choice")
    values = {"evidence": evidence[0].title, "item": item.title, "kind": item.kind, "year": item.year,
              "tags": ", ".join(item.tags), "description": item.description, "links": "; ".join(options.links),
              "adds": ", ".join(options.adds)}
    schema = explanation_schema(options)
    answer = backend.choose(prompt.messages(**values), schema, 60)
    jsonschema.validate(answer, schema)
    liked = [CATALOG["film-arrival-2016"], CATALOG["book-dune-1965"], CATALOG["game-outer-wilds-2019"]]
    schema = summary_schema(favourite_options(liked), ["horror", "romance"])
    summary_prompt = select_prompt(SETTINGS.prompts_dir, "profile_choice")
    answer = backend.choose(summary_prompt.messages(liked="Arrival; Dune; Outer Wilds", themes="science fiction",
                                                    disliked="The Shining", skip_hint=""), schema, 60)
    jsonschema.validate(answer, schema)
