"""The PatchOp request message (RFC 7644 3.5.2) and its validation.

:func:`parse_patch_request` turns the JSON body of a PATCH into
:class:`PatchOperation` values. It checks the message, not the resource type:
paths and values are checked when the operations are applied (see
:mod:`scimcore.patch.engine`), because only then is the target known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from ..compat import AUTO, OP_CASE, PATCH_WITHOUT_SCHEMAS, REMOVE_WITH_VALUE, Profile
from ..errors import InvalidPath, InvalidSyntax, InvalidValue, PayloadTooLarge

PATCH_OP_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

#: Most operations in one PATCH, as ``maxOperations`` bounds a Bulk request: IdPs send a
#: few, and each costs a path parse, so a bound keeps any PATCH cheap to refuse.
MAX_PATCH_OPERATIONS = 1000

OpName: TypeAlias = Literal["add", "replace", "remove"]
_OPS: dict[str, OpName] = {"add": "add", "replace": "replace", "remove": "remove"}


@dataclass(frozen=True)
class PatchOperation:
    """One element of ``Operations`` (RFC 7644 3.5.2).

    ``op`` is lower-cased (Entra ID sends ``Add``/``Replace``/``Remove``).
    ``value`` is ``None`` both when a ``remove`` carries no value and when an
    ``add``/``replace`` explicitly sends ``null``, which the engine treats as
    "unassign the attribute".
    """

    op: OpName
    path: str | None = None
    value: Any = None


def _lower_keys(obj: dict[Any, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in obj.items()}


def parse_patch_request(body: Any, profile: Profile = AUTO) -> list[PatchOperation]:
    """Validate a PatchOp message and return its operations, in order.

    RFC 7644 3.5.2: the body MUST carry the PatchOp schema URI and a non-empty
    ``Operations`` array; each operation has an ``op`` of add, replace or remove
    and an optional ``path``; ``add`` and ``replace`` need a ``value``. Member
    names (``Operations``, ``op``, ``path``, ``value``) are matched
    case-insensitively (RFC 7643 2.1). Rules of ``profile``
    (:mod:`scimcore.compat`) checked here:

    * ``entra.op-case``: ``op`` values in any case (Entra ID sends ``Replace``);
      off, anything but ``add``/``remove``/``replace`` is ``invalidSyntax``.
    * ``okta.patch-without-schemas``: a body with no ``schemas`` at all (Okta's
      documented group PATCH); off, it is ``invalidSyntax``. A ``schemas`` that is
      present but lacks the PatchOp URI is always rejected.
    * ``entra.remove-with-value``: ``remove`` carrying a ``value`` (Entra ID's
      default member removal); off, ``invalidValue`` rather than silently removing
      every element of the path.
    """
    if not isinstance(body, dict):
        raise InvalidSyntax("A PATCH body must be a JSON object (RFC 7644 3.5.2).")
    message = _lower_keys(body)
    if "schemas" not in message and not profile.allows(PATCH_WITHOUT_SCHEMAS):
        raise InvalidSyntax(
            f"A PATCH body must have 'schemas': ['{PATCH_OP_SCHEMA}'] (RFC 7644 3.5.2; "
            f"IdP profile '{profile.key}')."
        )
    schemas = message.get("schemas", [PATCH_OP_SCHEMA])
    if not isinstance(schemas, list) or not any(
        isinstance(s, str) and s.lower() == PATCH_OP_SCHEMA.lower() for s in schemas
    ):
        raise InvalidSyntax(f"A PATCH body's 'schemas' must contain '{PATCH_OP_SCHEMA}'.")
    raw_ops = message.get("operations")
    if not isinstance(raw_ops, list) or not raw_ops:
        raise InvalidSyntax("A PATCH body needs 'Operations': a non-empty array of operations.")
    if len(raw_ops) > MAX_PATCH_OPERATIONS:
        raise PayloadTooLarge(
            f"The PATCH has {len(raw_ops):,} operations; at most {MAX_PATCH_OPERATIONS:,} "
            "are accepted in one request: send the rest in another."
        )
    return [_parse_operation(i, raw, profile) for i, raw in enumerate(raw_ops)]


def _parse_operation(index: int, raw: Any, profile: Profile) -> PatchOperation:
    where = f"Operations[{index}]"
    if not isinstance(raw, dict):
        raise InvalidSyntax(f"{where} must be an object with 'op', 'path' and 'value'.")
    fields = _lower_keys(raw)
    name = fields.get("op")
    op = None
    if isinstance(name, str):
        op = _OPS.get(name.lower() if profile.allows(OP_CASE) else name)
    if op is None:
        hint = ""
        if isinstance(name, str) and name.lower() in _OPS:
            hint = f", in lower case (IdP profile '{profile.key}')"
        raise InvalidSyntax(
            f"{where}.op must be 'add', 'replace' or 'remove'{hint}, not {name!r} (RFC 7644 3.5.2)."
        )
    path = fields.get("path")
    if path is not None and not isinstance(path, str):
        raise InvalidPath(f"{where}.path must be a string.")
    if path is not None and not path.strip():
        path = None
    if op != "remove" and "value" not in fields:
        raise InvalidValue(f"{where} ('{op}') needs a 'value' (RFC 7644 3.5.2.1, 3.5.2.3).")
    value = fields.get("value")
    if (
        op == "remove"
        and value is not None
        and value != []
        and value != {}
        and not profile.allows(REMOVE_WITH_VALUE)
    ):
        raise InvalidValue(
            f"{where}: 'remove' takes a 'path' and no 'value' (RFC 7644 3.5.2.2); to remove "
            "some elements use a value filter, e.g. 'members[value eq \"<id>\"]' "
            f"(IdP profile '{profile.key}')."
        )
    return PatchOperation(op, path, value)
