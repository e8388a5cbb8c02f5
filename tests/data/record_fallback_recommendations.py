"""Record every demo persona's recommendations on the fallbacks into fallback_recommendations.json.

    python tests/data/record_fallback_recommendations.py
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path


def recommendations(ex) -> dict[str, list[list]]:
    out = {}
    for name in sorted(ex.personas):
        history = ex.persona(name)
        for explore in (0.0, 0.3, 1.0):
            result = ex.recommend(history, k=5, explore=explore)
            out[f"{name}@{explore}"] = [[r.item_id, r.mode, r.query, r.explanation] for r in result.recommendations]
    return out


if __name__ == "__main__":
    from explorer import Explorer, Settings

    explorer = Explorer(Settings(data_dir=tempfile.mkdtemp(), llm={"backend": "none"}))
    target = Path(__file__).with_name("fallback_recommendations.json")
    target.write_text(json.dumps(recommendations(explorer), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {target}")
