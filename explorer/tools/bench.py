"""`python -m explorer.tools.bench` / `explorer bench`: speed and memory of the embedded default, each figure
a median over repeats and, where the machine decides it, a ratio against a reference measured in the same run.

The goals of the speed issue are checked at the end: each with its figure, its reference, the ratio and
whether it is met. `--sections` runs a part of it (the whole bench takes minutes on 2 cores). Issue 13's
figures (whole answer, first card, the browser, 16 sessions with the LLM on) in one line:

    .venv/bin/python -m explorer.tools.bench --sections answer,browser,load --repeats 2 --out docs/results
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from explorer.config import PROJECT_ROOT
from explorer.tools.processes import free_port, peak_rss_mb, stop_process, wait_until_serving

MOVIELENS = PROJECT_ROOT.parent / "shared" / "data" / "movielens-small"
PROMPT = [{"role": "system", "content": "You are a helpful assistant."},
          {"role": "user", "content": "Describe, in a short paragraph, why people enjoy slow science fiction films "
                                      "about first contact, language and memory."}]
SECTIONS = ("cold", "ingest", "query", "llm", "quality", "answer", "browser", "load", "pipeline", "llamacpp", "app")
BROWSER_MESSAGES = ["surprise me", "something funny but clever, no horror please"]


@dataclass
class Figure:
    figure: str
    value: float
    unit: str
    reference: float | None = None
    reference_name: str = ""
    goal: str = ""  # e.g. ">= 0.5x" (on the ratio) or "<= 3 s" (on the value)
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        return self.value / self.reference if self.reference else None


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _subprocess_seconds(code: str, repeats: int) -> float:
    """Median wall time of a fresh interpreter running `code` (cold start includes imports)."""
    def once():
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=PROJECT_ROOT, timeout=600)
    return _median_seconds(once, repeats)


def bench_command(
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Runs per figure; the median is reported.")] = 3,
    ingest_items: Annotated[int, typer.Option("--ingest-items", min=50, help="MovieLens movies to ingest.")] = 2000,
    sections: Annotated[str, typer.Option("--sections", help=f"Comma-separated parts to run: {','.join(SECTIONS)}.")]
        = ",".join(SECTIONS),
    decode_tokens: Annotated[int, typer.Option("--decode-tokens", min=8, help="Tokens per LLM decode run.")] = 150,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write bench.json here.")] = None,
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", envvar="EXPLORER_DATA_DIR")] = None,
):
    """Benchmark cold start, ingestion, Chroma queries, LLM speed against llama.cpp, pipeline latency,
    the web app's start-up and peak memory; check each goal of the speed issue."""
    chosen = {s.strip() for s in sections.split(",") if s.strip()}
    if unknown := chosen - set(SECTIONS):
        raise typer.BadParameter(f"unknown sections {sorted(unknown)}; choose from {','.join(SECTIONS)}")
    from explorer.config import Settings
    from explorer.facade import Explorer

    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))
    ex = Explorer(settings, progress=True)  # builds the demo index once, so the cold starts below find it built
    rows: list[Figure] = []
    if "cold" in chosen:
        rows += _cold_start(settings, repeats)
    if "ingest" in chosen:
        rows += _ingestion(ex, settings, ingest_items, repeats)
    if "query" in chosen:
        rows += _chroma_query(ex, repeats)
    if "llm" in chosen and ex.llm is not None:  # transformers against llama.cpp, whichever backend is configured
        rows += _llm_decode(_transformers_backend(ex, settings), repeats, decode_tokens)
    if "quality" in chosen and ex.llm is not None and hasattr(ex.llm, "model"):
        rows += _dtype_quality(ex, repeats + 1)
    if "answer" in chosen and ex.llm is not None:
        rows += _answer(ex, settings, repeats, decode_tokens)
    if "browser" in chosen:
        rows += _browser(ex, repeats)
    if "load" in chosen:
        rows += _load(settings, out)
    reference_rec = None
    if "pipeline" in chosen:
        pipeline = _pipeline(ex, repeats, settings.llm.backend)
        reference_rec = next((f.value for f in pipeline if f.figure.startswith("recommendation")), None)
        rows += pipeline
    if "llamacpp" in chosen:
        rows += _llamacpp_pipeline(settings, repeats, reference_rec)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(Figure("peak resident memory (this benchmark process)", peak_mb, "MB"))
    if "app" in chosen:
        rows += _app_start(settings, repeats, next(iter(ex.personas.values())).name)
    _report(rows, out, repeats, sorted(chosen, key=SECTIONS.index))


