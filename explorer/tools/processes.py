"""Local helper processes (a Chroma server, the app, an LLM server) started on loopback and always stopped."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the OS picks it), for a server started on loopback."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen, grace_s: float = 20) -> None:
    """SIGTERM, and SIGKILL if it has not exited within `grace_s`: a server must never outlive its user."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def peak_rss_mb(pid: int) -> float | None:
    """A live process's peak resident memory (Linux VmHWM), in MiB; None when it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def wait_until_serving(url: str, timeout: float, process: subprocess.Popen | None = None) -> float:
    """Poll `url` until it answers 200 (the app's page, a server's health URL); the seconds it took.

    When `process` is given and exits first, say so at once instead of waiting out `timeout`. Raises
    TimeoutError when nothing answered in time. Plain urllib, with no proxy: these servers are local."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    start = time.monotonic()
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited with status {process.returncode} before it answered")
        try:
            with opener.open(url, timeout=5) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except OSError:  # refused, reset, timed out, or an HTTP error status (URLError/HTTPError are OSErrors)
            pass
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"nothing answered at {url} within {timeout:.0f} s")
        time.sleep(0.2)
