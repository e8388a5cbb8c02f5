"""The README's Python example runs as written (docs stay true), on the real embedded models."""

import re

import pytest

from explorer.config import PROJECT_ROOT


@pytest.mark.slow
def test_readme_python_example_runs(data_dir, explorer_llm, monkeypatch, capsys):
    """The example builds its own Explorer; with explorer_llm's settings it shares that one's models and index."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(data_dir))  # share the session's index instead of .explorer/
    exec(compile(example, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "Because you enjoyed" in printed and "profile=" in printed