def _transformers_backend(ex, settings):
    """The configured LLM if it is the transformers backend, else the same model through transformers, loaded
    once per process (load_once) so every section shares it."""
    if hasattr(ex.llm, "model"):
        return ex.llm
    from explorer.llm import load_backend
    from explorer.resources import load_once

    llm_settings = settings.llm.model_copy(update={"backend": "transformers"})
    return load_once(("llm", llm_settings.model_dump_json()), lambda: load_backend(llm_settings))


# ------------------------------------------------------------------ sections
def _cold_start(settings, repeats: int) -> list[Figure]:
    """A fresh interpreter importing the package and building the default Explorer (index built)."""
    explorer_code = (f"from explorer import Explorer, Settings; from pathlib import Path; "
                     f"Explorer(Settings(data_dir=Path({str(settings.data_dir)!r})))")
    reference_code = ("import torch; from transformers import AutoModelForCausalLM as M; "
                      "from sentence_transformers import SentenceTransformer as S; "
                      "from explorer.config import *; d, f = resolve_llm_source(LLMSettings()); "
                      "M.from_pretrained(d, gguf_file=f, dtype=torch.float32); "
                      "S(resolve_embedder_source(EmbedSettings()), device='cpu')")
    cold, cold_ref = _subprocess_seconds(explorer_code, repeats), _subprocess_seconds(reference_code, repeats)
    return [Figure("cold start (import + models + open index)", cold, "s", cold_ref, "bare model loads from the GGUF")]


def _ingestion(ex, settings, ingest_items: int, repeats: int) -> list[Figure]:
    from explorer.catalog import Catalog, load_catalog
    from explorer.store.items import ItemStore, open_client

    source = load_catalog(MOVIELENS) if MOVIELENS.is_dir() else ex.catalog
    items = dict(list(source.items.items())[:ingest_items])
    subset = Catalog(items, name="bench")
    texts = [i.text_for_embedding() for i in items.values()]
    with tempfile.TemporaryDirectory() as tmp:
        def ingest():
            store = ItemStore(open_client(settings.store, Path(tempfile.mkdtemp(dir=tmp))), "bench-items")
            store.sync(subset, ex.embedder, progress=False)
        ingest_s = _median_seconds(ingest, repeats)
    encode_s = _median_seconds(lambda: ex.embedder.encode(texts), repeats)
    return [Figure(f"ingestion ({len(items)} {source.name} items)", len(items) / ingest_s, "items/s",
                   len(items) / encode_s, "raw sentence-transformers encode")]


def _chroma_query(ex, repeats: int) -> list[Figure]:
    import numpy as np

    ids, vectors = ex.item_embeddings()  # held in memory since start-up
    queries = vectors[np.random.default_rng(0).integers(0, len(vectors), 200)]
    q_s = _median_seconds(lambda: [ex.store.query(q, 10) for q in queries], repeats) / len(queries)
    np_s = _median_seconds(lambda: [np.argpartition(-(vectors @ q), 10)[:10] for q in queries], repeats) / len(queries)
    return [Figure(f"Chroma query latency (top 10 of {len(ids)})", q_s * 1000, "ms", np_s * 1000, "numpy brute force")]


