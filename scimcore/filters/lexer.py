"""Tokenizer for SCIM filters (RFC 7644 3.4.2.2), built on scim2-filter-parser's lexer.

This is the only module that imports ``scim2_filter_parser``. Its ``SCIMLexer`` (a
`sly <https://sly.readthedocs.io>`_ lexer) gets most of the filter grammar right:
case-insensitive operator and logical keywords (``eq``, ``AND``, ``Not`` ...),
attribute names including ``$ref``, sub-attributes (``.value``), schema URN
prefixes (``urn:...:User:``), parentheses and brackets. We keep all of that.

sly lets a subclass redefine a rule in place (same priority in the master regex),
so :class:`_FilterLexer` replaces only the rules that are wrong in 0.7.0:

* ``COMP_VALUE`` (string literal) is ``"[^"]*"``: it stops at an escaped quote
  (``"a\\"b"`` mis-lexes) and never decodes escapes. Ours matches a JSON string
  (RFC 8259 section 7) and decodes it with :func:`json.loads`, so every JSON escape
  (``\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX``) works and a bad escape is reported.
* ``NUMBER`` is ``[0-9]``, a single digit (``42`` lexes as two numbers). Ours is the
  JSON number grammar; an integer becomes ``int``, one with a fraction or exponent
  ``float``.
* ``TRUE``/``FALSE``/``NULL`` are lowercase-only and match a prefix of an attribute
  name (``nullable`` lexes as ``null`` + ``able``). Ours are case-insensitive and
  must end at a word boundary; their token value is the Python ``True``/``False``/
  ``None``.
* ``error`` raises :class:`ValueError`; ours raises :class:`InvalidFilter` with the
  position, and names an unterminated string as such.

The parser of scim2-filter-parser is not used (``and`` and ``or`` have equal
precedence there, contrary to RFC 7644 3.4.2.2), nor is its SQL transpiler (it does
not escape ``%`` and ``_`` in LIKE patterns). See :mod:`scimcore.filters.parser`.

Positions in error messages are 1-based character offsets into the filter text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from scim2_filter_parser.lexer import SCIMLexer

from ..errors import InvalidFilter
from ..jsontext import is_unicode

#: Token types produced by :func:`tokenize` (the names scim2-filter-parser uses),
#: plus ``EOF`` which :func:`tokenize` appends at the end of the input.
COMPARE_TOKENS: frozenset[str] = frozenset({"EQ", "NE", "CO", "SW", "EW", "GT", "GE", "LT", "LE"})

#: Longest filter excerpt quoted back in an error detail.
_MAX_QUOTE = 200

_F = TypeVar("_F", bound=Callable[..., Any])

# A JSON string: quote, then any run of non-quote non-backslash characters or
# backslash-escaped characters, then quote. Escape validity is checked by json.loads.
_STRING = r'"(?:[^"\\]|\\.)*"'
_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_WORD_END = r"(?![A-Za-z0-9_$-])"


def quote_filter(text: str) -> str:
    """``text`` in single quotes for an error detail, shortened if very long (a lone
    surrogate shown escaped, so the detail is always text a response can carry)."""
    if len(text) > _MAX_QUOTE:
        text = text[: _MAX_QUOTE - 3] + "..."
    if not is_unicode(text):
        text = text.encode("utf-8", "backslashreplace").decode()
    return f"'{text}'"


def _rule(pattern: str) -> Callable[[_F], _F]:
    """Attach a sly token pattern to a method (what sly's ``@_`` decorator does)."""

    def decorate(func: _F) -> _F:
        func.pattern = pattern  # type: ignore[attr-defined]
        return func

    return decorate


class _FilterLexer(SCIMLexer):  # type: ignore[misc]
    """``SCIMLexer`` with correct string, number and literal rules (see module doc)."""

    tokens = SCIMLexer.tokens

    @_rule(r"(?i:false)" + _WORD_END)
    def FALSE(self, t: Any) -> Any:
        t.value = False
        return t

    @_rule(r"(?i:true)" + _WORD_END)
    def TRUE(self, t: Any) -> Any:
        t.value = True
        return t

    @_rule(r"(?i:null)" + _WORD_END)
    def NULL(self, t: Any) -> Any:
        t.value = None
        return t

    @_rule(_NUMBER)
    def NUMBER(self, t: Any) -> Any:
        text: str = t.value
        try:
            number: int | float = float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:  # more digits than int() accepts (sys.get_int_max_str_digits)
            number = math.inf
        if isinstance(number, float) and not math.isfinite(number):
            raise InvalidFilter(
                f"Number {text[:20]} at position {t.index + 1} in filter "
                f"{quote_filter(self.text)} is out of range."
            )
        t.value = number
        return t

    @_rule(_STRING)
    def COMP_VALUE(self, t: Any) -> Any:
        raw: str = t.value
        try:
            t.value = json.loads(raw, strict=False)
        except ValueError as exc:
            raise InvalidFilter(
                f"Invalid escape sequence in the string at position {t.index + 1} in filter "
                f"{quote_filter(self.text)}; strings are JSON strings (RFC 8259 section 7), "
                'so only \\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX are allowed.'
            ) from exc
        if "\x00" in t.value:
            # No stored value can contain NUL (PostgreSQL text cannot hold it).
            raise InvalidFilter(
                f"The string at position {t.index + 1} in filter {quote_filter(self.text)} "
                "contains a NUL character (\\u0000), which no SCIM value can contain."
            )
        if not is_unicode(t.value):
            # "\ud800" alone decodes to a lone surrogate: not a character, so no stored
            # value can equal it, and neither database driver accepts it as a parameter.
            raise InvalidFilter(
                f"The string at position {t.index + 1} in filter {quote_filter(self.text)} "
                "contains a lone UTF-16 surrogate escape; a character beyond U+FFFF is "
                "written as a surrogate pair (\\ud83d\\ude00) or as itself."
            )
        return t

    def error(self, t: Any) -> None:
        where = f"at position {self.index + 1} in filter {quote_filter(self.text)}"
        char: str = t.value[0]
        if char == '"':
            raise InvalidFilter(
                f"Unterminated string starting {where}: a string value needs a closing '\"'."
            )
        raise InvalidFilter(f"Unexpected character {char!r} {where}.")


@dataclass(frozen=True)
class Token:
    """One token: its sly type name, decoded value, and ``[start, end)`` offsets.

    ``value`` is the decoded literal for ``COMP_VALUE`` (str), ``NUMBER`` (int or
    float), ``TRUE``/``FALSE`` (bool) and ``NULL`` (None); for ``SCHEMA_URI`` the URN
    without its trailing colon, for ``SUBATTR`` the name without its dot, otherwise
    the source text. ``text`` is always the exact source text.
    """

    type: str
    value: str | int | float | bool | None
    start: int
    end: int
    text: str


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``EOF`` token.

    Raises :class:`InvalidFilter` (and nothing else) for text that is not made of
    filter tokens: an unterminated string, a bad escape, a stray character.
    """
    out: list[Token] = []
    try:
        for tok in _FilterLexer().tokenize(text):
            out.append(Token(tok.type, tok.value, tok.index, tok.end, text[tok.index : tok.end]))
    except InvalidFilter:
        raise
    except Exception as exc:  # defensive: sly or a regex surprise must not escape as a 500
        raise InvalidFilter(
            f"The filter {quote_filter(text)} could not be tokenized: {exc}"
        ) from exc
    out.append(Token("EOF", None, len(text), len(text), ""))
    return out
