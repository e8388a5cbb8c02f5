"""Text addressed to a language model that hides inside data: a catalogue description or a chat message
saying "ignore previous instructions", asking for the system prompt, or telling the model what to recommend.

Such sentences never reach a prompt (they are dropped from descriptions at load and from chat messages
before they steer anything), and generated text that carries them is rejected by the grounding checks.
The patterns are narrow on purpose: "highly recommended" or "recommend me a film" are ordinary words.
"""

from __future__ import annotations

import re

_PATTERNS = [
    # "ignore / disregard / forget (all) previous instructions", "disregard the above", "forget your rules"
    r"\b(ignore|disregard|forget|override|bypass)\b[^.!?\n]{0,40}?\b(previous|prior|above|earlier|preceding|all|any|"
    r"your)\b[^.!?\n]{0,30}?\b(instructions?|prompts?|directions|directives|guidelines)\b",
    r"\b(ignore|disregard|forget)\s+(all\s+|everything\s+)?(of\s+)?(the\s+)?(above|previous|prior|preceding)\b",
    r"\b(ignore|disregard|forget|override)\s+(all\s+)?(of\s+)?your\s+(rules|programming|training)\b",
    # the prompt itself
    r"\b(system|hidden|initial|original|developer|secret)\s+(prompt|instructions)\b|\bsystem message\b",
    r"\b(print|reveal|show|repeat|output|display|leak|dump|recite)\b[^.!?\n]{0,30}?\b(your\s+(prompt|instructions|rules)"
    r"|the\s+(system\s+)?prompt)\b",
    # role changes
    r"\byou are now (a|an|dan|in \w+ mode)\b|\bfrom now on,? you (will|must|are|should)\b|\bpretend (that )?you are\b"
    r"|\bjailbreak\b",
    # orders about what to recommend, addressed to the model
    r"\b(always|instead|only|must|should)\s+recommend\b",
    r"\brecommend\b[^.!?\n]{0,60}?\b(to (every|all|each) (user|one|person)s?|instead)\b",
    # chat-template markers smuggled into text
    r"<\|?(im_start|im_end|system|endoftext)\|?>",
]
INJECTION = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.I)
_SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?]+|\n|$)")


def find_injection(text: str) -> str | None:
    """The first phrase in `text` that addresses a language model, or None."""
    match = INJECTION.search(text or "")
    return match.group(0) if match else None


def strip_injection(text: str) -> tuple[str, int]:
    """`text` without the sentences that address a language model (the rest kept verbatim), and how many
    were dropped."""
    if not text or not INJECTION.search(text):
        return text, 0
    dropped = 0

    def drop(match: re.Match) -> str:
        nonlocal dropped
        if INJECTION.search(match.group(0)):
            dropped += 1
            return " "
        return match.group(0)

    stripped = _SENTENCE.sub(drop, text)
    while match := INJECTION.search(stripped):  # a phrase split across lines: drop the sentences it spans
        start = max(stripped.rfind(mark, 0, match.start()) for mark in ".!?") + 1
        end = re.compile(r"[.!?]+|$").search(stripped, match.end()).end()
        stripped = f"{stripped[:start]} {stripped[end:]}"
        dropped += 1
    return re.sub(r"[ \t]{2,}", " ", stripped).strip(), dropped