def _llm_decode(llm, repeats: int, n_tokens: int) -> list[Figure]:
    """Greedy decoding of `n_tokens` tokens on one prompt: the transformers backend as configured, the
    same model at torch's default thread count (the old default), and llama.cpp on the same GGUF file."""
    import torch

    tokenizer, model, before = llm.tokenizer, llm.model, torch.get_num_threads()
    threads = llm.settings.threads or before
    inputs = tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    n_prompt = inputs["input_ids"].shape[1]
    kwargs = dict(max_new_tokens=n_tokens, min_new_tokens=n_tokens, do_sample=False,
                  repetition_penalty=llm.settings.repetition_penalty, pad_token_id=tokenizer.eos_token_id)

    def decode(n_threads: int) -> tuple[float, list[int]]:
        torch.set_num_threads(n_threads)
        generated = []
        def once():
            with torch.inference_mode():
                out = model.generate(**inputs, **kwargs)
            generated[:] = out[0, n_prompt:].tolist()
        seconds = _median_seconds(once, repeats)
        return len(generated) / seconds, generated

    default_threads = os.cpu_count() or 1
    try:
        ours, our_tokens = decode(threads)
        old, old_tokens = decode(default_threads)
    finally:
        torch.set_num_threads(before)
    rows = []
    reference, ref_name = _llamacpp_decode(llm, tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True,
                                                                               tokenize=False), threads, repeats,
                                           n_tokens)
    rows.append(Figure(f"LLM decode, transformers as configured ({n_tokens} tokens, {threads} thread(s))",
                       ours, "tokens/s", reference, ref_name, ">= 0.5x", reference and ours / reference >= 0.5))
    rows.append(Figure(f"LLM decode, transformers at torch's default {default_threads} threads (the old default)",
                       old, "tokens/s", reference, ref_name))
    same = next((i for i, (a, b) in enumerate(zip(our_tokens, old_tokens)) if a != b), len(our_tokens))
    rows.append(Figure("greedy tokens equal to the old default's (quality: same model, same tensors)", same,
                       "tokens", len(old_tokens), "tokens generated", "= all", same == len(old_tokens)))
    long_prompt = [PROMPT[0], {"role": "user", "content": PROMPT[1]["content"] * 6}]
    ids_long = tokenizer.apply_chat_template(long_prompt, add_generation_prompt=True, return_tensors="pt",
                                             return_dict=True)
    def prefill():
        with torch.inference_mode():
            model(**ids_long)
    n_long = ids_long["input_ids"].shape[1]
    torch.set_num_threads(threads)
    try:
        prefill_s = _median_seconds(prefill, repeats)
    finally:
        torch.set_num_threads(before)
    rows.append(Figure(f"LLM prompt processing ({n_long} tokens, {threads} thread(s))", n_long / prefill_s, "tokens/s"))
    return rows


def _dtype_quality(ex, personas: int) -> list[Figure]:
    """The configured dtype against fp32 on what users read: the explanations of the top 5 items of a few
    demo personas (same items, same evidence), written by each, then checked by the grounding rules."""
    from explorer.pipeline.explain import Explainer
    from explorer.llm.transformers_backend import TransformersBackend

    dtype = ex.llm.settings.dtype
    if dtype == "float32":
        return []
    cases = []
    for persona in list(ex.personas.values())[:personas]:
        result = ex.recommend(ex.persona(persona.name), k=5, explain=False)
        queries = {q.text: q for q in result.queries}
        cases += [(ex.catalog[r.item_id], [ex.catalog[e] for e in r.evidence], queries[r.query])
                  for r in result.recommendations]
    reference = TransformersBackend(ex.llm.settings.model_copy(update={"dtype": "float32"}))
    written = {}
    for name, backend in ((dtype, ex.llm), ("float32", reference)):
        explainer = Explainer(ex.catalog, backend, ex.explainer.prompt)
        start = time.perf_counter()
        written[name] = [explainer.explain(item, evidence, query) for item, evidence, query in cases]
        written[name + " seconds"] = time.perf_counter() - start
    passed = {name: sum(e.served_by == "llm" for e in written[name]) for name in (dtype, "float32")}
    same = sum(a.value == b.value for a, b in zip(written[dtype], written["float32"]))
    n = len(cases)
    return [Figure(f"explanations passing the grounding checks, {dtype} ({n} explanations)", passed[dtype],
                   "explanations", passed["float32"], "the same in float32", "not fewer",
                   passed[dtype] >= passed["float32"]),
            Figure(f"explanations word for word as float32 writes them ({dtype})", same, "explanations", n,
                   "explanations written"),
            Figure(f"seconds to write the {n} explanations, {dtype}", written[dtype + " seconds"], "s",
                   written["float32 seconds"], "the same in float32")]


