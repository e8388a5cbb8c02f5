"""The evaluation script end to end on a few users of the demo data, with the real embedder and store."""

import json
import math
import sys

import pytest

from explorer.config import Settings
from explorer.eval.run import EvalConfig, evaluate, markdown_table


def test_evaluate_demo_personas_without_the_llm(data_dir, explorer_fallback, tmp_path):
    """On the session's index (built by explorer_fallback in data_dir), with its embedder."""
    report = evaluate(EvalConfig(data=None, users=4, k=5, out=tmp_path, progress=False),
                      Settings(data_dir=data_dir, llm={"backend": "none"}))
    assert report["settings"]["users"] == 4 and report["settings"]["k"] == 5
    assert set(report["methods"]) == {"popularity", "item-item CF", "embedding similarity", "explorer (fallback)"}
    for name, scores in report["methods"].items():
        for key in ("ndcg", "recall", "hit_rate", "mrr", "coverage", "serendipity", "exploration_hit_rate"):
            assert math.isnan(scores[key]) or 0.0 <= scores[key] <= 1.0, (name, key)
        assert scores["novelty"] > 0
    assert report["methods"]["explorer (fallback)"]["llm"]["grounding_violations"] == 0
    assert json.loads((tmp_path / "report.json").read_text())["methods"].keys() == report["methods"].keys()
    assert (tmp_path / "accuracy_vs_exploration.png").stat().st_size > 10_000
    assert "| explorer (fallback) |" in markdown_table(report)


@pytest.mark.slow
def test_eval_script_with_the_llm_and_prompt_variants(data_dir, tmp_path, run_process):
    proc = run_process([sys.executable, "-m", "explorer.eval", "--users", "2", "--k", "5", "--audit-users", "1",
                        "--out", str(tmp_path)], env={"EXPLORER_DATA_DIR": str(data_dir)}, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| explorer (LLM) |" in proc.stdout and "explain_brief@v1" in proc.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    llm = report["methods"]["explorer (LLM)"]["llm"]
    assert llm["schema_valid_rate"] == 1.0 and llm["grounding_violations"] == 0
    assert all(a["grounding_violations"] == 0 for a in report["explain_audit"].values())
    assert report["settings"]["git_commit"] and "explain" in report["settings"]["prompts"]
