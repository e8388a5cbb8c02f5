"""The evaluation script end to end on a few users of the demo data, with the real embedder and store."""

import json
import math
import sys

import pytest

from explorer.config import Settings
from explorer.eval.run import EvalConfig, evaluate, markdown_table


def test_evaluate_demo_personas_without_the_llm(data_dir, explorer_fallback, tmp_path):
    """On the session's index (built by explorer_fallback in data_dir), with its embedder."""
    report = evaluate(EvalConfig(data=None, users=4, k=5, out=tmp_path, progress=False, sequence=False,
                                 frontier=[0.0, 1.0], boot=200),
                      Settings(data_dir=data_dir, llm={"backend": "none"}))
    assert report["settings"]["users"] == 4 and report["settings"]["k"] == 5
    assert set(report["methods"]) == {"popularity", "item-item CF", "embedding similarity", "EASE",
                                      "explorer (fallback)"}
    assert {"CF ÷ pop^0.1", "MMR CF λ=0.5"} <= set(report["tricks"])
    for name, scores in {**report["methods"], **report["tricks"], **report["frontier"]}.items():
        for key in ("ndcg", "recall", "hit_rate", "mrr", "coverage", "serendipity", "exploration_hit_rate"):
            assert math.isnan(scores[key]) or 0.0 <= scores[key] <= 1.0, (name, key)
        assert scores["novelty"] > 0
    assert report["methods"]["explorer (fallback)"]["llm"]["grounding_violations"] == 0
    # per-user values are kept, aligned with the users, and every method has a paired interval against CF
    assert len(report["users"]) == 4 and all(len(v["ndcg"]) == 4 for v in report["per_user"].values())
    cf = report["ci"]["item-item CF"]["ndcg"]
    assert cf["diff"] == cf["diff_lo"] == cf["diff_hi"] == 0.0 and cf["lo"] <= cf["mean"] <= cf["hi"]
    assert "explore0_vs_best_baseline" in report["criteria"]
    assert json.loads((tmp_path / "report.json").read_text())["methods"].keys() == report["methods"].keys()
    for plot in ("ndcg_vs_novelty.png", "ndcg_vs_explore_hit.png"):
        assert (tmp_path / plot).stat().st_size > 10_000
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