def _answer(ex, settings, repeats: int, n_tokens: int) -> list[Figure]:
    """Issue 13 on the default install: a whole answer (profile cached; plan and 5 explained cards) over every
    demo persona, the first card with its reason, where the time goes, how many explanations are the LLM's own
    and pass the claims check; then decode speed of the configured backend against transformers on the same
    prompt, one sequence and five explanations batched, and the share of explanations each backend gets past
    the check on the same items (the model's output must not get worse)."""
    from explorer.eval.claims_audit import load, score
    from explorer.llm.base import generate_batch
    from explorer.pipeline.explain import MAX_EXPLANATION_TOKENS, EXPLANATION_SENTENCES, Explainer

    backend = settings.llm.backend
    totals, firsts, stages, served, summaries = [], [], [], [], []
    cases = []
    for persona in ex.personas.values():
        history = ex.persona(persona.name)
        summaries.append(ex.profile(history).served_by)
        for _ in range(repeats):
            start, first, result = time.perf_counter(), None, None
            for event in ex.recommend_stream(history, k=5, explore=0.3):
                if event.kind == "item" and first is None:
                    first = time.perf_counter() - start
                if event.kind == "result":
                    result = event.data
            totals.append(time.perf_counter() - start)
            firsts.append(first)
            stages.append(result.seconds)
        served += [r.explanation_served_by for r in result.recommendations]
        queries = {q.text: q for q in result.queries}
        cases += [(ex.catalog[r.item_id], [ex.catalog[e] for e in r.evidence], queries[r.query])
                  for r in result.recommendations if r.evidence]
    n = len(ex.personas)
    whole = statistics.median(totals)
    rows = [Figure(f"whole answer, profile cached, plan + 5 explained cards ({backend}, {n} personas x {repeats})",
                   whole, "s", goal="<= 3 s", met=whole <= 3),
            Figure(f"first card with its reason ({backend})", statistics.median(firsts), "s", goal="<= 1 s",
                   met=statistics.median(firsts) <= 1)]
    for stage in ("plan", "retrieve", "explain"):
        rows.append(Figure(f"  of which {stage} ({backend})", statistics.median(s.get(stage, 0.0) for s in stages), "s"))
    # "llm": the model's free sentence passed the checks; "composed": the model chose what to say among the item's
    # and history's facts and the sentence was composed around its choice. Counted apart, never added silently.
    for path, label in (("llm", "the LLM's free text"), ("composed", "composed around the LLM's choice")):
        share = 100 * served.count(path) / len(served)
        rows.append(Figure(f"served explanations: {label}, passing the claims check ({backend})", share, "%"))
        share = 100 * summaries.count(path) / len(summaries)
        rows.append(Figure(f"served profile summaries: {label}, passing ({backend}, {n} personas)", share, "%"))
    model_made = sum(s in ("llm", "composed") for s in served)
    rows.append(Figure(f"served explanations by the LLM, free or composed ({backend})", 100 * model_made / len(served),
                       "%", goal=">= 70 %", met=model_made >= 0.7 * len(served)))
    model_made = sum(s in ("llm", "composed") for s in summaries)
    rows.append(Figure(f"served profile summaries by the LLM, free or composed ({backend}, {n} personas)",
                       100 * model_made / len(summaries), "%", goal=">= 60 %", met=model_made >= 0.6 * len(summaries)))
    audit = load()
    for kind in ("explanation", "summary"):
        s = score(audit, kind)
        rows.append(Figure(f"claims check on the hand-labelled audit set, {kind}s: precision on unsupported ({s.n})",
                           s.precision, "", goal=">= 0.95", met=s.precision >= 0.95))
        rows.append(Figure(f"claims check on the hand-labelled audit set, {kind}s: recall on unsupported ({s.n})",
                           s.recall, "", goal=">= 0.95", met=s.recall >= 0.95))

    # decode speed, the configured backend against transformers, in the same run
    reference = getattr(_transformers_backend(ex, settings), "backend", None) or _transformers_backend(ex, settings)
    chats = [ex.explainer.prompt.messages(**Explainer._values(*case)) for case in cases[:5]]

    def fixed_length_tokens_per_s(llm) -> float:
        if hasattr(llm, "generator"):  # CTranslate2: n tokens exactly (no end token)
            tokens = llm._tokens(llm._prompt(PROMPT))
            once = lambda: llm.generator.generate_batch([tokens], max_length=n_tokens, min_length=n_tokens,
                                                        sampling_topk=1, end_token=[], include_prompt_in_result=False,
                                                        repetition_penalty=llm.settings.repetition_penalty)
        else:
            import torch

            inputs = llm.tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt",
                                                       return_dict=True)
            def once():
                with llm._threads(), torch.inference_mode():
                    llm.model.generate(**inputs, max_new_tokens=n_tokens, min_new_tokens=n_tokens, do_sample=False,
                                       repetition_penalty=llm.settings.repetition_penalty,
                                       pad_token_id=llm.tokenizer.eos_token_id)
        return n_tokens / _median_seconds(once, repeats)

    ours = getattr(ex.llm, "backend", ex.llm)
    ours_tps, ref_tps = fixed_length_tokens_per_s(ours), fixed_length_tokens_per_s(reference)
    rows.append(Figure(f"LLM decode, one sequence of {n_tokens} tokens ({backend}, {settings.llm.threads} thread(s))",
                       ours_tps, "tokens/s", ref_tps, "transformers, same prompt and threads"))
    batched = _median_seconds(lambda: generate_batch(ours, chats, MAX_EXPLANATION_TOKENS, EXPLANATION_SENTENCES), repeats)
    one_by_one = _median_seconds(lambda: [generate_batch(ours, [c], MAX_EXPLANATION_TOKENS, EXPLANATION_SENTENCES)
                                          for c in chats], repeats)
    rows.append(Figure(f"5 explanations in one batched call ({backend})", batched, "s", one_by_one,
                       "the same five one by one"))
    ref_s = _median_seconds(lambda: [reference.generate(c, MAX_EXPLANATION_TOKENS) for c in chats], 1)
    rows.append(Figure("5 explanations, transformers one by one (the old default)", ref_s, "s"))
    passed = {}
    for name, llm in ((backend, ours), ("transformers", reference)):
        results = Explainer(ex.catalog, llm, ex.explainer.prompt).explain_all(cases)
        passed[name] = sum(r.served_by == "llm" for r in results)
    rows.append(Figure(f"explanations passing the claims check, {backend} ({len(cases)} items of the answers above)",
                       passed[backend], "explanations", passed["transformers"], "transformers on the same items",
                       "not fewer", passed[backend] >= passed["transformers"]))
    if hasattr(ours, "generator") and ours.settings.compute_type != "float32":
        rows += _compute_type_against_float32(ex, ours, cases, passed[backend])
    return rows


