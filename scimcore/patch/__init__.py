"""SCIM PATCH (RFC 7644 3.5.2): the PatchOp message and its all-or-nothing application.

:func:`parse_patch_request` validates the message; :func:`apply_patch` applies
the operations to a copy of a resource and returns a :class:`PatchResult`, with
Group membership changes kept apart as :class:`MemberChanges`.

Tolerances for what identity providers really send (each one tested in
``tests/core/test_patch_idp_forms.py``):

* ``op`` values and message member names in any case (Entra ID: ``Replace``).
* No-path values with dotted or URN-qualified keys (Entra ID ``aadOptscim062020``).
* ``id``, ``meta``, ``schemas`` and other read-only attributes inside a no-path
  value are ignored (Okta sends ``id`` when renaming a group).
* ``"True"``/``"False"`` strings for booleans (Entra ID default mode).
* A bare string for a complex attribute with a ``value`` sub-attribute names
  the whole value (Entra ID sends the manager's id this way).
* ``null`` or ``""`` for a single-valued attribute unassigns it (Entra ID
  gallery "null/empty" checks; ``manager`` replaced with ``{"value": ""}``).
* ``add``/``replace`` of ``attr[a eq x and b eq y].sub`` with no matching element
  create ``{a: x, b: y, sub: value}`` (Entra ID and Okta for a missing work email).
* ``remove`` with a path and a ``value`` array removes the listed elements
  (Entra ID's default member removal).
"""

from .engine import PatchResult, apply_patch
from .members import MemberChanges
from .request import PATCH_OP_SCHEMA, PatchOperation, parse_patch_request

__all__ = [
    "PATCH_OP_SCHEMA",
    "MemberChanges",
    "PatchOperation",
    "PatchResult",
    "apply_patch",
    "parse_patch_request",
]
