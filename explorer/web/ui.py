"""The web chat's page: its layout, and the events that wire it to live chat sessions over the Explorer facade.
`app.py` at the top level is the entry point that parses the command line and serves it."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # read when gradio is imported

from explorer import Explorer  # noqa: E402  (first: it sets the offline defaults before any hub client loads)
from explorer.web import view  # noqa: E402
from explorer.catalog import History  # noqa: E402
from explorer.chat.session import clean_message  # noqa: E402
from explorer.errors import ExplorerError  # noqa: E402
from explorer.pipeline.values import InterestProfile  # noqa: E402
from explorer.chat.live import LiveSession, SessionManager, open_session_store  # noqa: E402
from explorer.chat.shelves import shelves_of  # noqa: E402
from explorer.web.startup import Startup  # noqa: E402

import gradio as gr  # noqa: E402

if TYPE_CHECKING:  # matplotlib (the interest map) loads with the models, not before the page is served
    from explorer.web.interest_map import InterestMap

CARDS = 5  # recommendations per answer, one card each
DEFAULT_EXPLORE = 0.3
EXAMPLES = ["something lighter", "less horror", "more like the second one", "why did you suggest the first one?",
            "surprise me"]
CSS = """
.ie-shelf { margin: 0 0 14px 0; }
.ie-shelf-title { font-size: 1.05em; font-weight: 700; margin: 0 0 6px 0; display: flex; align-items: center; gap: 8px; }
.ie-row { display: flex; gap: 10px; overflow-x: auto; padding-bottom: 4px; }
.ie-card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 8px 10px; flex: 1 1 215px;
  max-width: 300px;
  display: flex; flex-direction: column; gap: 3px; background: var(--background-fill-primary); }
