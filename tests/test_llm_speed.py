"""The transformers path made fast: the converted copy of the GGUF, and the benchmark that checks the goals."""

from __future__ import annotations

import json

import pytest


PROMPT = [{"role": "user", "content": "Name three slow science fiction films."}]


def test_converted_copy_loads_the_same_model_and_writes_the_same_text(tmp_path, monkeypatch, llm_settings):
    """The first load converts the GGUF and keeps a copy; the second loads the copy (no GGUF conversion)
    and greedy decoding writes exactly what the GGUF-loaded model writes."""
    from explorer.llm.transformers_backend import TransformersBackend, converted_copy

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = TransformersBackend(llm_settings)
    copies = list((tmp_path / "interest-explorer" / "llm").iterdir())
    assert [c.name for c in copies] == [converted_copy(*first.model_id.rsplit("/", 1)).name]  # no partial left
    assert (copies[0] / "model.safetensors").is_file() and (copies[0] / "tokenizer.json").is_file()
    second = TransformersBackend(llm_settings)
    assert second.model.name_or_path == str(copies[0])
    assert second.model.dtype == first.model.dtype
    assert second.generate(PROMPT, 16) == first.generate(PROMPT, 16)


def test_a_cache_that_cannot_be_written_costs_nothing_but_speed(transformers_llm, tmp_path):
    """A converted copy that cannot be saved (here: its folder would sit under a file) is skipped, and the
    loaded model is left as it was."""
    from explorer.llm.transformers_backend import save_converted

    llm = transformers_llm
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    quantizer = getattr(llm.model, "hf_quantizer", "absent")
    save_converted(llm.tokenizer, llm.model, blocker / "copy")
    assert not (blocker.parent / "copy").exists() and list(tmp_path.iterdir()) == [blocker]
    assert getattr(llm.model, "hf_quantizer", "absent") is quantizer


def test_bench_reports_each_goal_with_its_reference(explorer_llm, data_dir, tmp_path):
    """The benchmark's LLM section: decode speed against llama.cpp on the same GGUF (when installed) with
    the goal and whether it is met, and greedy output equal to the old default's, written to bench.json."""
    from explorer.tools.bench import bench_command

    bench_command(repeats=1, ingest_items=50, sections="llm,query", decode_tokens=8, out=tmp_path, data_dir=data_dir)
    figures = {f["figure"]: f for f in json.loads((tmp_path / "bench.json").read_text())["figures"]}
    decode = next(f for name, f in figures.items() if name.startswith("LLM decode, transformers as configured"))
    assert decode["value"] > 0 and decode["goal"] == ">= 0.5x"
    same = next(f for name, f in figures.items() if name.startswith("greedy tokens equal"))
    assert same["reference"] == 8 and same["met"] == (same["value"] == 8)
    assert any(name.startswith("Chroma query latency") for name in figures)
    if decode["reference"] is None:
        pytest.skip(f"no llama.cpp reference here: {decode['reference_name']}")
    assert decode["met"] == (decode["ratio"] >= 0.5)


def test_bench_json_keeps_other_sections_figures_and_replaces_its_own(tmp_path):
    """bench.json gathers several runs (each section when it was measured): a run replaces only the figures it
    measured, and records its command and load average under its sections."""
    from explorer.tools.bench import Figure, _report

    old = [{"figure": "cold start", "value": 11.8, "unit": "s"}, {"figure": "whole answer", "value": 3.6, "unit": "s"}]
    (tmp_path / "bench.json").write_text(json.dumps({"figures": old, "load_average": {"cold": [1, 1, 1]}}))
    _report([Figure("whole answer", 2.1, "s", goal="<= 3 s", met=True)], tmp_path, 2, ["answer"])
    written = json.loads((tmp_path / "bench.json").read_text())
    figures = {f["figure"]: f for f in written["figures"]}
    assert figures["cold start"]["value"] == 11.8 and figures["whole answer"]["value"] == 2.1
    assert figures["whole answer"]["met"] is True and figures["whole answer"]["sections"] == "answer"
    assert set(written["load_average"]) == {"cold", "answer"} and "answer" in written["commands"]
