"""The web wing: what the Gradio chat shows (cards and panels in `view`, the interest map) and its start-up in
the background. `app.py` at the top level is the entry point that lays the page out."""
