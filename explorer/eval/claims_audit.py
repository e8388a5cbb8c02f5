"""How well the claims check (explorer/pipeline/claims.py) tells supported texts from unsupported ones, measured on
texts the real model wrote and a person judged by hand (tests/data/claims_audit.jsonl; written by
`python -m explorer.tools.audit`, labelled once by hand, never by the check).

    python -m explorer.eval.claims_audit [tests/data/claims_audit.jsonl]

The positive class is "unsupported": precision is the share of rejected texts that a person also found
unsupported, recall the share of unsupported texts the check rejects. Each record's `split` says whether the check
was developed on it ("dev") or never looked at while it was tuned ("heldout", labelled after the last change to
the check): the held-out figures are the honest ones.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from explorer.catalog import Item
from explorer.config import PROJECT_ROOT
from explorer.pipeline.claims import check_explanation, check_summary, explanation_facts
from explorer.pipeline.grounding import unreadable

AUDIT = PROJECT_ROOT / "tests" / "data" / "claims_audit.jsonl"


def load(path: str | Path = AUDIT) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def problems(record: dict) -> list[str]:
    """What the pipeline's gate finds wrong with a record's text (empty: it would be served)."""
    text, opening = record["text"], record.get("opening", "")
    found = [bad] if (bad := unreadable(text, opening)) else []
    if record["kind"] == "explanation":
        item = Item.model_validate(record["item"])
        evidence = [Item.model_validate(e) for e in record["evidence"]]
        return found + check_explanation(text, opening, explanation_facts(item, evidence, record["query"]))
    liked = [Item.model_validate(i) for i in record["liked_items"]]
    disliked = [Item.model_validate(i) for i in record["disliked_items"]]
    themes = [t.strip() for t in record.get("themes", "").split(",") if t.strip()]
    return found + check_summary(text, liked, disliked, themes, opening)


@dataclass(frozen=True)
class Scores:
    kind: str
    n: int
    unsupported: int
    rejected: int
    true_rejections: int

    @property
    def precision(self) -> float:
        return self.true_rejections / self.rejected if self.rejected else float("nan")

    @property
    def recall(self) -> float:
        return self.true_rejections / self.unsupported if self.unsupported else float("nan")

    @property
    def served_supported(self) -> int:
        """Texts labelled supported that pass: the LLM's own words a person would be shown."""
        return self.n - self.unsupported - (self.rejected - self.true_rejections)


def score(records: list[dict], kind: str | None = None, split: str | None = None) -> Scores:
    chosen = [r for r in records if (kind is None or r["kind"] == kind) and (split is None or r["split"] == split)]
    rejected = [bool(problems(r)) for r in chosen]
    bad = [r["label"] == "unsupported" for r in chosen]
    return Scores(kind or "all", len(chosen), sum(bad), sum(rejected), sum(a and b for a, b in zip(rejected, bad)))


def main(argv: list[str] | None = None) -> None:
    path = (argv or sys.argv[1:] or [str(AUDIT)])[0]
    records = load(path)
    for split in ("dev", "heldout", None):
        for kind in ("explanation", "summary", None):
            s = score(records, kind, split)
            print(f"{split or 'both':8} {s.kind:12} n={s.n:4}  unsupported={s.unsupported:4}  rejected={s.rejected:4}  "
                  f"precision={s.precision:.3f}  recall={s.recall:.3f}  supported and served={s.served_supported}")


if __name__ == "__main__":
    main()
