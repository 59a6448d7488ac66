"""Index paging and the ListResponse message (RFC 7644 3.4.2.4 and 3.4.2)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InvalidCursor, InvalidValue
from .jsontext import is_unicode
from .storage.base import Keyset

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
#: The largest ``startIndex``: a larger one is read as this one, a 32-bit signed
#: integer that clients' int types and every store's OFFSET take. Such a page is empty
#: either way; the response's ``startIndex`` says which index was used instead of
#: echoing an unbounded number back.
MAX_START_INDEX = 2**31 - 1
#: An integer in a query string: ASCII digits only. ``int()`` also reads Arabic-Indic
#: and fullwidth digits (U+0661, U+FF11), which no other reader of the URL would.
_ASCII_INTEGER = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class PageRequest:
    start_index: int
    count: int

    @classmethod
    def parse(
        cls,
        start_index: Any,
        count: Any,
        *,
        default_count: int,
        max_count: int,
        from_json: bool = False,
    ) -> PageRequest:
        """Normalise the parameters as RFC 7644 3.4.2.4 says.

        A ``startIndex`` below 1 is read as 1; a negative ``count`` as 0; a ``count``
        above the advertised maximum is capped at it ("SHALL NOT return more
        results than specified"), a ``startIndex`` above :data:`MAX_START_INDEX` at
        it. Anything but an integer is 400 invalidValue: in a query string, ASCII
        digits (an optional sign, at most 100 digits); in a SearchRequest
        (``from_json``), a JSON integer, not a string.
        """
        start = _integer("startIndex", start_index, 1, from_json)
        size = _integer("count", count, default_count, from_json)
        return cls(min(max(start, 1), MAX_START_INDEX), min(max(size, 0), max_count))


def _integer(name: str, value: Any, default: int, from_json: bool) -> int:
    if value is None or (value == "" and not from_json):
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = value.strip() if isinstance(value, str) and not from_json else ""
    if _ASCII_INTEGER.fullmatch(text):
        if len(text) > 100:
            raise InvalidValue(f"'{name}' has more than 100 digits.")
        return int(text)
    shown = str(value)[:40].encode("ascii", "backslashreplace").decode()
    kind = "a JSON integer" if from_json else "an integer written in ASCII digits"
    raise InvalidValue(f"'{name}' must be {kind}, not {shown!r}.")


def list_response(
    resources: Sequence[dict[str, Any]],
    total: int,
    start_index: int | None,
    next_cursor: str | None = None,
) -> dict[str, Any]:
    """A ListResponse; paging fields are integers (Okta insists) and ``Resources``
    is always present, even when empty (clients index into it unconditionally).
    Cursor pages (``start_index`` None) carry ``nextCursor`` unless they are the last."""
    body: dict[str, Any] = {"schemas": [LIST_RESPONSE], "totalResults": total}
    if start_index is not None:
        body["startIndex"] = start_index
    body["itemsPerPage"] = len(resources)
    if next_cursor is not None:
        body["nextCursor"] = next_cursor
    body["Resources"] = list(resources)
    return body


def query_fingerprint(*parts: str | None) -> str:
    """A short digest of the query a cursor belongs to (RFC 9865 2: later pages must
    repeat the first request's parameters)."""
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]


def encode_cursor(position: Keyset, fingerprint: str) -> str:
    """An opaque cursor of RFC 3986 unreserved characters (base64url, no padding)."""
    raw = json.dumps([position.key, position.id, fingerprint], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, fingerprint: str) -> Keyset | None:
    """The position a cursor names; ``None`` for the empty first-page cursor."""
    if not cursor.strip():
        return None
    forged = InvalidCursor(f"The cursor '{_quote(cursor)}' was not issued by this service.")
    try:
        raw = base64.urlsafe_b64decode(cursor.strip() + "=" * (-len(cursor.strip()) % 4))
        key, id, fp = json.loads(raw)
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise forged from None
    if fp != fingerprint:
        raise InvalidCursor(
            "The cursor belongs to a different query: repeat the filter, sortBy and "
            "sortOrder of the request that returned it."
        )
    if not (isinstance(id, str) and 0 < len(id) <= MAX_ID_LENGTH and _is_position_part(id)):
        raise forged
    if key is not None and not _is_position_part(key):
        raise forged
    return Keyset(key, id)


#: The longest resource id a store issues (the SQL store's id column holds 64).
MAX_ID_LENGTH = 64


def _is_position_part(value: Any) -> bool:
    """Whether ``value`` is something a store's cursor holds: a sort key (a string, a
    64-bit integer, a finite number, a boolean) or an id. A cursor is base64 JSON a
    client can forge; what it holds reaches the database as a parameter, so a string
    with NUL or a lone surrogate (which the databases refuse differently) is refused."""
    if isinstance(value, str):
        return "\x00" not in value and is_unicode(value)
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, float) and math.isfinite(value)


def _quote(cursor: str) -> str:
    """At most 40 characters of a cursor, for an error detail."""
    return cursor.strip()[:40].encode("ascii", "backslashreplace").decode()