def _compute_type_against_float32(ex, ours, cases, ours_passed: int) -> list[Figure]:
    """The configured CTranslate2 compute type (int8 by default) against float32, the model's own weights, on
    the same items: seconds per answer's explanations (interleaved, so both see the same load) and how many
    explanations pass the claims check."""
    from explorer.llm.ctranslate2_backend import CTranslate2Backend
    from explorer.pipeline.explain import Explainer

    name = ours.settings.compute_type
    f32 = CTranslate2Backend(ours.settings.model_copy(update={"compute_type": "float32"}))
    answers = [cases[i:i + 5] for i in range(0, len(cases), 5)]
    seconds: dict[str, list[float]] = {name: [], "float32": []}
    passed = {name: ours_passed, "float32": 0}
    for answer in answers:
        for label, llm in ((name, ours), ("float32", f32)):
            start = time.perf_counter()
            results = Explainer(ex.catalog, llm, ex.explainer.prompt).explain_all(answer)
            seconds[label].append(time.perf_counter() - start)
            if label == "float32":
                passed["float32"] += sum(r.served_by == "llm" for r in results)
    return [Figure(f"an answer's explanations, CTranslate2 {name} (median of {len(answers)} answers)",
                   statistics.median(seconds[name]), "s", statistics.median(seconds["float32"]),
                   "CTranslate2 float32, same items, interleaved"),
            Figure(f"explanations passing the claims check, CTranslate2 {name} ({len(cases)} items)", passed[name],
                   "explanations", passed["float32"], "CTranslate2 float32 on the same items", "not fewer",
                   passed[name] >= passed["float32"])]


