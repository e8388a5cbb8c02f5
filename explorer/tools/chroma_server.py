"""Start and stop a local Chroma server (`chroma run`) on loopback: for the tests and the scale script.

A deployment runs its own server (deploy/compose.yaml); this only exists so that the http store mode can be
exercised on one machine without anything running beforehand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


from explorer.tools.processes import free_port, stop_process, wait_until_serving


@dataclass(frozen=True)
class ChromaServer:
    host: str
    port: int
    path: Path
    pid: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def chroma_executable() -> str:
    """The `chroma` CLI installed beside this interpreter (chromadb's package), else the one on PATH."""
    beside = Path(sys.executable).parent / "chroma"
    found = str(beside) if beside.exists() else shutil.which("chroma")
    if not found:
        raise FileNotFoundError("the `chroma` command is not installed; pip install chromadb")
    return found


@contextmanager
def chroma_server(path: str | Path, host: str = "127.0.0.1", port: int | None = None,
                  timeout_s: float = 60.0) -> Iterator[ChromaServer]:
    """Run `chroma run --path PATH --host HOST --port PORT` until the block ends.

    Waits (at most `timeout_s`) for /api/v2/heartbeat to answer; if the process dies or never answers, raises
    RuntimeError with the end of its log. The process is always stopped on exit: SIGTERM, then SIGKILL.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    log_path = path.parent / f"{path.name}.chroma-server.log"
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen([chroma_executable(), "run", "--path", str(path), "--host", host,
                                    "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_for_heartbeat(process, f"http://{host}:{port}", log_path, timeout_s)
        yield ChromaServer(host, port, path, process.pid)
    finally:
        stop_process(process, grace_s=15)


def _wait_for_heartbeat(process: subprocess.Popen, url: str, log_path: Path, timeout_s: float) -> None:
    try:
        wait_until_serving(f"{url}/api/v2/heartbeat", timeout_s, process)
    except RuntimeError:
        raise RuntimeError(f"`chroma run` exited with {process.returncode}:\n{_tail(log_path)}") from None
    except TimeoutError:
        raise RuntimeError(f"the Chroma server at {url} did not answer within {timeout_s:.0f} s:\n{_tail(log_path)}") from None


def _tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
