"""Index paging and the ListResponse message (RFC 7644 3.4.2.4 and 3.4.2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InvalidValue

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


@dataclass(frozen=True)
class PageRequest:
    start_index: int
    count: int

    @classmethod
    def parse(
        cls, start_index: Any, count: Any, *, default_count: int, max_count: int
    ) -> PageRequest:
        """Normalise the parameters as RFC 7644 3.4.2.4 says.

        A ``startIndex`` below 1 is read as 1; a negative ``count`` as 0; a ``count``
        above the advertised maximum is capped at it ("SHALL NOT return more
        results than specified"). Non-integers are 400 invalidValue.
        """
        start = _integer("startIndex", start_index, 1)
        size = _integer("count", count, default_count)
        return cls(max(start, 1), min(max(size, 0), max_count))


def _integer(name: str, value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise InvalidValue(f"'{name}' must be an integer, got {value!r}.")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise InvalidValue(f"'{name}' must be an integer, got {value!r}.") from None


def list_response(
    resources: Sequence[dict[str, Any]], total: int, start_index: int
) -> dict[str, Any]:
    """A ListResponse; paging fields are integers (Okta insists) and ``Resources``
    is always present, even when empty (clients index into it unconditionally)."""
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": len(resources),
        "Resources": list(resources),
    }
