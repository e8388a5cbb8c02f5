"""No network: the CLI builds its index and recommends with the real models inside a network namespace
that has nothing but loopback (`unshare -n`; `unshare -rn` when not root), with HF_HUB_OFFLINE=1 and
telemetry and analytics off. A probe in the same namespace shows the namespace is real (an outside
address is unreachable, loopback works), so these tests can fail. Where a namespace cannot be made, they
fail with the reason instead of skipping: this is the proof that nothing reaches out.

Inside the namespace an audit hook also records every address Python code tries to resolve or connect
to; anything but loopback fails the test, so an attempt that would only fail quietly is caught too.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys

import pytest

from explorer.config import PROJECT_ROOT
from tests.tiers import needs

ENV = {"HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False",
       "TRANSFORMERS_OFFLINE": "1"}
PROXIES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "no_proxy", "NO_PROXY")

# Runs a module as `python -m` does, recording each address Python code resolves or connects to.
AUDITED = """
import atexit, json, runpy, sys
seen = []
def hook(event, args):
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        seen.append([event, repr(args[-1])])
    elif event == "socket.getaddrinfo":
        seen.append([event, repr(args[0])])
sys.addaudithook(hook)
record, module, sys.argv = sys.argv[1], sys.argv[2], [sys.argv[2], *sys.argv[3:]]
atexit.register(lambda: open(record, "w").write(json.dumps(seen)))
if module.endswith(".py"):
    runpy.run_path(module, run_name="__main__")
else:
    runpy.run_module(module, run_name="__main__", alter_sys=True)
"""

PROBE = """
import errno, json, socket
out = {}
for host in ("10.255.255.1", "1.1.1.1"):
    try:
        socket.create_connection((host, 443), timeout=5).close()
        out[host] = "connected"
    except OSError as exc:
        out[host] = errno.errorcode.get(exc.errno, str(exc))
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
client = socket.create_connection(server.getsockname(), timeout=5)
conn, _ = server.accept()
client.sendall(b"ping")
out["loopback"] = conn.recv(4).decode()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
@needs("system")
def netns() -> list[str]:
    """The command prefix that runs a command in a new network namespace, or a failure that says why not."""
    prefix = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.fail("the no-network proof needs `unshare` (util-linux) and `ip` (iproute2) on PATH")
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.fail(f"cannot create a network namespace with `{' '.join(prefix)}` ({probe.stderr.strip()}); "
                    "the no-network proof must run where it is permitted (root, or unprivileged user namespaces)")
    return prefix


def offline(netns, *argv: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """argv, run in the namespace with loopback up and the offline environment (no proxies either)."""
    env = {k: v for k, v in os.environ.items() if k not in PROXIES} | ENV
    script = "ip link set lo up && exec " + " ".join(shlex.quote(a) for a in argv)
    return subprocess.run([*netns, "sh", "-c", script], capture_output=True, text=True, cwd=PROJECT_ROOT, env=env,
                          timeout=timeout)


def test_the_namespace_reaches_nothing_but_loopback_and_the_audit_sees_every_attempt(netns, tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE, encoding="utf-8")
    proc, seen = run_audited(netns, tmp_path, "probe", str(probe))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["10.255.255.1"] == "ENETUNREACH" and out["1.1.1.1"] == "ENETUNREACH", out
    assert out["loopback"] == "ping"
    assert [e for e in seen if not is_loopback(e)] == [  # the hook sees what the tested commands would try
        ["socket.getaddrinfo", "'10.255.255.1'"], ["socket.connect", "('10.255.255.1', 443)"],
        ["socket.getaddrinfo", "'1.1.1.1'"], ["socket.connect", "('1.1.1.1', 443)"]], seen
    links = offline(netns, "ip", "-o", "link")
    assert [line.split(":")[1].strip() for line in links.stdout.splitlines()] == ["lo"]


def run_audited(netns, tmp_path, name: str, target: str, *args: str) -> tuple[subprocess.CompletedProcess, list]:
    """Run a module (or a .py file) in the namespace under the audit hook; its exit and the addresses it tried."""
    record = tmp_path / f"{name}-addresses.json"
    proc = offline(netns, sys.executable, "-c", AUDITED, str(record), target, *args)
    return proc, json.loads(record.read_text()) if record.exists() else None


def is_loopback(entry: list) -> bool:
    event, address = entry
    return any(s in address for s in ("'127.0.0.1'", "'localhost'", "'::1'")) or address.startswith("'/")


@pytest.mark.slow
def test_cli_recommend_with_the_real_llm_builds_its_index_and_answers_without_a_network(netns, tmp_path):
    data = tmp_path / "data"  # empty: the index is built in the namespace too (what `ingest` runs)
    proc, seen = run_audited(netns, tmp_path, "recommend", "explorer", "recommend", "--persona", "maya", "-k", "3",
                             "--json", "--data-dir", str(data))
    assert proc.returncode == 0, proc.stderr
    assert seen is not None  # the audit hook ran
    outside = [e for e in seen if not is_loopback(e)]
    assert outside == [], f"tried to reach beyond loopback: {outside}"
    assert (data / "chroma" / "chroma.sqlite3").exists()

    from explorer.catalog import load_catalog, load_personas
    from explorer.config import Settings

    settings = Settings()
    catalog = load_catalog(settings.catalog)
    maya = load_personas(settings.personas, catalog)["maya"]
    out = json.loads(proc.stdout)
    assert out["served_by"]["plan"] == "llm"  # the LLM really ran (constrained choice: it cannot fail to parse)
    history = {r.item_id for r in maya.history}
    liked = {r.item_id for r in maya.history if r.liked}
    assert len(out["recommendations"]) == 3
    for rec in out["recommendations"]:
        assert rec["item_id"] in catalog and rec["item_id"] not in history
        assert rec["title"] == catalog[rec["item_id"]].title
        assert rec["evidence"] and set(rec["evidence"]) <= liked
        assert any(catalog[e].title in rec["explanation"] for e in rec["evidence"]), rec["explanation"]
