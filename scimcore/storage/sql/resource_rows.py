"""How a resource becomes its ``resources`` row and back: the indexed columns, the
stored and the case-folded documents, the checks that make both databases refuse the
same values (NUL, lone surrogates, over-long keys), and a User's groups and a Group's
members as the store returns them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from ...errors import InvalidValue
from ...jsontext import is_unicode
from ...schema.attributes import ResourceType
from ...schema.declare import unique_attribute
from ..base import Member, Resource
from .tables import MAX_KEY_LENGTH


def fold(value: Any) -> Any:
    """``value`` with every string lowered by Python (the ``folded`` document)."""
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, dict):
        return {k: fold(v) for k, v in value.items()}
    if isinstance(value, list):
        return [fold(v) for v in value]
    return value


def unique_names(resource_types: Sequence[ResourceType]) -> dict[str, str | None]:
    """Resource type -> the attribute the ``name_key`` unique index keeps unique."""
    return {rt.id: unique_attribute(rt) for rt in resource_types}


def cells(row: Any, n: int) -> tuple[Any, ...]:
    cells = tuple(row)
    assert len(cells) == n
    return cells


def with_groups(data: Any, groups: Any) -> Resource:
    """A User from its stored document and its :attr:`~.statements.Statements.user_groups`."""
    resource: Resource = dict(data)
    resource.pop("groups", None)
    if isinstance(groups, str):  # SQLite returns the JSON text
        groups = json.loads(groups) if groups != "[]" else None
    if groups:
        if len(groups) > 1:
            groups.sort(key=lambda pair: str(pair[0]))
        resource["groups"] = [
            {"value": gid, "display": name, "type": "direct"} for gid, name in groups
        ]
    return resource


def as_member(entry: Any) -> Member:
    if isinstance(entry, Member):
        return entry
    if not isinstance(entry, dict) or not isinstance(entry.get("value"), str):
        raise InvalidValue("Every member needs a string 'value' (the id of a User or Group).")
    display = entry.get("display")
    return Member(
        entry["value"],
        str(entry.get("type") or "User"),
        display if isinstance(display, str) and display else None,
    )


def email_keys(resource: Resource) -> list[str]:
    emails = resource.get("emails")
    if not isinstance(emails, list):
        return []
    keys = (
        e["value"].lower()
        for e in emails
        if isinstance(e, dict) and isinstance(e.get("value"), str)
    )
    return list(dict.fromkeys(keys))


def any_string(value: Any, test: Callable[[str], bool]) -> bool:
    """Whether ``test`` holds for a string anywhere in ``value`` (keys included)."""
    if isinstance(value, str):
        return test(value)
    if isinstance(value, dict):
        return any(test(k) or any_string(v, test) for k, v in value.items())
    if isinstance(value, list):
        return any(any_string(v, test) for v in value)
    return False


def has_nul(text: str) -> bool:
    return "\x00" in text


def has_lone_surrogate(text: str) -> bool:
    return not is_unicode(text)


def storable(text: str) -> bool:
    """Whether both databases store ``text`` alike: no NUL, no lone surrogate."""
    return "\x00" not in text and is_unicode(text)


# json.dumps writes every character beyond ASCII as \uXXXX, one beyond U+FFFF as an
# escaped surrogate pair; a lone surrogate is one of these escapes too.
_SURROGATE_ESCAPE = re.compile(r"\\ud[89a-f]")


def check_key_lengths(resource_type: str, keys: dict[str, Any], email_keys: list[str]) -> None:
    """Refuse a value longer than :data:`.tables.MAX_KEY_LENGTH` in an indexed column,
    naming the attribute and the limit: the same answer on SQLite and PostgreSQL."""
    values = [(name, v) for name, v in keys.items() if name and isinstance(v, str)]
    values += [("emails.value", key) for key in email_keys]
    for name, value in values:
        if len(value) > MAX_KEY_LENGTH:
            raise InvalidValue(
                f"'{name}' of the {resource_type} is {len(value):,} characters long; "
                f"the limit is {MAX_KEY_LENGTH} (the value is indexed)."
            )


def row_values(
    resource_type: str, resource: Resource, names: dict[str, str | None]
) -> tuple[dict[str, Any], str]:
    """Column values for ``resource`` (everything but organization and resource type),
    and the stored document as JSON text."""
    if resource_type not in names:
        raise InvalidValue(f"Unknown resource type '{resource_type}'.")
    id = resource.get("id")
    attr = names[resource_type]
    name = resource.get(attr) if attr else None
    if not isinstance(id, str) or not id:
        raise InvalidValue(f"The {resource_type} has no id.")
    if attr and not isinstance(name, str):
        raise InvalidValue(f"The {resource_type} needs a string '{attr}'.")
    text = json.dumps({k: v for k, v in resource.items() if k not in ("members", "groups")})
    data = json.loads(text)
    if "\\u0000" in text and any_string(data, has_nul):
        # PostgreSQL refuses it (text and jsonb), SQLite would keep it: refused on both.
        raise InvalidValue(
            f"The {resource_type} has a string with a NUL character (U+0000), which "
            "cannot be stored; remove it."
        )
    if _SURROGATE_ESCAPE.search(text) and any_string(data, has_lone_surrogate):
        # Not a character: PostgreSQL refuses it, SQLite kept it and no response could
        # carry it. The SCIM service refuses it in the request body already.
        raise InvalidValue(
            f"The {resource_type} has a string with a lone UTF-16 surrogate, which is not "
            "a Unicode character and cannot be stored; send valid text."
        )
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    display = resource.get("displayName")
    external_id = resource.get("externalId")
    check_key_lengths(
        resource_type,
        {attr or "": name, "displayName": display, "externalId": external_id},
        email_keys(resource),
    )
    active = resource.get("active")
    version = meta.get("version")
    return {
        "id": id,
        "name": name,
        "name_key": name.lower() if isinstance(name, str) else None,
        "display_name": display if isinstance(display, str) and display else None,
        "display_key": display.lower() if isinstance(display, str) else None,
        "external_id": external_id if isinstance(external_id, str) else None,
        "active": active if resource_type == "User" and isinstance(active, bool) else None,
        "created": str(meta.get("created") or ""),
        "last_modified": str(meta.get("lastModified") or meta.get("created") or ""),
        "version": version if isinstance(version, str) else None,
        "data": data,
        "folded": fold(data),
    }, text
