"""Checking and canonicalising the values a PATCH writes (RFC 7644 3.5.2, RFC 7643 2.2-2.4).

Values arrive with attribute names in any case and with IdP quirks; what leaves
here uses canonical names and JSON types that match the attribute definitions.
Only what an operation touches is checked: full validation of the resulting
resource is the service's job.

Conventions shared with the engine:

* Inside a complex value, a sub-attribute given as ``null`` or ``""`` is kept as
  ``None``: "unassign this sub-attribute" for a merge, dropped by :func:`compact`.
* Read-only sub-attributes inside a value (``manager.displayName``) are ignored,
  as RFC 7644 3.3 asks for read-only attributes in a request body; so are unknown
  ones (a member's ``displayName``, an email's ``label``), as in a POST or PUT body:
  IdPs send them (Microsoft's validator among them), and the body's rule is the
  value's (docs/protocol.md, "Unknown attributes"). A ``path`` naming an unknown
  attribute is still ``invalidPath``: the client asked for that attribute.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..compat import EMPTY_STRING_UNASSIGNS, MANAGER_BARE_STRING, Profile, boolean_from_string
from ..errors import InvalidValue
from ..schema.attributes import Attribute, AttributeType, Mutability

_STRINGLIKE = (
    AttributeType.STRING,
    AttributeType.REFERENCE,
    AttributeType.BINARY,
    AttributeType.DATETIME,
)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def is_blank(value: Any, profile: Profile) -> bool:
    """Whether a written value clears its target: ``null`` (RFC 7643 2.5) or ``""``.

    ``""`` only under rule ``entra.empty-string-unassigns`` (Entra ID's gallery
    checks and validator clear attributes with it); otherwise it is a string value.
    """
    return value is None or (value == "" and profile.allows(EMPTY_STRING_UNASSIGNS))


def is_unassigned(value: Any) -> bool:
    """RFC 7643 2.5: null, an empty array or an empty object mean "no value"."""
    return value is None or (isinstance(value, list | dict) and not value)


def coerce_simple(attr: Attribute, value: Any, label: str, profile: Profile) -> Any:
    """One value of a non-complex attribute, in the JSON type its definition names.

    Under rule ``entra.boolean-strings`` booleans also accept the strings
    ``"True"``/``"False"`` in any case: Entra ID's default (non-``aadOptscim062020``)
    mode sends ``"value": "False"`` for ``active``.
    """
    kind = attr.type
    if kind is AttributeType.BOOLEAN:
        if isinstance(value, bool):
            return value
        parsed = boolean_from_string(value, profile)
        if parsed is not None:
            return parsed
        expected = "a boolean"
    elif kind is AttributeType.INTEGER:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        expected = "an integer"
    elif kind is AttributeType.DECIMAL:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        expected = "a number"
    else:
        if isinstance(value, str):
            return value
        expected = "a string"
    raise InvalidValue(f"'{label}' expects {expected}, not {_json_type(value)}.")


def coerce_complex(attr: Attribute, value: Any, label: str, profile: Profile) -> dict[str, Any]:
    """One value of a complex attribute, keys canonical, blanks kept as ``None``.

    Under rule ``entra.manager-bare-string`` a bare string stands for
    ``{"value": ...}`` when the attribute has a ``value`` sub-attribute (Entra ID
    sends the enterprise ``manager`` this way); otherwise it is ``invalidValue``
    (RFC 7643 2.3.8: a complex value is an object).
    """
    if (
        isinstance(value, str)
        and attr.sub("value") is not None
        and profile.allows(MANAGER_BARE_STRING)
    ):
        value = {"value": value}
    if not isinstance(value, dict):
        raise InvalidValue(f"'{label}' expects an object, not {_json_type(value)}.")
    out: dict[str, Any] = {}
    for key, item in value.items():
        sub = attr.sub(str(key))
        if sub is None or sub.mutability is Mutability.READ_ONLY:
            continue
        name = f"{label}.{sub.name}"
        if is_blank(item, profile):
            out[sub.name] = None
        elif sub.multi_valued:
            items = item if isinstance(item, list) else [item]
            out[sub.name] = [
                coerce_simple(sub, v, name, profile) for v in items if not is_blank(v, profile)
            ] or None
        else:
            out[sub.name] = coerce_simple(sub, item, name, profile)
    return out


def coerce_one(attr: Attribute, value: Any, label: str, profile: Profile) -> Any:
    """One value (one element, for a multi-valued attribute) of ``attr``."""
    if attr.is_complex:
        return compact(coerce_complex(attr, value, label, profile))
    return coerce_simple(attr, value, label, profile)


def coerce_many(attr: Attribute, value: Any, label: str, profile: Profile) -> list[Any]:
    """The elements of a multi-valued attribute: a list, or one element on its own.

    Blank and vacant elements are dropped, exact duplicates collapsed, and more
    than one ``primary: true`` rejected (RFC 7643 2.4).
    """
    items = value if isinstance(value, list) else [value]
    out: list[Any] = []
    for item in items:
        if is_blank(item, profile):
            continue
        element = coerce_one(attr, item, label, profile)
        if attr.is_complex and is_vacant(attr, element):
            continue
        out.append(element)
    out = distinct(out)
    check_single_primary(attr, out, label)
    return out


def distinct(elements: Sequence[Any], after: Sequence[Any] = ()) -> list[Any]:
    """``elements`` without exact duplicates and without those already in ``after``,
    in order. Linear: comparing each element with every other one took 54 s for a
    PATCH adding 20,000 emails, and a client may send that."""
    seen = {_identity(e) for e in after}
    out = []
    for element in elements:
        key = _identity(element)
        if key not in seen:
            seen.add(key)
            out.append(element)
    return out


def _identity(value: Any) -> str:
    """A key equal for equal JSON values (object keys in any order)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def compact(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` without its unassigned sub-attributes."""
    return {k: v for k, v in value.items() if not is_unassigned(v)}


def is_vacant(attr: Attribute, element: dict[str, Any]) -> bool:
    """Whether a complex value carries nothing worth keeping.

    True when the attribute has a ``value`` sub-attribute and the element lacks
    it (``{"type": "work"}`` for an email), or when nothing but ``type`` and
    ``primary`` is left. Removing ``emails[type eq "work"].value`` therefore
    removes the work email rather than leaving a husk behind.
    """
    if attr.sub("value") is not None and "value" not in element:
        return True
    return not set(element) - {"type", "primary"}


def check_single_primary(attr: Attribute, elements: list[Any], label: str) -> None:
    """RFC 7643 2.4: ``primary: true`` appears at most once."""
    if attr.sub("primary") is None:
        return
    if sum(1 for e in elements if isinstance(e, dict) and e.get("primary") is True) > 1:
        raise InvalidValue(f"At most one element of '{label}' may be primary (RFC 7643 2.4).")


def same_value(attr: Attribute, left: Any, right: Any) -> bool:
    """Equality as SCIM compares values: strings ignore case unless ``caseExact``."""
    if isinstance(left, str) and isinstance(right, str) and not attr.case_exact:
        return left.lower() == right.lower()
    return bool(left == right)
