"""The web chat, served for real on a loopback port and driven through its HTTP API."""

import socket

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(explorer_fallback):
    from app import build_ui

    ui = build_ui(explorer_fallback)
    ui.queue(default_concurrency_limit=1)
    port = free_port()
    ui.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    ui.close()


def test_page_serves_and_chat_answers_over_http(served):
    import httpx
    from gradio_client import Client

    assert httpx.get(served, timeout=30).status_code == 200
    client = Client(served, verbose=False)
    history, box, profile = client.predict("surprise me", [], "Rosie", 0.5, api_name="/respond")
    text = lambda m: m["content"] if isinstance(m["content"], str) else "".join(p.get("text", "") for p in m["content"])
    answer = text(history[-1])
    assert text(history[-2]) == "surprise me" and answer.startswith("Your profile:")
    assert "1. " in answer and "explanations: fallback" in answer
    assert profile["themes"] and box == ""
