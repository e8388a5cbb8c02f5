"""Start-up in the background: the page is served at once and shows where loading is, instead of
staying blank while the catalogue is indexed and the models are loaded."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from explorer.config import Settings
from explorer.facade import Explorer


class Startup:
    """Builds an Explorer on a thread; `stage`, `seconds` and `error` say how it is going."""

    def __init__(self, settings: Settings, build: Callable[[Callable[[str], None]], Explorer] | None = None):
        self.settings = settings
        self._build = build or (lambda on_stage: Explorer(settings, progress=True, on_stage=on_stage))
        self.stage = "waiting to start"
        self.error: BaseException | None = None
        self._explorer: Explorer | None = None
        self._done = threading.Event()
        self._began = time.monotonic()

    @classmethod
    def ready(cls, explorer: Explorer) -> "Startup":
        startup = cls(explorer.settings)
        startup._explorer, startup.stage = explorer, "ready"
        startup._done.set()
        return startup

    def start(self) -> "Startup":
        if not self._done.is_set():
            threading.Thread(target=self._run, name="explorer-startup", daemon=True).start()
        return self

    def _run(self) -> None:
        try:
            self._explorer = self._build(self._on_stage)
            self.stage = "ready"
            print(f"[start-up] ready in {self.seconds:.1f} s", flush=True)  # the benchmark waits for this line
        except BaseException as exc:  # shown on the page; the process stays up so the message is seen
            self.error, self.stage = exc, "failed"
            print(f"[start-up] failed after {self.seconds:.1f} s: {type(exc).__name__}: {exc}", flush=True)
        finally:
            self._done.set()

    def _on_stage(self, stage: str) -> None:
        self.stage = stage
        print(f"[start-up] {stage}...", flush=True)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self._began

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait_done(self, timeout: float | None = None) -> bool:
        """Wait up to `timeout` seconds for start-up to end (well or not); whether it has."""
        return self._done.wait(timeout)

    def wait(self, timeout: float | None = None) -> Explorer:
        """The Explorer once it is built; raises the start-up's error, or TimeoutError."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"start-up still {self.stage}")
        if self.error is not None:
            raise self.error
        return self._explorer