def _browser(ex, repeats: int) -> list[Figure]:
    """Issue 13 in a real browser: Enter to the complete answer (the status says it is ready, every card's
    reason final) and to the first card, for the demo personas' first messages, the app serving this process's
    Explorer (the model loaded, the profile built by the persona pick)."""
    from explorer.tools.browser import CHROMIUM, measure
    from explorer.web.ui import build_ui, serve

    try:
        import playwright  # noqa: F401
    except ImportError:
        return [Figure("browser: unavailable (pip install playwright)", float("nan"), "s", goal="<= 4 s", met=False)]
    if not CHROMIUM.exists():
        return [Figure("browser: unavailable (no /usr/bin/chromium: make browser)", float("nan"), "s",
                       goal="<= 4 s", met=False)]
    port = free_port()
    ui = build_ui(ex)
    serve(ui, port=port, block=False, quiet=True)
    complete, first, swapped, retracted = [], [], 0, 0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for n, persona in enumerate(list(ex.personas.values())[:max(repeats, 2)]):
                for answer in measure(f"http://127.0.0.1:{port}/", persona.name, BROWSER_MESSAGES, Path(tmp) / str(n)):
                    complete.append(answer.complete_s)
                    first.append(answer.first_card_s)
                    swapped += len(answer.swapped())
                    retracted += len(answer.retracted())
    finally:
        ui.close()
    whole = statistics.median(complete)
    return [Figure(f"browser: Enter to the complete answer ({len(complete)} answers)", whole, "s",
                   goal="<= 4 s", met=whole <= 4),
            Figure("browser: Enter to the first card", statistics.median(first), "s", goal="<= 1 s",
                   met=statistics.median(first) <= 1),
            Figure("browser: cards whose template reason was swapped for the model's checked sentence", swapped,
                   "cards", 5 * len(complete), "cards shown"),
            Figure("browser: sentences taken back or retractions on the page", retracted, "", goal="= 0",
                   met=retracted == 0)]


def _load(settings, out: Path | None) -> list[Figure]:
    """Issue 13's load test with the LLM on: app.py served (its default concurrency), 1 session and then 16
    concurrent sessions of 3 turns each, in the same run; answers a minute and the answers' p95 latency."""
    from explorer.tools import load_test

    target = (out or PROJECT_ROOT / "docs" / "results") / "load-llm.json"
    report = load_test.main(["--serve", "--data-dir", str(settings.data_dir), "--sessions", "1,16", "--turns", "3",
                             "--max-seconds", "300", "--out", str(target)])
    one, many = report["levels"][0], report["levels"][-1]
    per_min = many["answers_per_minute"] or 0.0
    p95 = many["respond_p95_s"]
    return [Figure("load: answers a minute, 16 concurrent sessions", per_min, "answers/min",
                   one["answers_per_minute"], "1 session, same run", ">= 12 (10x 1.2)", per_min >= 12),
            Figure("load: answer latency p95, 16 concurrent sessions", float("nan") if p95 is None else p95, "s",
                   one["respond_p95_s"], "1 session, same run", "<= 30 s", p95 is not None and p95 <= 30),
            Figure("load: answer latency p50, 16 concurrent sessions", float("nan") if many["respond_p50_s"] is None
                   else many["respond_p50_s"], "s", one["respond_p50_s"], "1 session, same run"),
            Figure("load: answers unfinished or failed, 16 sessions", many["unfinished"] + many["errors"], "",
                   goal="= 0", met=many["unfinished"] + many["errors"] == 0)]


def _llamacpp_decode(llm, prompt: str, threads: int, repeats: int, n_tokens: int) -> tuple[float | None, str]:
    """llama.cpp's decode speed on the same GGUF and prompt (llama_cpp.Llama directly), or (None, why)."""
    from explorer.config import resolve_llm_source

    try:
        from llama_cpp import Llama
    except ImportError:
        return None, "llama.cpp: not installed (pip install -r requirements-llamacpp.txt)"
    source, gguf_file = resolve_llm_source(llm.settings)
    if gguf_file is None:
        return None, "llama.cpp: the model is not a GGUF"
    model = Llama(model_path=str(Path(source) / gguf_file), n_ctx=1024, n_threads=threads, verbose=False)
    eos = model.token_eos()
    counts = []
    def once():
        out = model.create_completion(prompt, max_tokens=n_tokens, temperature=0.0,
                                      repeat_penalty=llm.settings.repetition_penalty, logit_bias={eos: -1e9})
        counts.append(out["usage"]["completion_tokens"])
    seconds = _median_seconds(once, repeats)
    return statistics.median(counts) / seconds, f"llama.cpp on the same GGUF, {threads} thread(s)"


