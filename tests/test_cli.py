"""The real CLI, run as a user runs it (a subprocess: the `run_explorer` fixture), asserting its output."""

import json

import pytest


@pytest.fixture
def run_cli(run_explorer):
    """The CLI with its data directory given as a user's environment would (EXPLORER_DATA_DIR)."""
    return lambda *args, data_dir: run_explorer(*args, EXPLORER_DATA_DIR=str(data_dir))


@pytest.mark.slow
def test_recommend_json_with_the_embedded_llm(data_dir, run_cli):
    proc = run_cli("recommend", "--persona", "nina", "-k", "3", "--explore", "0.5", "--json", data_dir=data_dir)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) >= {"profile", "queries", "recommendations", "served_by"}
    assert len(out["recommendations"]) == 3
    for rec in out["recommendations"]:
        assert set(rec) >= {"item_id", "title", "score", "mode", "query", "explanation", "evidence"}
    assert set(out["served_by"]) == {"profile", "plan", "explain"}


def test_unknown_persona_is_one_clean_line(data_dir, run_cli):
    proc = run_cli("recommend", "--persona", "nobody", "--no-llm", data_dir=data_dir)
    assert proc.returncode == 2
    assert "unknown persona 'nobody'" in proc.stderr and "Maya" in proc.stderr and "Traceback" not in proc.stderr


def test_ingest_reports_and_is_idempotent(tmp_path, run_cli):
    catalog = tmp_path / "mine.csv"
    catalog.write_text("id,title,kind,year,tags,description\nx1,First Thing,book,2001,history|war,A book.\n"
                       "x2,Second Thing,album,1999,music|jazz,An album.\n")
    first = run_cli("ingest", str(catalog), data_dir=tmp_path / "d")
    assert first.returncode == 0, first.stderr
    assert "2 items" in first.stdout and "2 embedded" in first.stdout
    again = run_cli("ingest", str(catalog), data_dir=tmp_path / "d")
    assert "0 embedded" in again.stdout and "2 unchanged" in again.stdout


def test_ingest_of_a_bad_file_names_the_line_and_builds_nothing(tmp_path, run_cli):
    catalog = tmp_path / "bad.jsonl"
    catalog.write_text('{"id": "a", "title": "A"}\n{"id": "b"}\n')
    proc = run_cli("ingest", str(catalog), data_dir=tmp_path / "d")
    assert proc.returncode == 2 and "bad.jsonl:2" in proc.stderr and "title" in proc.stderr
    assert not (tmp_path / "d").exists()


def test_history_file_with_unknown_titles_lists_them(tmp_path, data_dir, run_cli):
    history = tmp_path / "mine.txt"
    history.write_text("Arrival, 5\nSpirited Away, 4.5\nNot A Real Film\nDune, 4\n")
    proc = run_cli("recommend", "--history", str(history), "--no-llm", "-k", "2", "--json", data_dir=data_dir)
    assert proc.returncode == 0, proc.stderr
    assert "Not A Real Film" in proc.stderr
    assert "which one? Dune, 4 names 2 items; write it as Dune (2021) or Dune (1965)" in " ".join(proc.stderr.split())
    assert len(json.loads(proc.stdout)["recommendations"]) == 2
