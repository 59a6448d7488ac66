"""IdP profiles: every identity-provider quirk the service tolerates, as a named rule.

RFC 7643/7644 are precise about what a client sends, and Okta and Microsoft Entra ID
do not always follow them (see ``docs/idp-profiles.md`` and the sources each rule
cites). Each deviation the service accepts is one :class:`Rule`; a :class:`Profile` is
a named, versioned set of rules, selected per organization
(:attr:`scimcore.storage.base.Organization.profile`):

==============================  ==========================================================
profile                         rules
==============================  ==========================================================
``auto`` (default)              every rule that cannot break an RFC-compliant client
``okta``                        what Okta's SCIM 2.0 client sends
``entra``                       what Entra ID sends, default (non-compliant) PATCH mode
``entra-aadOptscim062020``      what Entra ID still needs with the compliance flag
``rfc``                         none: strict RFC 7643/7644
==============================  ==========================================================

Each rule is checked at exactly one place in the engine, through
:meth:`Profile.allows`; with the rule off, the request gets the answer the RFC gives.
Profiles are versioned (``okta@1``): a change to what a profile accepts is a new
version, so an organization pinned to ``okta@1`` never changes behaviour silently,
while an unversioned name (``okta``) means the latest version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import InvalidValue

__all__ = [
    "AUTO",
    "BOOLEAN_STRINGS",
    "CREATE_MISSING_TYPED_VALUE",
    "DEFAULT_PROFILE",
    "DOTTED_PATCH_KEYS",
    "EMPTY_STRING_UNASSIGNS",
    "ENTRA_FLAG_PARAMETER",
    "MANAGER_BARE_STRING",
    "OP_CASE",
    "PATCH_WITHOUT_SCHEMAS",
    "PROFILES",
    "READ_ONLY_IN_PATCH_VALUE",
    "REMOVE_WITH_VALUE",
    "RFC",
    "RULES",
    "Profile",
    "Rule",
    "boolean_from_string",
    "canonical_profile_name",
    "get_profile",
    "profile_for_request",
    "profile_names",
]

_O1 = "https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20/"
_E1 = (
    "https://learn.microsoft.com/en-us/entra/identity/app-provisioning/"
    "use-scim-to-provision-users-and-groups"
)
_E2 = (
    "https://learn.microsoft.com/en-us/entra/identity/app-provisioning/"
    "application-provisioning-config-problem-scim-compatibility"
)
_E9 = (
    "https://learn.microsoft.com/en-us/answers/questions/2238842/"
    "microsoft-entra-id-scim-validator-test-failing-pat"
)
_E10 = "https://github.com/Captain-P-Goldfish/SCIM-SDK/issues/686"


@dataclass(frozen=True)
class Rule:
    """One tolerated deviation from RFC 7643/7644.

    ``accepts`` is what the rule lets through (the documented request); ``relaxes``
    quotes or names the RFC text it relaxes; ``rfc_answer`` is what the service
    answers when the rule is off (the ``rfc`` profile). ``breaks_rfc_clients`` is
    true when accepting the quirk would change the answer to a request an
    RFC-compliant client may send; such rules stay out of ``auto``.
    """

    id: str
    idp: str
    description: str
    accepts: str
    source: str
    relaxes: str
    rfc_answer: str
    breaks_rfc_clients: bool = False


OP_CASE = Rule(
    id="entra.op-case",
    idp="Entra ID (default mode)",
    description="PATCH 'op' values in any case.",
    accepts='{"op": "Replace", "path": "active", "value": false}',
    source=_E1,
    relaxes='RFC 7644 3.5.2: \'"op" ... MAY be one of "add", "remove", or "replace"\'.',
    rfc_answer="400 invalidSyntax: op must be exactly 'add', 'remove' or 'replace'.",
)

PATCH_WITHOUT_SCHEMAS = Rule(
    id="okta.patch-without-schemas",
    idp="Okta",
    description="A PatchOp message without 'schemas'.",
    accepts='{"Operations": [{"op": "replace", "value": {"displayName": "…"}}]}',
    source=_O1,
    relaxes=(
        'RFC 7644 3.5.2: \'The body of each request MUST contain the "schemas" attribute '
        'with the URI value of "urn:ietf:params:scim:api:messages:2.0:PatchOp"\'.'
    ),
    rfc_answer="400 invalidSyntax: 'schemas' must contain the PatchOp URI.",
)

READ_ONLY_IN_PATCH_VALUE = Rule(
    id="okta.read-only-in-patch-value",
    idp="Okta",
    description="readOnly attributes (id, meta, groups) inside a no-path PATCH value are ignored.",
    accepts='{"op": "replace", "value": {"id": "<group id>", "displayName": "…"}}',
    source=_O1,
    relaxes=(
        "RFC 7644 3.5.2: 'a client MUST NOT modify an attribute that has mutability "
        "\"readOnly\"' ... 'An operation that is not compatible with an attribute's "
        "mutability ... SHALL return the appropriate HTTP response status code'."
    ),
    rfc_answer="400 mutability: the value names a readOnly attribute.",
)

BOOLEAN_STRINGS = Rule(
    id="entra.boolean-strings",
    idp="Entra ID (default mode)",
    description=(
        'The strings "True"/"False" (any case) for a boolean, in PATCH values, '
        "POST/PUT bodies and filters."
    ),
    accepts='{"op": "Replace", "path": "active", "value": "False"}',
    source=_E2,
    relaxes=(
        'RFC 7643 2.3.2: \'The literal "true" or "false"\' (JSON true/false, RFC 7159); '
        "RFC 7644 3.4.2.2 compValue: false / null / true / number / string."
    ),
    rfc_answer="400 invalidValue (PATCH, POST, PUT) or 400 invalidFilter (filter).",
)

DOTTED_PATCH_KEYS = Rule(
    id="entra.dotted-patch-keys",
    idp="Entra ID (aadOptscim062020 mode)",
    description=(
        "Keys of a no-path PATCH value that are paths (name.givenName, "
        'urn:…:enterprise:2.0:User:employeeNumber, emails[type eq "work"].value).'
    ),
    accepts=(
        '{"op": "replace", "value": {"name.givenName": "Barbara", '
        '"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "42"}}'
    ),
    source=_E2,
    relaxes=(
        "RFC 7644 3.5.2.1/3.5.2.3: without 'path' the value 'MUST be a JSON object "
        "containing the attributes to be' added or replaced (attribute names, RFC 7643 "
        "2.1 ATTRNAME, contain no '.' or ':')."
    ),
    rfc_answer="400 invalidPath: a key of the value is a path, not an attribute name.",
)

REMOVE_WITH_VALUE = Rule(
    id="entra.remove-with-value",
    idp="Entra ID (default mode)",
    description="'remove' with a path and a 'value' array removes just the listed elements.",
    accepts='{"op": "Remove", "path": "members", "value": [{"value": "u1091"}]}',
    source=_E2,
    relaxes=(
        "RFC 7644 3.5.2.2: remove takes 'op' and 'path' only; 'If the target location is "
        "a multi-valued attribute and no filter is specified, the attribute and all "
        "values are removed'."
    ),
    rfc_answer=(
        "400 invalidValue: 'remove' takes no 'value' (the value is rejected rather than "
        "ignored, because ignoring it would remove every member)."
    ),
)

MANAGER_BARE_STRING = Rule(
    id="entra.manager-bare-string",
    idp="Entra ID",
    description=(
        'A bare string for a complex attribute with a "value" sub-attribute (manager, '
        'members) is read as {"value": …}.'
    ),
    accepts=(
        '{"op": "Add", "path": '
        '"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", '
        '"value": "<id>"}'
    ),
    source=_E10,
    relaxes=(
        "RFC 7643 4.3: manager is a complex attribute; RFC 7643 2.3.8: a complex "
        "attribute's value is a JSON object of sub-attributes."
    ),
    rfc_answer="400 invalidValue: the attribute expects an object.",
)

EMPTY_STRING_UNASSIGNS = Rule(
    id="entra.empty-string-unassigns",
    idp="Entra ID (gallery checks, SCIM Validator)",
    description=(
        'An empty string "" written by PATCH unassigns the attribute or sub-attribute '
        '(manager replaced with {"value": ""}).'
    ),
    accepts=(
        '{"op": "replace", "path": '
        '"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", '
        '"value": {"value": ""}}'
    ),
    source=_E9,
    relaxes=(
        "RFC 7643 2.5: only 'Unassigned attributes, the null value, or empty array' are "
        'equivalent; "" is a string value.'
    ),
    rfc_answer='"" is stored as an empty string (null still unassigns, RFC 7643 2.5).',
)

CREATE_MISSING_TYPED_VALUE = Rule(
    id="entra.create-missing-typed-value",
    idp="Entra ID (and its SCIM Validator)",
    description=(
        'replace of attr[type eq "x"].sub with no element of that type creates '
        '{"type": "x", sub: value}.'
    ),
    accepts=(
        '{"op": "Replace", "path": "emails[type eq \\"work\\"].value", '
        '"value": "babs@contoso.com"} for a user without a work email'
    ),
    source=_E1,
    relaxes=(
        "RFC 7644 3.5.2.3: 'If the target location path specifies an attribute that does "
        'not exist, the service provider SHALL treat the operation as an "add"\' applies '
        "to attributes; a value filter that matches nothing is 'noTarget'."
    ),
    rfc_answer="400 noTarget: no element matches the filter.",
)

#: Every rule, in documentation order.
RULES: tuple[Rule, ...] = (
    OP_CASE,
    PATCH_WITHOUT_SCHEMAS,
    READ_ONLY_IN_PATCH_VALUE,
    BOOLEAN_STRINGS,
    DOTTED_PATCH_KEYS,
    REMOVE_WITH_VALUE,
    MANAGER_BARE_STRING,
    EMPTY_STRING_UNASSIGNS,
    CREATE_MISSING_TYPED_VALUE,
)
_RULES_BY_ID = {rule.id: rule for rule in RULES}


@dataclass(frozen=True)
class Profile:
    """A named, versioned set of :class:`Rule` ids (see the module docstring)."""

    name: str
    version: int
    rules: frozenset[str]
    description: str = ""

    def __post_init__(self) -> None:
        unknown = sorted(self.rules - set(_RULES_BY_ID))
        if unknown:
            raise ValueError(f"Profile {self.name}@{self.version} names unknown rules {unknown}.")

    @property
    def key(self) -> str:
        """``name@version``: the exact, pinned name of this profile."""
        return f"{self.name}@{self.version}"

    def allows(self, rule: Rule) -> bool:
        """Whether this profile tolerates ``rule``."""
        return rule.id in self.rules


def _ids(*rules: Rule) -> frozenset[str]:
    return frozenset(r.id for r in rules)


AUTO = Profile(
    "auto",
    1,
    _ids(*(r for r in RULES if not r.breaks_rfc_clients)),
    "Default: every documented quirk that cannot break an RFC-compliant client.",
)
OKTA = Profile(
    "okta",
    1,
    _ids(PATCH_WITHOUT_SCHEMAS, READ_ONLY_IN_PATCH_VALUE),
    "Okta Lifecycle Management (SCIM 2.0 app integrations).",
)
ENTRA = Profile(
    "entra",
    1,
    _ids(
        OP_CASE,
        BOOLEAN_STRINGS,
        REMOVE_WITH_VALUE,
        DOTTED_PATCH_KEYS,
        MANAGER_BARE_STRING,
        EMPTY_STRING_UNASSIGNS,
        CREATE_MISSING_TYPED_VALUE,
    ),
    "Entra ID in its default (non-compliant) PATCH mode. Includes the forms of the "
    "aadOptscim062020 mode too: the flag can be switched on at any time and a server "
    "'must accept both columns'.",
)
ENTRA_COMPLIANT = Profile(
    "entra-aadOptscim062020",
    1,
    _ids(
        DOTTED_PATCH_KEYS,
        MANAGER_BARE_STRING,
        EMPTY_STRING_UNASSIGNS,
        CREATE_MISSING_TYPED_VALUE,
    ),
    "Entra ID with the aadOptscim062020 compliance flag: only what that mode still sends.",
)
RFC = Profile("rfc", 1, frozenset(), "Strict RFC 7643/7644: no quirks.")

#: Every version of every profile; the highest version of a name is its latest.
PROFILES: tuple[Profile, ...] = (AUTO, OKTA, ENTRA, ENTRA_COMPLIANT, RFC)
DEFAULT_PROFILE = AUTO.name

#: The query parameter Entra ID's compliance flag adds to the tenant URL.
ENTRA_FLAG_PARAMETER = "aadOptscim062020"


def profile_names() -> list[str]:
    """Every name :func:`get_profile` accepts: each profile, unversioned and pinned."""
    latest = sorted({p.name for p in PROFILES})
    return latest + sorted(p.key for p in PROFILES)


def get_profile(name: str | None) -> Profile:
    """The profile ``name`` (``okta``: latest version; ``okta@1``: that version).

    Names are matched case-insensitively; ``None`` or ``""`` is the default
    (``auto``). An unknown name raises :class:`~scimcore.errors.InvalidValue`
    listing the known ones.
    """
    text = (name or DEFAULT_PROFILE).strip().lower()
    base, at, version = text.partition("@")
    candidates = [p for p in PROFILES if p.name.lower() == base]
    if at:
        candidates = [p for p in candidates if str(p.version) == version]
    if not candidates:
        raise InvalidValue(
            f"Unknown IdP profile {name!r}; known profiles: {', '.join(profile_names())}."
        )
    return max(candidates, key=lambda p: p.version)


def canonical_profile_name(name: str | None) -> str:
    """``name`` checked (see :func:`get_profile`) and spelled canonically.

    What stores keep: ``OKTA`` becomes ``okta`` (the latest version, whatever it
    is when a request arrives), ``okta@1`` stays pinned to version 1.
    """
    profile = get_profile(name)
    return profile.key if "@" in (name or "") else profile.name


def profile_for_request(configured: Profile, query: Mapping[str, str] | None) -> Profile:
    """The profile for one request of an organization configured with ``configured``.

    Entra ID's compliance flag travels as ``?aadOptscim062020`` on the tenant URL
    [E2]; a request carrying it, for an organization on ``entra`` or ``auto``, is
    answered with ``entra-aadOptscim062020`` (of the same version line: the
    latest). Other profiles are explicit choices and are kept.
    """
    if not query or not any(k.lower() == ENTRA_FLAG_PARAMETER.lower() for k in query):
        return configured
    if configured.name in (ENTRA.name, AUTO.name):
        return get_profile(ENTRA_COMPLIANT.name)
    return configured


def boolean_from_string(value: object, profile: Profile) -> bool | None:
    """``"True"``/``"False"`` (any case, surrounding spaces ignored) as a boolean.

    The one place rule ``entra.boolean-strings`` is checked, for PATCH values
    (:mod:`scimcore.patch.values`), POST/PUT bodies
    (:mod:`scimcore.schema.serializers`) and filters (:mod:`scimcore.filters.parser`).
    ``None`` when ``value`` is not such a string or ``profile`` does not allow it:
    the caller then answers as RFC 7643 2.3.2 requires (a JSON boolean).
    """
    if not isinstance(value, str) or not profile.allows(BOOLEAN_STRINGS):
        return None
    text = value.strip().lower()
    if text in ("true", "false"):
        return text == "true"
    return None