def _recommendation_figures(ex, repeats: int, label: str) -> tuple[list[float], list[float], list[float], list[dict]]:
    """Per persona: a recommendation with its profile cached (and its seconds per stage), and the first text /
    first card (with its template reason) of a stream."""
    histories = [ex.persona(p.name) for p in list(ex.personas.values())[:repeats]]
    rec_times, first_text, first_token, stages = [], [], [], []
    for h in histories:
        ex.profile(h)
        start = time.perf_counter()
        stages.append(ex.recommend(h, k=5, explore=0.3).seconds)
        rec_times.append(time.perf_counter() - start)
        start, got_text, got_token = time.perf_counter(), None, None
        for event in ex.recommend_stream(h, k=5, explore=0.3):
            now = time.perf_counter() - start
            got_text = got_text if got_text is not None else (now if event.kind == "profile" else None)
            got_token = got_token if got_token is not None else (now if event.kind == "item" else None)
        first_text.append(got_text)
        if got_token is not None:
            first_token.append(got_token)
    return rec_times, first_text, first_token, stages


def _pipeline(ex, repeats: int, backend: str) -> list[Figure]:
    histories = [ex.persona(p.name) for p in list(ex.personas.values())[:repeats]]
    profile_times = []
    for h in histories:
        start = time.perf_counter()
        ex.profiler.build(h)  # bypasses the cache on purpose
        profile_times.append(time.perf_counter() - start)
    rows = [Figure(f"time to a profile ({backend})", statistics.median(profile_times), "s")]
    rec, text, token, _ = _recommendation_figures(ex, repeats, backend)
    rows.append(Figure(f"recommendation, cached profile, 5 items explained ({backend})", statistics.median(rec), "s"))
    rows.append(Figure(f"chat answer: first text shown ({backend})", statistics.median(text), "s"))
    if token:
        rows.append(Figure(f"chat answer: first card with its reason ({backend})", statistics.median(token), "s"))
    return rows


def _llamacpp_pipeline(settings, repeats: int, reference_rec: float | None) -> list[Figure]:
    """The same recommendation through the llama.cpp backend (the goal: <= 3 s, first token <= 1 s)."""
    from explorer.errors import ExplorerError
    from explorer.facade import Explorer

    try:
        ex = Explorer(settings.model_copy(update={"llm": settings.llm.model_copy(update={"backend": "llamacpp"})}))
    except ExplorerError as exc:
        return [Figure(f"recommendation with the llama.cpp backend: unavailable ({exc})", float("nan"), "s",
                       goal="<= 3 s", met=False)]
    rec, _, token, stages = _recommendation_figures(ex, repeats, "llamacpp")
    rows = [Figure("recommendation, cached profile, 5 items explained (llamacpp)", statistics.median(rec), "s",
                   reference_rec, "the same with the transformers backend", "<= 3 s", statistics.median(rec) <= 3)]
    # Where it goes: the plan's constrained choice, and the explanations (each mostly its ~160-token prompt).
    for stage in ("plan", "explain"):
        rows.append(Figure(f"  of which {stage} (llamacpp)", statistics.median(s.get(stage, 0.0) for s in stages), "s"))
    if token:
        rows.append(Figure("chat answer: first card with its reason (llamacpp)", statistics.median(token), "s",
                           goal="<= 1 s", met=statistics.median(token) <= 1))
    return rows