.ie-card.ie-disliked { opacity: .55; }
.ie-head { display: flex; align-items: baseline; gap: 6px; }
.ie-num { font-weight: 700; color: var(--body-text-color-subdued); }
.ie-title { font-weight: 700; font-size: 1.02em; flex: 1; }
.ie-badge { border-radius: 999px; padding: 1px 9px; font-size: .75em; font-weight: 600; color: #fff; }
.ie-deepen { background: #2f6fb0; } .ie-adjacent { background: #2e8b57; } .ie-novel { background: #b3541e; }
.ie-meta { opacity: .8; font-size: .85em; }
.ie-reason { font-size: .9em; display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical; overflow: hidden; }
.ie-card:has(details[open]) .ie-reason { -webkit-line-clamp: unset; }
.ie-actions { display: flex; gap: 6px; margin-top: auto; }
.ie-actions button { border: 1px solid var(--border-color-primary); border-radius: 6px; padding: 0 8px; cursor: pointer;
  background: var(--background-fill-secondary); }
.ie-whybox { font-size: .85em; } .ie-whybox summary { cursor: pointer; color: var(--link-text-color); }
.ie-whybox ul { margin: 2px 0 0 0; padding-left: 1.1em; }
.ie-empty { opacity: .75; padding: 8px 0; }
.ie-cite, .ie-theme, .ie-avoid { display: inline-block; border-radius: 6px; padding: 0 6px; margin: 2px 3px 0 0;
  background: var(--background-fill-secondary); border: 1px solid var(--border-color-primary); }
.ie-avoid { text-decoration: line-through; }
.ie-path { font-size: .75em; color: var(--body-text-color-subdued); border: 1px solid var(--border-color-primary);
  border-radius: 4px; padding: 0 4px; }
.ie-opinion { margin-top: 4px; font-size: .88em; font-weight: 600; }
.ie-notice { padding: 6px 10px; border-radius: 8px; background: var(--background-fill-secondary); }
.ie-notice.ie-error { border: 1px solid #c0392b; }
.ie-maptext { font-size: .82em; opacity: .85; } .ie-maptext ul { margin: 0; padding-left: 1.1em; }
.ie-history ul { max-height: 260px; overflow-y: auto; padding-left: 1.1em; }
#chat .message { white-space: pre-wrap; }
"""


# Applies a background profile offer ([themes, avoid, nonce]) to the two boxes only when they still hold
# what the server last wrote there (profile_shown): a box the person has typed in keeps their typing, so
# a rebuild that lands late never loses an edit; their Save then writes it and the new baseline.
PROFILE_GUARD_JS = """
(offer, themes, avoid, shown) => {
  window.ieProfileOffers = (window.ieProfileOffers || 0) + 1;  // lets a test wait until an offer is settled
  if (!offer) return [themes, avoid, shown];
  const [t, a] = JSON.parse(offer);
  const base = shown ? JSON.parse(shown) : null;
  if (base && (themes !== base[0] || avoid !== base[1])) return [themes, avoid, shown];
  return [t, a, JSON.stringify([t, a])];
}
"""


def split_entries(text: str) -> list[str]:
    """Profile-editor entries: one a line, or separated by commas."""
    return [e.strip() for e in re.split(r"[\n,;]", text or "") if e.strip()]


def build_ui(source: Explorer | Startup, concurrency: int = 1) -> gr.Blocks:
    """The page. `source` is a ready Explorer, or a Startup still building one (the page then shows
    progress until it is ready). `concurrency` bounds how many model-using events run at once."""
    startup = source if isinstance(source, Startup) else Startup.ready(source)
    store = open_session_store(startup.settings)  # sessions.url: SQLite under data_dir, or a shared PostgreSQL
    ready: dict = {}
    ready_lock = threading.Lock()

    def services() -> tuple[Explorer, SessionManager, InterestMap]:
        explorer = startup.wait()
        with ready_lock:
            if not ready:
                from explorer.web.interest_map import InterestMap

                ready.update(manager=SessionManager(explorer, store), map=InterestMap(explorer))
        return explorer, ready["manager"], ready["map"]

    def persona_names(explorer: Explorer) -> list[str]:
        return [p.name for p in explorer.personas.values()]

    def fresh(session_id: str | None = None, explore: float = DEFAULT_EXPLORE) -> LiveSession:
        """A new conversation: the first persona's history, or an empty one for a catalogue without personas."""
        explorer, manager, _ = services()
        names = persona_names(explorer)
        if names:
            return manager.start(explorer.persona(names[0]), names[0], explore, session_id, k=CARDS)
        return manager.start(History(()), "no history yet", explore, session_id, k=CARDS)

    def session_for(session_id) -> LiveSession:
        _, manager, _ = services()
        return manager.get(session_id) or fresh(session_id)

    with gr.Blocks(title="Interest Explorer", analytics_enabled=False) as ui:
        gr.Markdown("# Interest Explorer\nPick a persona or bring your own history, then chat: ask for something, "
                    "say *less horror*, *more like the second one*, *why did you suggest the first one?* or "
                    "*surprise me*. Rate the cards with 👍 / 👎 and edit your profile on the right.")
        session_id = gr.State(None)
        kept_id = gr.BrowserState(None, storage_key="interest-explorer-session", secret=store.secret("browser-state"))
        status = gr.HTML(view.notice_html("Starting up…"), elem_id="status")
        with gr.Row():
            with gr.Column(scale=5):
                chat = gr.Chatbot(label="Chat", height=300, render_markdown=False, sanitize_html=True,
                                  elem_id="chat")
                with gr.Row():
                    box = gr.Textbox(placeholder="Ask for something, or press Enter for recommendations",
                                     show_label=False, scale=5, elem_id="message", max_length=2000)
                    send = gr.Button("Send", variant="primary", scale=1, elem_id="send")
                    again = gr.Button("Recommend", scale=1, elem_id="recommend")
                gr.Examples(EXAMPLES, inputs=box, label="Try")
                gr.Markdown("### Recommendations")
                shelves = gr.HTML(view.shelves_html([], None, None, None), elem_id="shelves",
                                  js_on_load=view.VOTE_JS)
            with gr.Column(scale=3):
                with gr.Tabs():
                    with gr.Tab("Persona"):
                        names = persona_names(startup.wait()) if startup.done and not startup.error else []
                        persona = gr.Dropdown(names, value=None, label="Demo persona", elem_id="persona",
                                              allow_custom_value=True)
                    with gr.Tab("Paste a history"):
                        pasted = gr.Textbox(lines=6, label="Titles or ids, one a line; a rating after a comma",
                                            placeholder="Arrival, 5\nDune (2021), 4.5\nThe Shining, film, 1", elem_id="pasted")
                        use_pasted = gr.Button("Use this history", elem_id="use-pasted")
                    with gr.Tab("Upload"):
                        upload = gr.File(label="CSV or JSONL history (item_id or title, rating)",
                                         file_types=[".csv", ".jsonl", ".txt"], type="filepath", elem_id="upload")
                explore = gr.Slider(0.0, 1.0, value=DEFAULT_EXPLORE, step=0.1, elem_id="explore",
                                    label="Explore: more of what I like (0) ↔ show me something new (1)")
                with gr.Accordion("Interest profile", open=True):
                    summary = gr.HTML(elem_id="profile-summary")
                    themes = gr.Textbox(lines=4, label="Themes (one a line)", elem_id="themes")
                    avoid = gr.Textbox(lines=2, label="Avoid (one a line, or comma-separated)", elem_id="avoid")
                    save_profile = gr.Button("Save profile", elem_id="save-profile")
                    # What the server last put in the two boxes, and what a background rebuild offers: the
                    # offer is applied only to boxes the person has not touched since (PROFILE_GUARD_JS).
                    profile_shown = gr.Textbox(visible=False, elem_id="profile-shown")
                    profile_offer = gr.Textbox(visible=False, elem_id="profile-offer")
                with gr.Accordion("Interest map", open=True, elem_id="map-panel"):
                    interest_map = gr.Plot(show_label=False, elem_id="map")
                    map_text = gr.HTML(elem_id="map-text")  # the same map in words, for a screen reader
                with gr.Accordion("Your history", open=False):
                    history_panel = gr.HTML(elem_id="history")
                with gr.Row():
                    session_note = gr.Markdown(elem_id="session-note")
                    new_session = gr.Button("New session", size="sm", elem_id="new-session")

        # ------------------------------------------------------------ what each event shows
        def writer(explorer: Explorer):
            llm = explorer.settings.llm
            named = {"llm": f"the language model ({llm.model}, {llm.backend}), checked against the catalogue",
                     "composed": f"a template around what the language model ({llm.model}) chose to say from the facts",
                     "fallback": "a template (no model)", "edited": "your edit"}
            return lambda path: named.get(path, path)

        def shelves_for(live: LiveSession, recs=None, queries=None, writing: bool = False) -> str:
            explorer = live.chat.explorer
            last = live.chat.last
            recs = recs if recs is not None else (last.recommendations if last else [])
            queries = queries if queries is not None else (last.queries if last else [])
            rows = shelves_of(recs, queries, explorer.catalog, explorer.clusters)
            return view.shelves_html(rows, explorer.catalog, live.chat.feedback_on, writer(explorer), writing)

        def profile_values(live: LiveSession) -> tuple[InterestProfile, str, str]:
            chat_session = live.chat
            profile = chat_session.shown_profile() if len(chat_session.history) else InterestProfile()
            return profile, "\n".join(t.label for t in profile.themes), "\n".join(profile.avoid)

        def profile_updates(live: LiveSession) -> dict:
            """The profile, written into the boxes whatever they hold: a new history, or the person's save."""
            profile, themes_text, avoid_text = profile_values(live)
            return {summary: view.profile_html(profile, live.chat.profile is not None, len(live.chat.history)),
                    themes: themes_text, avoid: avoid_text, profile_shown: json.dumps([themes_text, avoid_text]),
                    profile_offer: ""}

        def profile_offered(live: LiveSession) -> dict:
            """The profile after a background change (a rebuild after 👍/👎, an answer): the summary at once;
            the boxes only through PROFILE_GUARD_JS, which keeps whatever the person has typed meanwhile."""
            profile, themes_text, avoid_text = profile_values(live)
            return {summary: view.profile_html(profile, live.chat.profile is not None, len(live.chat.history)),
                    profile_offer: json.dumps([themes_text, avoid_text, time.monotonic_ns()])}

        def side_updates(live: LiveSession) -> dict:
            explorer, _, imap = services()
            recs = live.chat.last.recommendations if live.chat.last else []
            queries = live.chat.last.queries if live.chat.last else []
            return {history_panel: view.history_html(live.chat.history, explorer.catalog, live.label),
                    interest_map: imap.figure(live.chat.history, recs, queries),
                    map_text: view.map_text_html(imap.describe(live.chat.history, recs, queries))}

        def render(live: LiveSession, notice: str | None = None, guard: bool = False) -> dict:
            """Everything the page shows of a session; `guard`: the profile boxes are only offered (an
            answer ended: the person may be typing in them), not overwritten."""
            out = {session_id: live.id, kept_id: live.id,
                   chat: view.transcript(live.chat.turns, live.chat.briefs), explore: live.chat.explore,
                   session_note: f"Session `{live.id[:8]}…` is kept in this browser and on the server.",
                   shelves: shelves_for(live)}
            out.update(profile_offered(live) if guard else profile_updates(live))
            out.update(side_updates(live))
            if notice is not None:
                out[status] = notice
            return out

        everything = [session_id, kept_id, status, chat, box, persona, explore, summary, themes, avoid,
                      profile_shown, profile_offer, interest_map, map_text, history_panel, session_note, shelves]

        # ------------------------------------------------------------ handlers
        def reading(label: str) -> dict:
            return {status: view.notice_html(f"Reading {label} and writing a profile…", "busy")}

        def on_load(kept):
            while not startup.done:
                yield {status: view.notice_html(f"Starting up: {startup.stage}… ({startup.seconds:.0f} s)")}
                startup.wait_done(0.5)
            try:
                explorer, manager, _ = services()
            except Exception as exc:  # shown, not swallowed: the page is the only place a person looks
                yield {status: view.notice_html(f"Start-up failed: {exc}", "error")}
                return
            names = persona_names(explorer)
            live = manager.get(kept)
            notice = "Welcome back: your session was restored." if live else None
            if live is None:
                if names:
                    yield reading(f"{names[0]}'s history")
                live = fresh()
                notice = (f"Showing {live.label}'s history; pick another persona or bring your own." if names
                          else "Paste or upload a history to begin.")
            yield {persona: gr.update(choices=names, value=live.label if live.label in names else None),
                   **render(live, view.notice_html(notice))}

        def choose_persona(name, explore_value, sid):
            explorer, manager, _ = services()
            try:
                history = explorer.persona(name or "")
            except ExplorerError as exc:
                yield {status: view.notice_html(str(exc), "error")}
                return
            yield reading(f"{history.name}'s history")
            live = manager.start(history, history.name, float(explore_value), sid, k=CARDS)
            yield render(live, view.notice_html(f"Started over with {history.name}'s history "
                                                f"({view.count(len(history), 'item')})."))

        def start_with(parsed, label, explore_value, sid):
            _, manager, _ = services()
            asked = view.ambiguous_items(parsed.ambiguous)
            if not len(parsed.history):
                if asked:
                    yield {status: view.notice_html("Which one do you mean? Add the year or kind to the line and "
                                                    "use the history again:", "warning", asked + [
                                                        f"{u}: not in the catalogue" for u in parsed.unknown])}
                else:
                    yield {status: view.notice_html("None of these matched an item in the catalogue:", "error",
                                                    parsed.unknown)}
                return
            yield reading("your history")
            live = manager.start(parsed.history, label, float(explore_value), sid, k=CARDS)
            used = view.count(len(parsed.history), "item")
            if parsed.unknown or asked:
                listed = asked + [f"{u}: not in the catalogue, left out" for u in parsed.unknown]
                notice = view.notice_html(f"Using {used}. " + ("Which one do you mean? Add the year or kind to the "
                                                               "line and use the history again. " if asked else "")
                                          + ("Some lines matched nothing in the catalogue." if parsed.unknown else ""),
                                          "warning", listed)
            else:
                notice = view.notice_html(f"Using your history: {used}.")
            yield {persona: gr.update(value=None), **render(live, notice)}

        def paste_history(text, explore_value, sid):
            explorer, _, _ = services()
            yield from start_with(explorer.parse_history(text or ""), "pasted history", explore_value, sid)

        def upload_history(path, explore_value, sid):
            if not path:
                return
            explorer, _, _ = services()
            try:
                parsed = explorer.load_history(path)
            except ExplorerError as exc:
                yield {status: view.notice_html(str(exc), "error")}
                return
            yield from start_with(parsed, Path(path).name, explore_value, sid)

        def respond(message, sid, explore_value):
            explorer, manager, _ = services()
            live = session_for(sid)
            chat_session = live.chat
            chat_session.explore = float(explore_value)
            messages = [*view.transcript(chat_session.turns, chat_session.briefs),
                        {"role": "user", "content": view.chat_text(clean_message(message) or "(recommend)")},
                        {"role": "assistant", "content": "…"}]
            turn = len(chat_session.turns) + 1
            began = time.perf_counter()
            yield {session_id: live.id, kept_id: live.id, box: "", chat: messages,
                   status: view.notice_html("Writing your answer…", "busy", turn=turn)}
            recs, queries, said, result = [], [], "", None
            try:
                for event in chat_session.send_events(message):
                    brief = chat_session.brief_so_far()
                    out = {}
                    if brief != said:  # the chat says the answer in brief; the cards go on the shelves
                        said = brief
                        messages[-1]["content"] = view.chat_text(brief)
                        out[chat] = messages
                    if event.kind == "result":
                        result = event.data
                    if event.kind == "plan":  # a new answer: the old shelves go
                        queries, recs = list(event.data), []
                        out[shelves] = shelves_for(live, recs, queries, writing=True)
                    elif event.kind == "item":
                        recs.append(event.data)
                        out[shelves] = shelves_for(live, recs, queries, writing=True)
                    elif event.kind == "explanation" and event.index is not None and event.index < len(recs):
                        # the checked sentence replaces the template reason (tokens are never shown)
                        recs[event.index] = recs[event.index].model_copy(
                            update={"explanation": event.data.value, "explanation_served_by": event.data.served_by})
                        out[shelves] = shelves_for(live, recs, queries, writing=True)
                    if out:
                        yield out
            except ExplorerError as exc:
                messages[-1]["content"] = view.chat_text(f"Sorry: {exc}")
                yield {chat: messages, status: view.notice_html(str(exc), "error", turn=turn)}
                return
            manager.save(live, ("message", {"text": clean_message(message)}))
            seconds = time.perf_counter() - began
            paths = result.served_by if result else None  # a question answered in words has none
            served_by = (f" (profile: {paths.profile}, plan: {paths.plan}, explanations: {paths.explain})"
                         if paths else "")
            yield render(live, view.notice_html(f"Answer {turn} ready in {seconds:.1f} s{served_by}.", "done",
                                                turn=turn), guard=True)

        def recommend(sid, explore_value):
            yield from respond("", sid, explore_value)

        def vote(sid, evt: gr.EventData):
            """👍/👎 on a card of the current answer (the card names its item; anything else is ignored)."""
            _, manager, _ = services()
            data = evt._data if isinstance(getattr(evt, "_data", None), dict) else {}
            live = manager.get(sid)
            item_id = data.get("item")
            if live is None or not isinstance(item_id, str) or item_id not in live.chat.explorer.catalog:
                return {}
            recs = live.chat.last.recommendations if live.chat.last else []
            liked = data.get("liked") is True
            live.chat.feedback(item_id, liked)
            manager.save(live, ("feedback", {"item_id": item_id, "liked": liked}))
            said = "👍 noted" if liked else "👎 noted"
            out = {status: view.notice_html(f"{said} for {live.chat.explorer.catalog[item_id].title}: "
                                            "the next answer follows it.")}
            if any(r.item_id == item_id for r in recs):  # a card of the shown answer; one still being
                out.update({shelves: shelves_for(live), **side_updates(live)})  # written shows it when it ends
            return out

        def refresh_profile(sid):
            """After 👍/👎: build the new history's profile now (a model call), so the next answer's text
            starts at once; the panel shows it. Votes in quick succession share one build."""
            _, manager, _ = services()
            live = manager.get(sid)
            if live is None or not len(live.chat.history):
                return {}
            try:
                live.chat.current_profile()
            except ExplorerError as exc:
                return {status: view.notice_html(str(exc), "error")}
            return profile_offered(live)

        def edit_profile(sid, themes_text, avoid_text):
            _, manager, _ = services()
            live = manager.get(sid)
            if live is None or not len(live.chat.history):
                return {status: view.notice_html("Choose a history first.", "error")}
            try:
                profile = live.chat.revise_profile(split_entries(themes_text), split_entries(avoid_text))
            except ExplorerError as exc:
                return {status: view.notice_html(str(exc), "error")}
            manager.save(live, ("profile_edit", profile.model_dump(mode="json")))
            return {**profile_updates(live),
                    status: view.notice_html("Profile saved: the next answer follows your edit.")}

        def set_explore(value, sid):
            _, manager, _ = services()
            live = manager.get(sid)
            if live is not None:
                live.chat.explore = float(value)
                manager.save(live, ("explore", {"value": float(value)}))
            return {}

        def start_over(explore_value):
            yield {status: view.notice_html("Starting a new session…", "busy")}
            live = fresh(None, float(explore_value))
            names = persona_names(live.chat.explorer)
            yield {persona: gr.update(value=live.label if live.label in names else None),
                   **render(live, view.notice_html("A new session has started."))}

        # ------------------------------------------------------------ wiring
        model = dict(concurrency_id="model", concurrency_limit=concurrency)  # events that may run a model
        minimal = dict(show_progress="minimal")  # the status line says what is happening; no overlay on every panel
        ui.load(on_load, [kept_id], everything, api_visibility="private", **minimal, **model)
        persona.input(choose_persona, [persona, explore, session_id], everything, api_name="choose_persona",
                      **minimal, **model)
        use_pasted.click(paste_history, [pasted, explore, session_id], everything, api_name="use_history",
                         **minimal, **model)
        upload.upload(upload_history, [upload, explore, session_id], everything, api_name="upload_history",
                      **minimal, **model)
        guarded = dict(fn=None, inputs=[profile_offer, themes, avoid, profile_shown],
                       outputs=[themes, avoid, profile_shown], js=PROFILE_GUARD_JS)
        box.submit(respond, [box, session_id, explore], everything, api_name="respond", **minimal, **model
                   ).then(**guarded)
        send.click(respond, [box, session_id, explore], everything, api_visibility="private", **minimal, **model
                   ).then(**guarded)
        again.click(recommend, [session_id, explore], everything, api_visibility="private", **minimal, **model
                    ).then(**guarded)
        shelves.vote(vote, [session_id], everything, api_visibility="private").then(
            refresh_profile, [session_id], everything, api_visibility="private", **minimal, **model).then(**guarded)
        save_profile.click(edit_profile, [session_id, themes, avoid], everything, api_name="save_profile")
        explore.release(set_explore, [explore, session_id], [], api_name="set_explore")
        new_session.click(start_over, [explore], everything, api_visibility="private", **minimal, **model)
    return ui


def serve(ui: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
          concurrency: int = 1, block: bool = True, quiet: bool = False):
    """Queue (a model-sized concurrency limit) and launch; loopback only and no share link unless asked."""
    ui.queue(default_concurrency_limit=concurrency, max_size=64)
    return ui.launch(server_name=host, server_port=port, share=share, css=CSS, prevent_thread_lock=not block,
                     quiet=quiet, show_error=True)
