"""Load script (not a test): N concurrent chat sessions against the running web app, through its HTTP API.

    python -m explorer.tools.load_test --url http://127.0.0.1:7860 --sessions 1,4,16 --turns 3 --max-seconds 300 \\
        --out docs/results/load.json
    python -m explorer.tools.load_test --serve --data-dir .explorer ...   # starts app.py on a free loopback port, then stops it

Each session is its own `gradio_client.Client` (its own browser session): it picks a demo persona, then
sends `--turns` messages. Every request's latency is recorded; the report gives requests per minute,
p50/p95 latency, errors, and whether every session's state stayed its own (its transcript holds exactly
its own messages, and its history panel names its own persona, after every turn). Bounded: at most
`--turns` messages per session and `--max-seconds` per level; requests still unanswered then are counted
as unfinished, not as errors. Loopback only: any other address is refused.
"""

from __future__ import annotations

import argparse
import html
import ipaddress
import json
import math
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from explorer.config import PROJECT_ROOT, Settings, default_concurrency
from explorer.tools.processes import free_port, stop_process, wait_until_serving

MESSAGES = ["something lighter", "surprise me", "less horror", "more like the second one",
            "why did you suggest the first one?"]


def require_loopback(url: str) -> str:
    """The URL, if its host is this machine; otherwise a clear refusal. No name is looked up: only
    `localhost` and loopback addresses (127.0.0.0/8, ::1) are accepted."""
    host = urlparse(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SystemExit(f"refusing {url}: the load script only talks to loopback (127.0.0.1, ::1, localhost)")
    return url if url.endswith("/") else url + "/"


def persona_names() -> list[str]:
    path = Settings().personas
    return [json.loads(line)["name"] for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class SessionLog:
    index: int
    persona: str
    latencies: list[tuple[str, float]] = field(default_factory=list)  # (endpoint, seconds)
    errors: list[str] = field(default_factory=list)
    unfinished: int = 0
    isolation_problems: list[str] = field(default_factory=list)
    turns_done: int = 0


def _chat(outputs) -> list[dict]:
    return next((v for v in outputs if isinstance(v, list)), [])


def _text(message: dict) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content or [])


def _history_panel(outputs) -> str:
    return next((v for v in outputs if isinstance(v, str) and 'class="ie-history"' in v), "")


def run_session(url: str, index: int, persona: str, turns: int, deadline: float) -> SessionLog:
    """One person: own client, own persona, `turns` messages; checks after each that the state is its own."""
    from gradio_client import Client

    log = SessionLog(index, persona)
    sent: list[str] = []

    def timed(endpoint: str, *args):
        left = deadline - time.monotonic()
        if left <= 0:
            log.unfinished += 1
            return None
        began = time.perf_counter()
        job = client.submit(*args, api_name=endpoint)
        try:
            outputs = job.result(timeout=left)
        except TimeoutError:
            try:
                job.cancel()  # best effort: a busy server may not even answer this in time
            except Exception:  # noqa: BLE001
                pass
            log.unfinished += 1
            return None
        except Exception as exc:  # counted and reported: the load test's job is to see them
            log.errors.append(f"{endpoint}: {type(exc).__name__}: {exc}")
            return None
        log.latencies.append((endpoint, time.perf_counter() - began))
        return outputs

    try:
        client = Client(url, verbose=False)
    except Exception as exc:
        log.errors.append(f"connect: {type(exc).__name__}: {exc}")
        return log
    if timed("/choose_persona", persona, 0.3) is None:
        log.unfinished += turns
        return log
    for turn in range(turns):
        message = MESSAGES[(index + turn) % len(MESSAGES)]
        outputs = timed("/respond", message, 0.3)
        if outputs is None:
            log.unfinished += turns - turn - 1
            break
        sent.append(message)
        log.turns_done += 1
        chat = _chat(outputs)
        users = [html.unescape(_text(m)) for m in chat if m.get("role") == "user"]
        if users != sent:
            log.isolation_problems.append(f"turn {turn + 1}: transcript holds {users!r}, this session sent {sent!r}")
        panel = html.unescape(_history_panel(outputs))
        if not panel.startswith(f'<div class="ie-history"><p>{persona}:'):
            log.isolation_problems.append(f"turn {turn + 1}: history panel is not {persona}'s: {panel[:80]!r}")
    return log


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(q / 100 * len(ordered)))) - 1]


