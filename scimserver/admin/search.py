"""The console's search box: a plain word, or a SCIM filter (RFC 7644 3.4.2.2).

A plain word becomes ``userName sw "w" or displayName sw "w"`` (Groups:
``displayName sw "w"``), so both forms run through the same filter engine and the
same store query as the SCIM API. A prefix, not a substring (``co``): each ``sw`` is
a range over an index of the resources table, and an OR of such ranges is read as a
few index ranges, where ``co`` reads every user of a million. Emails are left out: an
OR that also looks into another table (``resource_emails``) cannot be read that way,
and the user name is the email address for Okta and Entra ID. The hint under the box
says all this; ``emails sw "w"`` or ``userName co "w"`` is one filter away."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from scimcore import InvalidFilter, ScimError
from scimcore.compat import get_profile
from scimcore.filters import Filter, parse_filter
from scimcore.paths import resolve
from scimcore.schema.attributes import ResourceType
from scimcore.storage.base import Sort

#: Words that make the text a SCIM filter rather than a plain word.
_FILTER_SYNTAX = re.compile(
    r"\b(eq|ne|co|sw|ew|gt|ge|lt|le|pr|and|or|not)\b|[\[\]()\"]", re.IGNORECASE
)
WORD_ATTRIBUTES = {
    "User": ("userName", "displayName"),
    "Group": ("displayName",),
}
SORTABLE = {
    "User": {
        "userName": "userName",
        "displayName": "displayName",
        "created": "meta.created",
        "modified": "meta.lastModified",
    },
    "Group": {
        "displayName": "displayName",
        "created": "meta.created",
        "modified": "meta.lastModified",
    },
}


@dataclass(frozen=True)
class Search:
    filter: Filter | None
    error: str | None = None
    is_filter: bool = False


def parse_search(
    text: str, rt: ResourceType, profile: str | None, *, also: str | None = None
) -> Search:
    """The filter for ``text``, and ``also`` (a filter of the page's own, as the status
    choice's ``active eq false``) when given; a malformed filter gives ``error`` (never
    raises)."""
    text = text.strip()
    if not text and also is None:
        return Search(None)

    def both(clause: str) -> str:
        return f"({clause}) and {also}" if also is not None else clause

    if not text:
        assert also is not None
        return Search(parse_filter(also, rt, get_profile(profile)))
    if _FILTER_SYNTAX.search(text):
        try:
            return Search(parse_filter(both(text), rt, get_profile(profile)), is_filter=True)
        except InvalidFilter as exc:
            return Search(None, exc.detail, is_filter=True)
    word = json.dumps(text)
    clause = " or ".join(f"{a} sw {word}" for a in WORD_ATTRIBUTES.get(rt.id, ("displayName",)))
    try:
        return Search(parse_filter(both(clause), rt, get_profile(profile)))
    except ScimError as exc:  # pragma: no cover - a quoted word always parses
        return Search(None, exc.detail)


def parse_sort(key: str, rt: ResourceType, descending: bool) -> Sort | None:
    path = SORTABLE.get(rt.id, {}).get(key)
    if path is None:
        return None
    return Sort(resolve(rt, path, implicit_value=True), descending)
