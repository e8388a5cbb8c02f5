"""The storage wing: the catalogue's Chroma collection (`items`), the embedder that fills it (`embed`), and
where chat sessions are kept (`sessions`: SQLite or PostgreSQL)."""