def run_level(url: str, n: int, turns: int, max_seconds: float) -> dict:
    names = persona_names()
    deadline = time.monotonic() + max_seconds
    began = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        logs = list(pool.map(lambda i: run_session(url, i, names[i % len(names)], turns, deadline), range(n)))
    wall = time.perf_counter() - began
    respond = [s for log in logs for e, s in log.latencies if e == "/respond"]
    every = [s for log in logs for _, s in log.latencies]
    errors = [e for log in logs for e in log.errors]
    problems = [f"session {log.index} ({log.persona}): {p}" for log in logs for p in log.isolation_problems]
    rnd = lambda x: None if x is None else round(x, 2)
    return {
        "sessions": n, "turns": turns, "max_seconds": max_seconds, "wall_seconds": round(wall, 1),
        "requests_ok": len(every), "respond_ok": len(respond), "errors": len(errors),
        "unfinished": sum(log.unfinished for log in logs),
        "requests_per_minute": round(60 * len(every) / wall, 2) if wall else None,
        "answers_per_minute": round(60 * len(respond) / wall, 2) if wall else None,  # chat answers (/respond) only
        "respond_p50_s": rnd(percentile(respond, 50)), "respond_p95_s": rnd(percentile(respond, 95)),
        "all_p50_s": rnd(percentile(every, 50)), "all_p95_s": rnd(percentile(every, 95)),
        "sessions_checked": sum(log.turns_done > 0 for log in logs),
        "load_average_1min_after": round(os.getloadavg()[0], 2),
        # None: no session finished a turn in time, so there was nothing to check.
        "state_isolated": (not problems) if any(log.turns_done for log in logs) else None,
        "isolation_problems": problems[:20], "error_samples": errors[:20],
    }


class ServedApp:
    """`python app.py` on a free loopback port with the given data dir; stopped (and waited for) on exit."""

    def __init__(self, data_dir: Path | None, no_llm: bool, ready_seconds: float = 600, concurrency: int | None = None):
        self.data_dir, self.no_llm, self.ready_seconds, self.concurrency = data_dir, no_llm, ready_seconds, concurrency
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "ServedApp":
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
               "ANONYMIZED_TELEMETRY": "False"}
        if self.data_dir:
            env["EXPLORER_DATA_DIR"] = str(self.data_dir)
        if self.no_llm:
            env["EXPLORER_LLM__BACKEND"] = "none"
        self.process = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "app.py"), "--host", "127.0.0.1",
                                         "--port", str(self.port),
                                         *(["--concurrency", str(self.concurrency)] if self.concurrency else [])],
                                        cwd=PROJECT_ROOT, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(self.url, self.ready_seconds, self.process)
        except BaseException:  # __exit__ is not called when __enter__ fails: never leave the app running
            stop_process(self.process, grace_s=30)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.process:
            stop_process(self.process, grace_s=30)


def wait_ready(url: str, seconds: float, process: subprocess.Popen | None = None) -> None:
    """Until the app answers and start-up (index, models) is done: a persona pick then returns cards' state."""
    deadline = time.monotonic() + seconds
    try:
        wait_until_serving(url, seconds, process)
    except (RuntimeError, TimeoutError) as exc:  # it exited during start-up, or never answered
        raise SystemExit(str(exc)) from None
    from gradio_client import Client

    left = max(deadline - time.monotonic(), 1)
    Client(url, verbose=False).submit(persona_names()[0], 0.3, api_name="/choose_persona").result(timeout=left)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:7860", help="The running app (loopback only).")
    parser.add_argument("--serve", action="store_true", help="Start app.py on a free loopback port and stop it after.")
    parser.add_argument("--data-dir", type=Path, default=None, help="With --serve: the app's data directory.")
    parser.add_argument("--no-llm", action="store_true", help="With --serve: every step on its fallback.")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="With --serve: app.py's --concurrency (default: app.py's own default).")
    parser.add_argument("--sessions", default="1,4,16", help="Comma-separated numbers of concurrent sessions.")
    parser.add_argument("--turns", type=int, default=3, help="Messages per session (after picking a persona).")
    parser.add_argument("--max-seconds", type=float, default=300, help="Time limit per level.")
    parser.add_argument("--out", type=Path, default=None, help="Write the report as JSON here.")
    args = parser.parse_args(argv)
    levels = [int(n) for n in args.sessions.split(",") if n.strip()]
    if not levels or min(levels) < 1 or max(levels) > 64 or not 1 <= args.turns <= 20:
        parser.error("--sessions takes 1 to 64 sessions a level; --turns 1 to 20")

    settings = Settings()

    def measure(url: str) -> list[dict]:
        url = require_loopback(url)
        wait_ready(url, 600)  # start-up done before the clock starts
        results = []
        for n in levels:
            print(f"{n} session(s), {args.turns} turn(s) each, at most {args.max_seconds:g} s...", flush=True)
            result = run_level(url, n, args.turns, args.max_seconds)
            print(json.dumps({k: v for k, v in result.items() if k not in ("isolation_problems", "error_samples")}),
                  flush=True)
            results.append(result)
        return results

    if args.serve:
        with ServedApp(args.data_dir, args.no_llm, concurrency=args.concurrency) as app:
            results = measure(app.url)
    else:
        results = measure(args.url)
    report = {
        "command": "python -m explorer.tools.load_test " + " ".join(argv if argv is not None else sys.argv[1:]),
        "llm": "none (fallbacks)" if args.no_llm else f"{settings.llm.backend}: {settings.llm.model}",
        "app_concurrency": (args.concurrency or default_concurrency(settings)) if args.serve else "as the app at --url was started",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()]},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "levels": results,
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
