"""CloudWatch Logs filter patterns over unstructured log events.

Served: terms (``ERROR``: the event contains it; several terms: all of them), quoted
phrases (``"Model failed"``), ``?`` alternatives (``?ERROR ?WARN``: any of them), ``-``
exclusions (``ERROR -Exiting``: not that one), and regular expressions between percent
signs (``%req-[0-9a-f]+%``). Matching is case-sensitive, as CloudWatch's. JSON
(``{ $.x = ... }``) and space-delimited (``[a, b]``) patterns are refused with the reason.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field


class PatternError(ValueError):
    """The pattern cannot be used; the message says why."""


@dataclass(frozen=True)
class FilterPattern:
    required: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    regexes: tuple[re.Pattern, ...] = field(default=())

    def matches(self, message: str) -> bool:
        if any(term not in message for term in self.required):
            return False
        if self.alternatives and not any(term in message for term in self.alternatives):
            return False
        if any(term in message for term in self.excluded):
            return False
        return all(regex.search(message) for regex in self.regexes)


MATCH_ALL = FilterPattern()


def parse_pattern(text: str | None) -> FilterPattern:
    """The pattern ``text`` stands for (empty or None: every event)."""
    text = (text or "").strip()
    if not text:
        return MATCH_ALL
    if text.startswith("{"):
        raise PatternError("JSON filter patterns ({ $.field = value }) are not supported by this platform; "
                           "use terms, \"quoted phrases\", ?alternatives, -exclusions or %regex%.")
    if text.startswith("["):
        raise PatternError("Space-delimited filter patterns ([field, ...]) are not supported by this platform; "
                           "use terms, \"quoted phrases\", ?alternatives, -exclusions or %regex%.")
    required: list[str] = []
    alternatives: list[str] = []
    excluded: list[str] = []
    regexes: list[re.Pattern] = []
    for token in _tokens(text):
        if len(token) >= 2 and token.startswith("%") and token.endswith("%"):
            try:
                regexes.append(re.compile(token[1:-1]))
            except re.error as exc:
                raise PatternError(f"Invalid regular expression {token}: {exc}.") from None
        elif token.startswith("?") and len(token) > 1:
            alternatives.append(token[1:])
        elif token.startswith("-") and len(token) > 1:
            excluded.append(token[1:])
        else:
            required.append(token)
    return FilterPattern(tuple(required), tuple(alternatives), tuple(excluded), tuple(regexes))


def _tokens(text: str) -> list[str]:
    """Words, with double-quoted phrases kept whole (a quote may follow ``?`` or ``-``)."""
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.quotes = '"'
    lexer.escape = ""
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError as exc:  # an unclosed quote
        raise PatternError(f"Invalid filter pattern {text!r}: {exc}.") from None
