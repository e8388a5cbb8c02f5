"""The chat wing: one person's conversation over the facade (`session`) and the live sessions of a server,
saved after every change (`live`)."""

from explorer.chat.session import ChatSession

__all__ = ["ChatSession"]
