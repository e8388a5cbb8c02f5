"""What the pipeline needs from a language model, and the LangChain face that lets prompt templates pipe into
any backend. Messages are [{"role", "content"}]; every caller treats a failure as "use the fallback"."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

ROLES = {"human": "user", "ai": "assistant", "system": "system"}


class LLMBackend(Protocol):
    """What the pipeline needs from a model. Messages are [{"role", "content"}]; a trailing assistant
    message is a prefix the answer must continue (it is not repeated in the output)."""

    model_id: str

    def generate(self, messages: list[dict], max_new_tokens: int | None = None) -> str: ...

    def stream(self, messages: list[dict], max_new_tokens: int | None = None) -> Iterator[str]: ...

    def choose(self, messages: list[dict], schema: dict, max_new_tokens: int | None = None) -> dict: ...


def generate_batch(llm, chats: list[list[dict]], max_new_tokens: int | None = None,
                   sentences: int | None = None) -> list[str]:
    """Answers to several chats: in one batched call where the backend has one (CTranslate2, and any backend
    under the deadline guard that wraps one), else one after another. `sentences` lets a backend that can stop
    each answer after that many sentences do so (callers still cut the text themselves)."""
    batch = getattr(llm, "generate_batch", None)
    if batch is not None:
        return batch(chats, max_new_tokens, sentences)
    return [llm.generate(messages, max_new_tokens) for messages in chats]


class BackendChatModel(BaseChatModel):
    """LangChain face of a backend, so `prompt | model | StrOutputParser()` works and streams."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    backend: Any
    max_new_tokens: int | None = None

    @property
    def _llm_type(self) -> str:
        return "explorer-local"

    def _generate(self, messages: list[BaseMessage], stop=None, run_manager=None, **kwargs) -> ChatResult:
        text = self.backend.generate(to_role_dicts(messages), self.max_new_tokens)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(self, messages: list[BaseMessage], stop=None, run_manager=None, **kwargs) -> Iterator[ChatGenerationChunk]:
        for piece in self.backend.stream(to_role_dicts(messages), self.max_new_tokens):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk


def to_role_dicts(messages: list[BaseMessage]) -> list[dict]:
    return [{"role": ROLES.get(m.type, m.type), "content": str(m.content)} for m in messages]
