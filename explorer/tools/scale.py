"""The cost curve: how ingestion, disk, memory and query latency grow with the catalogue, for both store modes.

    python -m explorer.tools.scale --sizes 10000,100000 --modes persistent,http --out docs/results/scale.json
    python -m explorer.tools.scale --with-1m --modes persistent          # adds 1,000,000 items (not part of CI)

Synthetic catalogues: seeded random unit vectors (dimension 384, as all-MiniLM-L6-v2) with realistic metadata
(item_id, kind, cluster, year, title) and a short document, so no model is needed. Each (mode, size) runs in a
child process so that its peak RSS is its own; the http mode starts its own `chroma run` on loopback and reads
the server's peak RSS (VmHWM) before stopping it. Query sets are bounded by count and by time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from explorer.tools.processes import peak_rss_mb

DIM = 384
KINDS = ["film", "book", "album", "podcast", "game"]
KIND_WEIGHTS = [0.4, 0.3, 0.15, 0.1, 0.05]


def synthetic_batch(start: int, end: int, n_total: int, seed: int) -> tuple[list[str], np.ndarray, list[dict], list[str]]:
    """Items start..end-1 of a catalogue of n_total, seeded by (seed, start): the same catalogue for the same
    batch size (both store modes batch at Chroma's maximum, 5,461 here)."""
    rng = np.random.default_rng([seed, start])
    vectors = rng.standard_normal((end - start, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    clusters = max(8, round(math.sqrt(n_total / 10)))
    kinds = rng.choice(len(KINDS), size=end - start, p=KIND_WEIGHTS)
    ids = [f"item-{i}" for i in range(start, end)]
    metadatas = [{"item_id": item_id, "kind": KINDS[k], "cluster": int(rng.integers(clusters)),
                  "year": int(rng.integers(1950, 2026)), "title": f"Synthetic item {i}"}
                 for i, (item_id, k) in enumerate(zip(ids, kinds), start)]
    documents = [f"Synthetic item {m['item_id']} ({m['kind']}, {m['year']}): tags cluster-{m['cluster']}, "
                 f"a short description of about one line." for m in metadatas]
    return ids, vectors, metadatas, documents


def run_one(mode: str, size: int, workdir: Path, queries: int, seconds_per_set: float, seed: int) -> dict:
    """Build one store of `size` items and measure it; returns one row of the results."""
    from contextlib import ExitStack

    from explorer.tools.chroma_server import chroma_server
    from explorer.config import StoreSettings
    from explorer.store.items import ItemStore, open_client

    with ExitStack() as stack:
        if mode == "http":
            server = stack.enter_context(chroma_server(workdir / "server"))
            settings, index_dir = StoreSettings(mode="http", host=server.host, port=server.port), server.path
        else:
            server, settings, index_dir = None, StoreSettings(), workdir / "chroma"
        store = ItemStore(open_client(settings, workdir), "scale")
        batch = store.max_batch
        ingest_s = 0.0
        for start in range(0, size, batch):
            ids, vectors, metadatas, documents = synthetic_batch(start, min(start + batch, size), size, seed)
            began = time.perf_counter()
            store.upsert(ids, vectors, metadatas, documents)
            ingest_s += time.perf_counter() - began
        assert store.count() == size

        rng = np.random.default_rng([seed, 1])
        probes = rng.standard_normal((queries, DIM)).astype(np.float32)
        probes /= np.linalg.norm(probes, axis=1, keepdims=True)
        began = time.perf_counter()
        store.query(probes[0], 10)
        first_query_ms = (time.perf_counter() - began) * 1000
        history = {f"item-{i}" for i in rng.choice(size, size=min(5000, size // 2), replace=False)}
        short_history = set(list(sorted(history))[:20])
        sets = {
            "top10": lambda q: store.query(q, 10),
            "top10_kind": lambda q: store.query(q, 10, kinds=["book"]),
            "top10_cluster": lambda q: store.query(q, 10, cluster=3),
            "top10_exclude20": lambda q: store.query(q, 10, exclude=short_history),
            "top10_exclude20_nin": lambda q: _with_limit(store, 0, lambda: store.query(q, 10, exclude=short_history)),
            "top10_exclude5000_overfetch": lambda q: store.query(q, 10, exclude=history),
            "top10_exclude5000_nin": lambda q: _with_limit(store, 0, lambda: store.query(q, 10, exclude=history)),
        }
        latency = {name: _latencies(fn, probes, seconds_per_set) for name, fn in sets.items()}
        row = {"mode": mode, "items": size, "batch": batch, "ingest_s": round(ingest_s, 2),
               "ingest_items_per_s": round(size / ingest_s), "first_query_ms": round(first_query_ms, 2),
               "disk_mb": round(_du(index_dir) / 2**20, 1), "client_peak_rss_mb": _peak_rss_mb(os.getpid()),
               "server_peak_rss_mb": _peak_rss_mb(server.pid) if server else None,
               "history_excluded": len(history), "latency_ms": latency}
    return row


def _with_limit(store, limit: int, call):
    saved, store.overfetch_limit = store.overfetch_limit, limit
    try:
        return call()
    finally:
        store.overfetch_limit = saved


def _latencies(fn, probes: np.ndarray, budget_s: float) -> dict:
    """p50/p95 over the probes, stopping early (after at least 20) once `budget_s` is spent."""
    times, deadline = [], time.perf_counter() + budget_s
    for probe in probes:
        began = time.perf_counter()
        fn(probe)
        times.append((time.perf_counter() - began) * 1000)
        if len(times) >= 20 and time.perf_counter() > deadline:
            break
    return {"p50": round(float(np.percentile(times, 50)), 2), "p95": round(float(np.percentile(times, 95)), 2),
            "n": len(times)}


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def _peak_rss_mb(pid: int) -> float | None:
    peak = peak_rss_mb(pid)
    return None if peak is None else round(peak, 1)


# ---------------------------------------------------------------------------------------------- growth
def growth(rows: list[dict]) -> dict:
    """For each mode, fit each cost against n over the sizes measured and say how it grows.

    Latency is fitted both as a + b·log10(n) (ms per 10× items) and as a power law n^k (log-log slope);
    k near 0 reads as logarithmic, near 1 as linear. Disk and memory are fitted as bytes per item."""
    out = {}
    for mode in sorted({r["mode"] for r in rows}):
        mine = sorted((r for r in rows if r["mode"] == mode), key=lambda r: r["items"])
        if len(mine) < 2:
            continue
        n = np.array([r["items"] for r in mine], dtype=float)
        facts = {}
        for name in sorted(set.intersection(*(set(r["latency_ms"]) for r in mine))):
            p50 = np.array([r["latency_ms"][name]["p50"] for r in mine])
            per_decade = float(np.polyfit(np.log10(n), p50, 1)[0])
            exponent = float(np.polyfit(np.log(n), np.log(np.maximum(p50, 1e-3)), 1)[0])
            facts[f"{name}_p50"] = {"ms_per_10x_items": round(per_decade, 2), "power_law_exponent": round(exponent, 2),
                                    "reads_as": _reads_as(exponent)}
        for field in ("disk_mb", "client_peak_rss_mb", "server_peak_rss_mb"):
            values = [r[field] for r in mine]
            if None in values:
                continue
            slope = float(np.polyfit(n, np.array(values) * 2**20, 1)[0])
            exponent = float(np.polyfit(np.log(n), np.log(np.maximum(values, 1e-3)), 1)[0])
            facts[field] = {"bytes_per_item": round(slope), "power_law_exponent": round(exponent, 2),
                            "reads_as": _reads_as(exponent)}
        rates = [r["ingest_items_per_s"] for r in mine]
        facts["ingest_items_per_s"] = {"from": rates[0], "to": rates[-1]}
        out[mode] = facts
    return out


def _reads_as(exponent: float) -> str:
    if exponent < 0.25:
        return "about logarithmic (or flat) in n"
    if exponent < 0.75:
        return "sub-linear in n"
    return "about linear in n"


def markdown_table(rows: list[dict]) -> str:
    head = ("| store | items | ingest items/s | disk MB | client peak RSS MB | server peak RSS MB | top-10 p50 / p95 ms "
            "| kind filter | cluster filter | 20 excluded: over-fetch | 20 excluded: `$nin` "
            "| 5,000 excluded: over-fetch | 5,000 excluded: `$nin` |")
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    fmt = lambda lat: f"{lat['p50']:.1f} / {lat['p95']:.1f}" if lat else "—"
    for r in rows:
        lat = r["latency_ms"]
        cells = [r["mode"], f"{r['items']:,}", f"{r['ingest_items_per_s']:,}", f"{r['disk_mb']:,}",
                 f"{r['client_peak_rss_mb']:,}", f"{r['server_peak_rss_mb'] or '—'}"]
        cells += [fmt(lat.get(name)) for name in ("top10", "top10_kind", "top10_cluster", "top10_exclude20",
                                                  "top10_exclude20_nin", "top10_exclude5000_overfetch",
                                                  "top10_exclude5000_nin")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explorer.tools.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated catalogue sizes")
    parser.add_argument("--with-1m", action="store_true", help="also 1,000,000 items (tens of minutes on 2 cores)")
    parser.add_argument("--modes", default="persistent,http", help="persistent, http or both")
    parser.add_argument("--queries", type=int, default=200, help="queries per measurement (at most)")
    parser.add_argument("--seconds-per-set", type=float, default=20.0,
                        help="stop a query set early (after at least 20 queries) once this is spent")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None, help="where the stores are built (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # MODE:SIZE, run in a child process
    args = parser.parse_args(argv)

    if args.one:
        mode, size = args.one.split(":")
        row = run_one(mode, int(size), args.workdir, args.queries, args.seconds_per_set, args.seed)
        print(json.dumps(row))
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s] + ([1_000_000] if args.with_1m else [])
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if set(modes) - {"persistent", "http"} or not sizes or min(sizes) < 100:
        parser.error("modes are persistent and/or http; sizes at least 100")
    rows = []
    with tempfile.TemporaryDirectory(prefix="explorer-scale-", dir=args.workdir) as tmp:
        for mode in modes:
            for size in sizes:
                workdir = Path(tmp) / f"{mode}-{size}"
                workdir.mkdir()
                began = time.perf_counter()
                proc = subprocess.run([sys.executable, "-m", "explorer.tools.scale", "--one", f"{mode}:{size}",
                                       "--workdir", str(workdir), "--queries", str(args.queries),
                                       "--seconds-per-set", str(args.seconds_per_set), "--seed", str(args.seed)],
                                      capture_output=True, text=True)
                if proc.returncode != 0:
                    sys.stderr.write(proc.stderr)
                    return proc.returncode
                rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
                print(f"{mode} {size:,} items: {time.perf_counter() - began:.0f} s "
                      f"({rows[-1]['ingest_items_per_s']:,} items/s ingest, "
                      f"top-10 p50 {rows[-1]['latency_ms']['top10']['p50']} ms)", file=sys.stderr, flush=True)
                shutil.rmtree(workdir, ignore_errors=True)
    result = {"command": "python -m explorer.tools.scale " + " ".join(argv if argv is not None else sys.argv[1:]),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
              "chromadb": _chromadb_version(), "rows": rows, "growth": growth(rows)}
    print(markdown_table(rows))
    print(json.dumps(result["growth"], indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def _chromadb_version() -> str:
    from importlib.metadata import version

    return version("chromadb")


if __name__ == "__main__":
    raise SystemExit(main())
