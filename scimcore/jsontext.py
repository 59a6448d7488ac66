"""JSON text in and out of the service (RFC 8259, as RFC 7644 3.1 requires).

* :func:`parse` reads a request body strictly: ``NaN``, ``Infinity`` and numbers too
  large for a double are not JSON, and a resource stored with one could not be
  written back as JSON. Text must be Unicode (RFC 8259 8.1 and 8.2, RFC 7493 2.1): a
  byte sequence that is not UTF-8 and an escaped lone UTF-16 surrogate
  (``"\\ud800"``) are refused, naming where in the body they are, since no
  database stores such a string the same way and no client could read it back.
  Arrays and objects may nest :data:`MAX_DEPTH` deep; a deeper body is refused
  before anything walks it recursively. A key twice in one object is refused too,
  also when the two differ only in case (SCIM attribute names are case-insensitive,
  RFC 7643 2.1): RFC 8259 4 leaves such an object's meaning to each reader, so a
  proxy or an auditor reading "the first wins" would see another request than the
  one this service ran.
* :func:`encode` writes a response with orjson, many times faster than the standard
  library on a list page, where encoding was a large share of the page's cost
  (docs/performance.md measures it). orjson refuses integers beyond 64 bits, which
  RFC 7643 integers may be; those bodies, and only those, go through the standard
  library, so every body is written exactly.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

#: Deepest nesting of arrays and objects accepted in a request body. The deepest SCIM
#: body is a Bulk operation writing a complex value of an extension (body, Operations,
#: operation, data, extension, attribute, element: 7 levels); 32 leaves room for any
#: client, and a body at the limit is cheap to walk.
MAX_DEPTH = 32

# An escaped UTF-16 surrogate, high (D800-DBFF) or low (DC00-DFFF). A valid pair is
# fine: json.loads joins it into one character. Only a lone one survives decoding.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_UTF8_BOM = b"\xef\xbb\xbf"


class JsonTextError(ValueError):
    """A request body that is not JSON text this service reads; the message says
    what is wrong and where, in words a client developer can act on."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text} is too large")
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """One JSON object; :class:`JsonTextError` naming a key it holds twice."""
    obj = dict(pairs)
    if len(obj) == len(pairs) and len({key.lower() for key in obj}) == len(obj):
        return obj
    seen: dict[str, str] = {}
    for key, _ in pairs:
        first = seen.get(key.lower())
        if first is None:
            seen[key.lower()] = key
        else:
            safe, first = _printable(key), _printable(first)
            why = (
                "; send each key once"
                if first == safe
                else f" (as '{first}' and as '{safe}'); attribute names are "
                "case-insensitive (RFC 7643 2.1), so send each one once"
            )
            raise JsonTextError(f"the key '{safe}' appears twice in one object{why}")
    return obj


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode()


def parse(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """The value of JSON text; :class:`ValueError` for anything RFC 8259 does not allow.

    :class:`JsonTextError` (a :class:`ValueError`) when the text is not Unicode, holds
    a lone surrogate, nests deeper than ``max_depth`` or has an object holding a key
    twice (in any case). Bytes are read as UTF-8 (a
    leading byte order mark is ignored, as RFC 8259 8.1 allows).
    """
    text = _text(raw)
    try:
        value = json.loads(
            text, parse_constant=_no_constant, parse_float=_finite, object_pairs_hook=_object
        )
    except RecursionError:
        raise JsonTextError(_too_deep(max_depth)) from None
    # Both checks walk the value; the cheap counts below skip the walk for a body that
    # has no surrogate escape and fewer brackets than the limit (almost every body).
    deep = text.count("[") + text.count("{") > max_depth
    odd = "\\u" in text and _SURROGATE_ESCAPE.search(text) is not None
    if deep or odd:
        _check(value, max_depth)
    return value


def _text(raw: bytes | str) -> str:
    if isinstance(raw, str):
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise JsonTextError(
                f"character {exc.start + 1} of the body is a lone UTF-16 surrogate, "
                "which is not a Unicode character"
            ) from None
        return raw
    if raw.startswith(_UTF8_BOM):
        raw = raw[len(_UTF8_BOM) :]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonTextError(
            f"byte {exc.start + 1} of the body (0x{raw[exc.start]:02x}) is not UTF-8; "
            "send the body as UTF-8 (RFC 8259 8.1)"
        ) from None


def _too_deep(max_depth: int, where: str = "") -> str:
    at = f" (at '{where}')" if where else ""
    return (
        f"arrays and objects nest more than {max_depth} levels deep{at}; "
        "no SCIM message needs that many"
    )


def _check(value: Any, max_depth: int) -> None:
    """Walk ``value`` without recursion: nesting depth and lone surrogates."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            _check_string(item, path)
            continue
        if not isinstance(item, dict | list):
            continue
        if len(path) >= max_depth:
            raise JsonTextError(_too_deep(max_depth, label(path)))
        if isinstance(item, dict):
            for key, child in item.items():
                _check_string(key, (*path, key))
                stack.append((child, (*path, key)))
        else:
            stack.extend((child, (*path, n)) for n, child in enumerate(item))


def _check_string(text: str, path: tuple[str | int, ...]) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        escaped = text[exc.start].encode("utf-8", "backslashreplace").decode()
        raise JsonTextError(
            f"the string at '{label(path)}' holds a lone UTF-16 surrogate ({escaped}), "
            "which is not a Unicode character; escape a character beyond U+FFFF as a "
            "surrogate pair, or send it as UTF-8"
        ) from None


def is_unicode(text: str) -> bool:
    """Whether ``text`` is Unicode text: no lone UTF-16 surrogate (U+D800-U+DFFF),
    which JSON escapes can produce but no database stores alike nor any client reads."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def label(path: tuple[str | int, ...]) -> str:
    """A JSON location for a person: ``Operations[0].value.nickName``. Key text is
    shown with any lone surrogate escaped, so the label itself is always valid text."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            safe = part.encode("utf-8", "backslashreplace").decode()
            out += f".{safe}" if out else safe
    return out or "(the body)"


def encode(value: Any) -> bytes:
    """``value`` as UTF-8 JSON text (non-ASCII characters written as themselves)."""
    try:
        return orjson.dumps(value)
    except TypeError:  # an integer beyond 64 bits, or a lone surrogate (JSONEncodeError)
        text = json.dumps(value, ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        # A stored string with a lone surrogate (written before such input was refused,
        # or by an embedder's code): escaped as \\udXXX it is still JSON text any client
        # reads, so one odd value never takes a list page down.
        return json.dumps(value).encode()
