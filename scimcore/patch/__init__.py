"""SCIM PATCH (RFC 7644 3.5.2): the PatchOp message and its all-or-nothing application.

:func:`parse_patch_request` validates the message; :func:`apply_patch` applies
the operations to a copy of a resource and returns a :class:`PatchResult`, with
Group membership changes kept apart as :class:`MemberChanges`.

Tolerances for what identity providers really send are rules of an IdP profile
(:mod:`scimcore.compat`, ``docs/idp-profiles.md``); :func:`parse_patch_request` and
:func:`apply_patch` take the profile (default ``auto``: all of them). Each is tested
in ``tests/core/test_patch_idp_forms.py`` and, per profile, in
``tests/core/test_compat_rules.py``:

* ``op`` values in any case (Entra ID: ``Replace``) -- ``entra.op-case``. Message
  member names are case-insensitive in every profile (RFC 7643 2.1).
* A PatchOp without ``schemas`` (Okta) -- ``okta.patch-without-schemas``.
* No-path values with dotted or URN-qualified keys (Entra ID ``aadOptscim062020``)
  -- ``entra.dotted-patch-keys``.
* ``id``, ``meta`` and other read-only attributes inside a no-path value are
  ignored (Okta sends ``id`` when renaming a group) --
  ``okta.read-only-in-patch-value``. ``schemas`` there is always ignored.
* ``"True"``/``"False"`` strings for booleans (Entra ID default mode) --
  ``entra.boolean-strings``.
* A bare string for a complex attribute with a ``value`` sub-attribute names
  the whole value (Entra ID sends the manager's id this way) --
  ``entra.manager-bare-string``.
* ``""`` for an attribute or sub-attribute unassigns it, like ``null`` (Entra ID
  gallery "null/empty" checks; ``manager`` replaced with ``{"value": ""}``) --
  ``entra.empty-string-unassigns``.
* ``replace`` of ``attr[type eq x].sub`` with no matching element creates
  ``{type: x, sub: value}`` (Entra ID for a missing work email) --
  ``entra.create-missing-typed-value``. ``add`` does so in every profile
  (RFC 7644 3.5.2.1).
* ``remove`` with a path and a ``value`` array removes the listed elements
  (Entra ID's default member removal) -- ``entra.remove-with-value``.
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
