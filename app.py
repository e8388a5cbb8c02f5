"""The Gradio web chat. Lays out components and wires events; every answer comes from the Explorer facade.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--concurrency N]

The page is served at once; while the catalogue is indexed and the models load it says where start-up
is. Each browser keeps its own session id (encrypted in localStorage); the session's state lives in
SQLite under the data directory, so a returning browser gets its conversation back after a restart.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # read when gradio is imported

from explorer import Settings  # noqa: E402  (first: it sets the offline defaults before any hub client loads)
from explorer.config import default_concurrency  # noqa: E402
from explorer.errors import ExplorerError  # noqa: E402
from explorer.web.startup import Startup  # noqa: E402
from explorer.web.ui import build_ui, serve  # noqa: E402,F401  (build_ui and serve: the page, for tests too)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("EXPLORER_HOST", "127.0.0.1"),
                        help="Address to bind (default 127.0.0.1: this machine only).")
    parser.add_argument("--port", type=int, default=int(os.environ.get("EXPLORER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="Open a public gradio.live link (off by default).")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="Model-using events run at once (default: 16 with the batching CTranslate2 backend or "
                             "no LLM, else 1: one shared model on the CPU).")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None):
    args = parse_args(argv)
    settings = Settings()
    concurrency = args.concurrency or default_concurrency(settings)
    startup = Startup(settings).start()
    print(f"Serving on http://{args.host}:{args.port} while the catalogue index and models load...", flush=True)
    try:
        page = build_ui(startup, concurrency)  # opens the session store: a bad URL or a down server stops here
    except ExplorerError as exc:
        raise SystemExit(f"error: {exc}") from None
    serve(page, args.host, args.port, args.share, concurrency)


if __name__ == "__main__":
    main()
