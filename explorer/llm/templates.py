"""What the backends beside transformers share: chat prompts rendered from a model's own chat template (for
llama.cpp in process and a server's completions endpoint), and JSON answers checked against their schema.

A trailing assistant message is a prefix the answer continues, exactly as TransformersBackend does it: the
same renderer (transformers' `render_jinja_template` with `continue_final_message`), without loading a
tokenizer (from a GGUF that takes seconds; the template is one metadata string).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from explorer.config import LLMSettings, resolve_llm_source
from explorer.errors import BackendUnavailableError


@dataclass(frozen=True)
class ChatTemplate:
    template: str
    bos_token: str = ""
    eos_token: str = ""

    def render(self, messages: list[dict]) -> str:
        """The prompt text: a generation prompt after the chat, or the open end of a trailing assistant prefix."""
        from transformers.utils.chat_template_utils import render_jinja_template

        prefix = ends_with_prefix(messages)
        rendered, _ = render_jinja_template([messages], chat_template=self.template,
                                            continue_final_message=prefix, add_generation_prompt=not prefix,
                                            bos_token=self.bos_token, eos_token=self.eos_token)
        return rendered[0]


def ends_with_prefix(messages: list[dict]) -> bool:
    return bool(messages) and messages[-1]["role"] == "assistant"


def template_from_gguf(path: str | Path) -> ChatTemplate:
    """The chat template and special tokens stored in a GGUF file's metadata."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    fields = reader.fields
    if "tokenizer.chat_template" not in fields:
        raise BackendUnavailableError(f"{path} has no chat template in its metadata")
    tokens = fields["tokenizer.ggml.tokens"].contents()

    def special(name: str) -> str:
        field = fields.get(f"tokenizer.ggml.{name}_token_id")
        return tokens[field.contents()] if field is not None else ""
    return ChatTemplate(fields["tokenizer.chat_template"].contents(), special("bos"), special("eos"))


def template_for(settings: LLMSettings) -> ChatTemplate:
    """The chat template of the configured model (`model`/`gguf_file`): a GGUF's metadata, or a tokenizer's."""
    source, gguf_file = resolve_llm_source(settings)
    if gguf_file or source.endswith(".gguf"):
        return template_from_gguf(Path(source) / gguf_file if gguf_file else source)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source)
    if not tokenizer.chat_template:
        raise BackendUnavailableError(f"{source} has no chat template")
    return ChatTemplate(tokenizer.chat_template, tokenizer.bos_token or "", tokenizer.eos_token or "")


def validated_json(text: str, schema: dict) -> dict:
    """The answer parsed and checked: a grammar cut short by the token limit, or a server that ignored the
    schema, raises here so the calling step takes its fallback."""
    import jsonschema

    try:
        answer = json.loads(text)
        jsonschema.validate(answer, schema)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the answer is not JSON ({exc}): {text[:200]!r}") from None
    except jsonschema.ValidationError as exc:
        raise ValueError(f"the answer does not fit the schema ({exc.message}): {text[:200]!r}") from None
    return answer

