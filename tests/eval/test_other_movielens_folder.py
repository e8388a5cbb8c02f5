"""The full evaluation command, unchanged, on another MovieLens-format folder (issue 16: "the same command on any
other MovieLens-format folder runs unchanged"). ml-100k is not on this machine (offline), so the other folder is
carved from MovieLens-small: a different set of users and items in the same latest layout (movies.csv,
ratings.csv, tags.csv), with fresh ids for users so nothing can be read from a cache of the full data set."""

from __future__ import annotations

import csv
import json
import math
import sys
from collections import Counter

import pytest

from tests.conftest import MOVIELENS

# The documented full command (README, Results), with only the data, data directory and output folder changed.
FULL_RUN_FLAGS = ["--users", "all", "--seed", "0", "--no-llm", "--frontier", "0,0.1,0.2,0.3,0.5,0.75,1",
                  "--audit-users", "0"]


def _carve(folder, users: int = 105, items: int = 250) -> None:
    """The `items` most-rated films and the ratings of `users` users (every 5th one) on them, users renumbered.
    Over 100 users, so the explorer trusts the interest model fully (collab_full_trust_users) as on a real set."""
    with open(MOVIELENS / "ratings.csv", encoding="utf-8") as f:
        ratings = list(csv.DictReader(f))
    popular = {m for m, _ in Counter(r["movieId"] for r in ratings).most_common(items)}
    kept_users = sorted({r["userId"] for r in ratings}, key=int)[::5][:users]
    renumber = {u: str(n + 1) for n, u in enumerate(kept_users)}
    with open(folder / "ratings.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["userId", "movieId", "rating", "timestamp"])
        for r in ratings:
            if r["userId"] in renumber and r["movieId"] in popular:
                w.writerow([renumber[r["userId"]], r["movieId"], r["rating"], r["timestamp"]])
    for name in ("movies.csv", "tags.csv"):
        with open(MOVIELENS / name, encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        with open(folder / name, "w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(r for r in rows if r["movieId"] in popular)


@pytest.mark.slow
@pytest.mark.movielens
@pytest.mark.skipif(not MOVIELENS.is_dir(), reason="../shared/data/movielens-small is not here")
def test_the_full_evaluation_command_runs_unchanged_on_another_movielens_folder(tmp_path, run_process):
    folder = tmp_path / "movielens-other"
    folder.mkdir()
    _carve(folder)
    out = tmp_path / "results"
    proc = run_process([sys.executable, "-m", "explorer.eval", "--data", str(folder), *FULL_RUN_FLAGS,
                        "--out", str(out), "--data-dir", str(tmp_path / "data")], timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    # the users evaluated: those with a liked item in their future
    assert report["settings"]["dataset"] == "movielens" and report["settings"]["users"] >= 90
    assert {"item-item CF", "EASE", "sequence (SASRec)", "explorer (fallback)"} <= set(report["methods"])
    assert set(report["frontier"]) == {f"explore={x}" for x in ("0", "0.1", "0.2", "0.3", "0.5", "0.75", "1")}
    assert {"CF ÷ pop^0.5", "MMR CF λ=0.5"} <= set(report["tricks"])
    # the defaults were chosen on this folder's own validation split, by the same rules
    assert report["settings"]["explore"] == report["settings"]["explore_chosen_on_validation"]["explore"]
    assert report["settings"]["interest_validation"]
    # explore = 0 is EASE's own list here too, user by user
    assert report["per_user"]["explore=0"] == report["per_user"]["EASE"]
    cf = report["ci"]["item-item CF"]["ndcg"]
    assert not math.isnan(cf["mean"]) and cf["lo"] <= cf["mean"] <= cf["hi"]
    assert "default_explore" in report["criteria"]
    for plot in ("ndcg_vs_novelty.png", "ndcg_vs_explore_hit.png"):
        assert (out / plot).stat().st_size > 10_000