def _app_start(settings, repeats: int, persona: str) -> list[Figure]:
    """`python app.py` with the index built: seconds to a served page, to "ready to answer" (models
    loaded), to a first whole chat answer (persona chosen, "surprise me"), and the app's peak resident
    memory after that answer."""
    from gradio_client import Client

    served, ready, answered, peaks = [], [], [], []
    env = {**os.environ, "EXPLORER_DATA_DIR": str(settings.data_dir), "PYTHONUNBUFFERED": "1"}
    for _ in range(repeats):
        port = free_port()
        start = time.perf_counter()
        app = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=PROJECT_ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            try:
                wait_until_serving(f"http://127.0.0.1:{port}/", 300, app)
            except RuntimeError as exc:  # it exited: what it printed says why
                raise RuntimeError(f"{exc}: {app.stdout.read()[-2000:]}") from None
            served.append(time.perf_counter() - start)
            for line in app.stdout:  # Startup prints "[start-up] ready" once the Explorer is built
                if "[start-up] ready" in line:
                    ready.append(time.perf_counter() - start)
                    threading.Thread(target=app.stdout.read, daemon=True).start()  # the pipe never fills
                    break
                if "[start-up] failed" in line:
                    raise RuntimeError(f"app start-up failed: {line.strip()}")
            start = time.perf_counter()  # one whole chat answer, so the peak includes the model at work
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            client.predict(persona, 0.3, api_name="/choose_persona")
            client.predict("surprise me", 0.3, api_name="/respond")
            answered.append(time.perf_counter() - start)
            peaks.append(peak_rss_mb(app.pid))
        finally:
            stop_process(app, grace_s=30)
    rows = [Figure("python app.py: page served (index built)", statistics.median(served), "s",
                   goal="<= 15 s", met=statistics.median(served) <= 15)]
    if ready:
        rows.append(Figure("python app.py: ready to answer (models loaded)", statistics.median(ready), "s"))
        rows.append(Figure("python app.py: a whole chat answer, profile included", statistics.median(answered), "s"))
        rows.append(Figure("peak resident memory of the app after that answer", statistics.median(peaks), "MB",
                           goal="<= 1536 MB", met=statistics.median(peaks) <= 1536))
    return rows




# ------------------------------------------------------------------ report
def _report(rows: list[Figure], out: Path | None, repeats: int, sections: list[str] | None = None) -> None:
    """The table, the load average, and (with --out) the figures merged into out/bench.json: a figure of the
    same name is replaced, the others kept, with this run's command and load average under its sections."""
    from rich.console import Console
    from rich.table import Table

    table = Table("figure", "value", "reference", "ratio", "goal", "met?", title=f"explorer bench (median of {repeats})")
    for f in rows:
        ratio = f.ratio
        table.add_row(f.figure, f"{f.value:.3g} {f.unit}",
                      f"{f.reference:.3g} {f.unit} ({f.reference_name})" if f.reference else (f.reference_name or "—"),
                      f"{ratio:.2f}×" if ratio else "—", f.goal or "—",
                      "—" if f.met is None else ("yes" if f.met else "NO"))
    Console(width=200).print(table)
    load = os.getloadavg()
    Console().print(f"load average during the run: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")
    if out:
        out.mkdir(parents=True, exist_ok=True)
        path = out / "bench.json"
        record = [{**asdict(f), "ratio": f.ratio, "met": None if f.met is None else bool(f.met),
                   "sections": ",".join(sections or ())} for f in rows]
        try:
            kept = json.loads(path.read_text())
        except (OSError, ValueError):
            kept = {"figures": []}
        key = ",".join(sections or SECTIONS)
        loads = kept.get("load_average") if isinstance(kept.get("load_average"), dict) else {}
        commands = kept.get("commands") if isinstance(kept.get("commands"), dict) else {}
        new_names = {f["figure"] for f in record}
        merged = [f for f in kept.get("figures", []) if f.get("figure") not in new_names] + record
        kept.update({"cpus": os.cpu_count(), "figures": merged,
                     "load_average": {**loads, key: load},
                     "commands": {**commands, key: "python -m explorer.tools.bench " + " ".join(sys.argv[1:])},
                     "repeats_" + key: repeats})
        path.write_text(json.dumps(kept, indent=2))


def main():
    from explorer.console import run_typer

    app = typer.Typer(add_completion=False)
    app.command()(bench_command)
    run_typer(app)


if __name__ == "__main__":
    main()
