"""wait_until_serving, the one poll that bench, the load test, the Chroma server and the tests use to know a
server is up: against a real HTTP server on loopback (in this process), and a real process that exits."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from explorer.tools.processes import free_port, wait_until_serving


class SlowToStart(BaseHTTPRequestHandler):
    """Answers 503 to its first two requests, as a server still loading, then 200."""

    asked = 0

    def do_GET(self):
        type(self).asked += 1
        self.send_response(200 if type(self).asked > 2 else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_waits_through_refusals_and_error_statuses_until_the_page_answers():
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = ThreadingHTTPServer(("127.0.0.1", port), SlowToStart)
    starter = threading.Timer(0.5, server.serve_forever)  # bound, but nobody answers for the first 0.5 s
    starter.start()
    try:
        seconds = wait_until_serving(url, 30)
        assert seconds >= 0.5 and SlowToStart.asked == 3
    finally:
        server.shutdown()  # ends serve_forever, and with it the timer's thread
        starter.join()
        server.server_close()
    with pytest.raises(TimeoutError, match=f"nothing answered at {url} within 1 s"):
        wait_until_serving(url, 1)


def test_a_server_process_that_exits_is_reported_at_once(spawn):
    process = spawn([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(RuntimeError, match="exited with status 3"):
        wait_until_serving(f"http://127.0.0.1:{free_port()}/", 300, process)
