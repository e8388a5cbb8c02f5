"""The cost-curve script (explorer/scale.py): its growth fit on a hand-worked case, and one tiny real run."""

import numpy as np

from explorer.tools.scale import growth, markdown_table, run_one, synthetic_batch


def row(mode, items, p50_ms, disk_mb):
    latency = {"top10": {"p50": p50_ms, "p95": p50_ms * 2, "n": 20}}
    return {"mode": mode, "items": items, "ingest_items_per_s": 1000, "disk_mb": disk_mb, "client_peak_rss_mb": 100.0,
            "server_peak_rss_mb": None, "latency_ms": latency}


def test_growth_reads_log_latency_and_linear_disk():
    # p50 = 1 + 2·log10(n) ms: +2 ms per 10× items; disk = n KiB: 1,024 bytes per item, exponent 1
    rows = [row("persistent", n, 1 + 2 * np.log10(n), n / 1024) for n in (10_000, 100_000, 1_000_000)]
    facts = growth(rows)["persistent"]
    assert facts["top10_p50"]["ms_per_10x_items"] == 2.0
    assert facts["top10_p50"]["reads_as"] == "about logarithmic (or flat) in n"
    assert facts["disk_mb"] == {"bytes_per_item": 1024, "power_law_exponent": 1.0, "reads_as": "about linear in n"}
    assert "server_peak_rss_mb" not in facts  # not measured for the embedded store
    assert growth(rows[:1]) == {}  # one size: nothing to fit


def test_synthetic_catalogue_is_reproducible_and_seeded():
    whole = synthetic_batch(0, 100, 100, seed=3)
    again = synthetic_batch(0, 100, 100, seed=3)
    assert whole[0] == again[0] and np.array_equal(whole[1], again[1]) and whole[2] == again[2]
    assert not np.array_equal(whole[1], synthetic_batch(0, 100, 100, seed=4)[1])
    assert np.allclose(np.linalg.norm(whole[1], axis=1), 1.0) and whole[1].shape == (100, 384)
    assert {m["kind"] for m in whole[2]} <= {"film", "book", "album", "podcast", "game"}


def test_a_tiny_embedded_run_measures_every_cost(index_dir):
    result = run_one("persistent", 300, index_dir, queries=20, seconds_per_set=0, seed=0)
    assert result["items"] == 300 and result["ingest_items_per_s"] > 0 and result["disk_mb"] > 0
    assert result["client_peak_rss_mb"] > 0 and result["history_excluded"] == 150
    assert set(result["latency_ms"]) == {"top10", "top10_kind", "top10_cluster", "top10_exclude20",
                                         "top10_exclude20_nin", "top10_exclude5000_overfetch",
                                         "top10_exclude5000_nin"}
    assert all(lat["n"] == 20 and 0 < lat["p50"] <= lat["p95"] for lat in result["latency_ms"].values())
    assert "| persistent | 300 |" in markdown_table([result])
