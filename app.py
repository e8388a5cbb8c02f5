"""The Gradio web chat. Lays out components and wires events; every answer comes from the Explorer facade.

    python app.py [--host 127.0.0.1] [--port 7860] [--share]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # read when gradio is imported

from explorer import Explorer  # noqa: E402  (first: it sets the offline defaults before any hub client loads)
from explorer.errors import ExplorerError  # noqa: E402

import gradio as gr  # noqa: E402


def build_ui(explorer: Explorer) -> gr.Blocks:
    names = [p.name for p in explorer.personas.values()]

    def start(persona_name, explore):
        session = explorer.chat(explorer.persona(persona_name), explore=explore)
        profile = session.current_profile()
        return session, [], profile.model_dump()

    def respond(message, history, session, persona_name, explore):
        if session is None:
            session, _, _ = start(persona_name, explore)
        session.explore = explore
        history = [*history, {"role": "user", "content": message or "(recommend)"},
                   {"role": "assistant", "content": ""}]
        try:
            for piece in session.send(message):
                history[-1]["content"] += piece
                yield history, session, "", gr.skip()
        except ExplorerError as exc:
            history[-1]["content"] = f"Sorry: {exc}"
        profile = session.current_profile().model_dump()
        yield history, session, "", profile

    with gr.Blocks(title="Interest Explorer") as ui:
        gr.Markdown("# Interest Explorer\nPick a persona, then ask for recommendations, "
                    "say *less horror*, *more like the second one*, *why the third one?* or *surprise me*.")
        session = gr.State(None)
        with gr.Row():
            with gr.Column(scale=3):
                # Plain text rendering: titles and messages are shown as text, never as HTML.
                chat = gr.Chatbot(label="Chat", height=520, render_markdown=False, sanitize_html=True)
                box = gr.Textbox(placeholder="Ask for something, or press Enter for recommendations", label="Message")
            with gr.Column(scale=2):
                persona = gr.Dropdown(names, value=names[0] if names else None, label="Persona")
                explore = gr.Slider(0.0, 1.0, value=0.3, step=0.1, label="Explore: more of what I like ↔ something new")
                profile = gr.JSON(label="Interest profile")
        persona.change(start, [persona, explore], [session, chat, profile])
        box.submit(respond, [box, chat, session, persona, explore], [chat, session, box, profile])
        ui.load(start, [persona, explore], [session, chat, profile])
    return ui


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("EXPLORER_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("EXPLORER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="Open a public gradio.live link (off by default).")
    args = parser.parse_args()
    print("Loading models and the catalogue index (the first start embeds the catalogue)...", flush=True)
    explorer = Explorer.default(progress=True)
    ui = build_ui(explorer)
    ui.queue(default_concurrency_limit=1)  # one generation at a time: the model is shared
    ui.launch(server_name=args.host, server_port=args.port, share=args.share)


if __name__ == "__main__":
    main()
