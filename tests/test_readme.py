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


def test_readme_history_examples_resolve_to_catalogue_items():
    """Every history the README pastes (`parse_history("...")`, in code or in a comment) resolves line by
    line: no line comes back unknown or asks which item it means, so the example never quietly runs on less."""
    from explorer.catalog import history_from_lines, load_catalog
    from explorer.config import Settings

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    pasted = [s.encode().decode("unicode_escape") for s in re.findall(r'parse_history\("((?:[^"\\]|\\.)*)"\)', readme)]
    assert pasted, "the README no longer shows parse_history: update this test"
    catalog = load_catalog(Settings().catalog)
    for text in pasted:
        parsed = history_from_lines(text.splitlines(), catalog)
        assert parsed.unknown == [] and parsed.ambiguous == [], (text, parsed.unknown,
                                                                  [a.line for a in parsed.ambiguous])
        assert len(parsed.history) == len([line for line in text.splitlines() if line.strip()]), text
