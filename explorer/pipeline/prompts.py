"""Prompts are data: YAML files in prompts/, one per step and variant, loaded into LangChain templates.

A variant is another file with the same `step` (for example explain_brief.yaml); settings or the
evaluation pick it by name, so prompt changes are compared, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from langchain_core.prompts import ChatPromptTemplate

from explorer.errors import DataError


@dataclass(frozen=True)
class Prompt:
    name: str
    version: int
    step: str
    template: ChatPromptTemplate
    # Sentence templates a step composes around the model's choice (prompts/explain_choice.yaml): (name, text).
    compose: tuple[tuple[str, str], ...] = ()

    @property
    def tag(self) -> str:
        return f"{self.name}@v{self.version}"

    def opening(self, **values) -> str:
        """The fixed start of the answer (a trailing assistant message), which the model continues."""
        last = self.template.messages[-1]
        if getattr(last, "prompt", None) is None or last.__class__.__name__ != "AIMessagePromptTemplate":
            return ""
        return str(last.format(**values).content)

    def composed(self, name: str, **values) -> str:
        """The sentence template `name` of this prompt's `compose` section, filled in."""
        templates = dict(self.compose)
        if name not in templates:
            raise DataError(f"prompt {self.name!r} has no compose template {name!r}; found {sorted(templates)}")
        return templates[name].format(**values)

    def messages(self, **values) -> list[dict]:
        """The filled-in chat as role dicts, the form every backend takes."""
        from explorer.llm import to_role_dicts

        return to_role_dicts(self.template.format_messages(**values))


@lru_cache(maxsize=64)
def load_prompt(path: Path) -> Prompt:
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        messages = [(role, text) for role, text in spec["messages"]]
        compose = tuple((str(k), str(v)) for k, v in (spec.get("compose") or {}).items())
        return Prompt(spec["name"], int(spec.get("version", 1)), spec.get("step", spec["name"]),
                      ChatPromptTemplate.from_messages(messages), compose)
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise DataError(f"unreadable prompt file ({exc})", path=path) from None


def prompts_for_step(prompts_dir: Path, step: str) -> dict[str, Prompt]:
    found = (load_prompt(p) for p in sorted(Path(prompts_dir).glob("*.yaml")))
    return {p.name: p for p in found if p.step == step}


def select_prompt(prompts_dir: Path, step: str, variant: str | None = None) -> Prompt:
    """The prompt for a step: the named variant, else the file named after the step."""
    options = prompts_for_step(prompts_dir, step)
    name = variant or step
    if name not in options:
        raise DataError(f"no prompt {name!r} for step {step!r}; found {sorted(options)}", path=prompts_dir)
    return options[name]
