"""`python -m explorer.bench` / `explorer bench`: speed and memory of the embedded default, each figure
a median over repeats and, where the machine decides it, a ratio against a reference measured in the same run.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from explorer.config import PROJECT_ROOT

MOVIELENS = PROJECT_ROOT.parent / "shared" / "data" / "movielens-small"
PROMPT = [{"role": "system", "content": "You are a helpful assistant."},
          {"role": "user", "content": "Describe, in a short paragraph, why people enjoy slow science fiction films "
                                      "about first contact, language and memory."}]


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
    out: Annotated[Optional[Path], typer.Option("--out", help="Write bench.json here.")] = None,
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", envvar="EXPLORER_DATA_DIR")] = None,
):
    """Benchmark cold start, ingestion, Chroma queries, LLM speed, pipeline latency and peak memory."""
    import numpy as np
    import torch

    from explorer.catalog import Catalog, load_catalog
    from explorer.config import Settings
    from explorer.explorer import Explorer
    from explorer.store import ItemStore, open_client

    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))
    ex = Explorer(settings, progress=True)  # builds the demo index once, so cold start below finds it built
    rows: list[tuple[str, float, str, float | None, str]] = []  # figure, value, unit, reference, reference name

    # Cold start: a fresh interpreter importing the package and building the default Explorer (index built).
    explorer_code = (f"from explorer import Explorer, Settings; from pathlib import Path; "
                     f"Explorer(Settings(data_dir=Path({str(settings.data_dir)!r})))")
    reference_code = ("import torch; from transformers import AutoModelForCausalLM as M; "
                      "from sentence_transformers import SentenceTransformer as S; "
                      "from explorer.config import *; d, f = resolve_llm_source(LLMSettings()); "
                      "M.from_pretrained(d, gguf_file=f, dtype=torch.float32); "
                      "S(resolve_embedder_source(EmbedSettings()), device='cpu')")
    cold, cold_ref = _subprocess_seconds(explorer_code, repeats), _subprocess_seconds(reference_code, repeats)
    rows.append(("cold start (import + models + open index)", cold, "s", cold_ref, "bare model loads"))

    # Ingestion: MovieLens movies (or the demo catalogue) into a fresh collection, against raw encoding.
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
    rows.append((f"ingestion ({len(items)} {source.name} items)", len(items) / ingest_s, "items/s",
                 len(items) / encode_s, "raw sentence-transformers encode"))

    # Chroma top-10 query latency against brute-force numpy over the same embeddings.
    ids, vectors = ex.store.all_embeddings()
    queries = vectors[np.random.default_rng(0).integers(0, len(vectors), 200)]
    q_s = _median_seconds(lambda: [ex.store.query(q, 10) for q in queries], repeats) / len(queries)
    np_s = _median_seconds(lambda: [np.argpartition(-(vectors @ q), 10)[:10] for q in queries], repeats) / len(queries)
    rows.append((f"Chroma query latency (top 10 of {len(ids)})", q_s * 1000, "ms", np_s * 1000, "numpy brute force"))

    # LLM: our backend's decode against a plain generate() on the same model and prompt.
    llm = ex.llm
    if llm is not None:
        tokenizer, model = llm.tokenizer, llm.model
        n_new = 64
        def ours():
            text = llm.generate(PROMPT, n_new)
            ours.tokens = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        ours_s = _median_seconds(ours, repeats)
        inputs = tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        def plain():
            with torch.inference_mode():
                out = model.generate(**inputs, max_new_tokens=n_new, do_sample=False,
                                     pad_token_id=tokenizer.eos_token_id)
            plain.tokens = out.shape[1] - inputs["input_ids"].shape[1]
        plain_s = _median_seconds(plain, repeats)
        rows.append(("LLM decode", ours.tokens / ours_s, "tokens/s", plain.tokens / plain_s, "plain generate()"))
        long_prompt = [PROMPT[0], {"role": "user", "content": PROMPT[1]["content"] * 6}]
        ids_long = tokenizer.apply_chat_template(long_prompt, add_generation_prompt=True, return_tensors="pt",
                                                 return_dict=True)
        n_prompt = ids_long["input_ids"].shape[1]
        def prefill():
            with torch.inference_mode():
                model(**ids_long)
        rows.append((f"LLM prompt processing ({n_prompt} tokens)", n_prompt / _median_seconds(prefill, repeats),
                     "tokens/s", None, ""))

    # The pipeline on demo personas.
    names = [p.name for p in ex.personas.values()][:repeats]
    histories = [ex.persona(n) for n in names]
    profile_times = []
    for h in histories:
        start = time.perf_counter()
        ex.profiler.build(h)  # bypasses the cache on purpose
        profile_times.append(time.perf_counter() - start)
    rows.append(("time to a profile", statistics.median(profile_times), "s", None, ""))
    rec_times, first_text, first_token = [], [], []
    for h in histories:
        ex.profile(h)
        start = time.perf_counter()
        ex.recommend(h, k=5, explore=0.3)
        rec_times.append(time.perf_counter() - start)
        start, got_text, got_token = time.perf_counter(), None, None
        for event in ex.recommend_stream(h, k=5, explore=0.3):
            now = time.perf_counter() - start
            got_text = got_text if got_text is not None else (now if event.kind in ("profile", "token") else None)
            got_token = got_token if got_token is not None else (now if event.kind == "token" else None)
        first_text.append(got_text)
        if got_token is not None:
            first_token.append(got_token)
    rows.append(("recommendation, cached profile (5 items, explained)", statistics.median(rec_times), "s", None, ""))
    rows.append(("chat answer: first text shown", statistics.median(first_text), "s", None, ""))
    if first_token:
        rows.append(("chat answer: first LLM token", statistics.median(first_token), "s", None, ""))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(("peak resident memory (this process)", peak_mb, "MB", None, ""))
    _report(rows, out, repeats)


def _report(rows, out: Path | None, repeats: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("figure", "value", "reference", "ratio", title=f"explorer bench (median of {repeats})")
    record = []
    for name, value, unit, ref, ref_name in rows:
        ratio = value / ref if ref else None
        table.add_row(name, f"{value:.3g} {unit}", f"{ref:.3g} {unit} ({ref_name})" if ref else "—",
                      f"{ratio:.2f}×" if ratio else "—")
        record.append({"figure": name, "value": value, "unit": unit, "reference": ref, "reference_name": ref_name,
                       "ratio": ratio})
    Console().print(table)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench.json").write_text(json.dumps({"repeats": repeats, "figures": record}, indent=2))


def main():
    from explorer.cli import run_typer

    app = typer.Typer(add_completion=False)
    app.command()(bench_command)
    run_typer(app)


if __name__ == "__main__":
    main()
