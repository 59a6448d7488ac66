"""The User, EnterpriseUser and Group schemas of RFC 7643 (sections 3.1, 4 and 8.7), as data."""

from __future__ import annotations

from .attributes import (
    Attribute,
    AttributeType,
    Mutability,
    ResourceType,
    Returned,
    Schema,
    SchemaExtension,
    Uniqueness,
)

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

S = AttributeType.STRING
B = AttributeType.BOOLEAN
REF = AttributeType.REFERENCE
C = AttributeType.COMPLEX
DT = AttributeType.DATETIME
RO = Mutability.READ_ONLY


def _s(name: str, description: str = "", **kw: object) -> Attribute:
    return Attribute(name=name, type=S, description=description, **kw)  # type: ignore[arg-type]


def _multi(
    name: str,
    description: str,
    types: tuple[str, ...],
    *,
    value_type: AttributeType = S,
    value_required: bool = False,
    extra: tuple[Attribute, ...] = (),
    reference_types: tuple[str, ...] = (),
) -> Attribute:
    """A multi-valued complex attribute with the RFC 7643 2.4 default sub-attributes."""
    value = Attribute(
        "value",
        value_type,
        description=f"The value of the {name} entry.",
        required=value_required,
        reference_types=reference_types,
    )
    subs: tuple[Attribute, ...] = (
        value,
        _s("display", "A human-readable name, primarily for display."),
        _s("type", f"A label indicating the {name} entry's function.", canonical_values=types),
        Attribute("primary", B, description="Whether this is the primary value."),
        *extra,
    )
    return Attribute(name, C, multi_valued=True, description=description, sub_attributes=subs)


# RFC 7643 3.1: attributes common to every resource, whatever its schema.
ID = Attribute(
    "id",
    S,
    description="Unique identifier assigned by the service provider.",
    case_exact=True,
    mutability=RO,
    returned=Returned.ALWAYS,
    uniqueness=Uniqueness.SERVER,
)
EXTERNAL_ID = Attribute(
    "externalId",
    S,
    description="Identifier assigned by the provisioning client.",
    case_exact=True,
)
META = Attribute(
    "meta",
    C,
    description="Resource metadata.",
    mutability=RO,
    sub_attributes=(
        Attribute("resourceType", S, case_exact=True, mutability=RO),
        Attribute("created", DT, mutability=RO),
        Attribute("lastModified", DT, mutability=RO),
        Attribute("location", REF, case_exact=True, mutability=RO, reference_types=("uri",)),
        Attribute("version", S, case_exact=True, mutability=RO),
    ),
)
COMMON_ATTRIBUTES: tuple[Attribute, ...] = (ID, EXTERNAL_ID, META)

USER = Schema(
    id=USER_SCHEMA,
    name="User",
    description="User Account",
    attributes=(
        Attribute(
            "userName",
            S,
            required=True,
            uniqueness=Uniqueness.SERVER,
            description="Unique identifier for the User, used to authenticate; unique per "
            "organization and compared case-insensitively.",
        ),
        Attribute(
            "name",
            C,
            description="The components of the user's real name.",
            sub_attributes=(
                _s("formatted", "The full name, formatted for display."),
                _s("familyName", "The family name (last name)."),
                _s("givenName", "The given name (first name)."),
                _s("middleName", "The middle name(s)."),
                _s("honorificPrefix", "The honorific prefix(es), e.g. 'Ms.'."),
                _s("honorificSuffix", "The honorific suffix(es), e.g. 'III'."),
            ),
        ),
        _s("displayName", "The name of the User, suitable for display to end-users."),
        _s("nickName", "The casual way to address the user."),
        Attribute(
            "profileUrl",
            REF,
            reference_types=("external",),
            description="A URI of the user's online profile.",
        ),
        _s("title", "The user's title, such as 'Vice President'."),
        _s("userType", "The relationship between the organization and the user."),
        _s("preferredLanguage", "The preferred written or spoken language (RFC 7231 5.3.5)."),
        _s("locale", "The default location for localization, e.g. 'en-US'."),
        _s("timezone", "The time zone in IANA format, e.g. 'America/Los_Angeles'."),
        Attribute("active", B, description="The user's administrative status."),
        Attribute(
            "password",
            S,
            mutability=Mutability.WRITE_ONLY,
            returned=Returned.NEVER,
            description="The user's cleartext password; write-only and never returned.",
        ),
        _multi("emails", "Email addresses for the user.", ("work", "home", "other")),
        _multi(
            "phoneNumbers",
            "Phone numbers for the user.",
            ("work", "home", "mobile", "fax", "pager", "other"),
        ),
        _multi(
            "ims",
            "Instant messaging addresses for the user.",
            ("aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"),
        ),
        _multi(
            "photos",
            "URLs of photos of the user.",
            ("photo", "thumbnail"),
            value_type=REF,
            reference_types=("external",),
        ),
        Attribute(
            "addresses",
            C,
            multi_valued=True,
            description="A physical mailing address.",
            sub_attributes=(
                _s("formatted", "The full mailing address."),
                _s("streetAddress", "The full street address component."),
                _s("locality", "The city or locality component."),
                _s("region", "The state or region component."),
                _s("postalCode", "The zip code or postal code component."),
                _s("country", "The country name component (ISO 3166-1 alpha-2)."),
                _s(
                    "type",
                    "A label indicating the address's function.",
                    canonical_values=("work", "home", "other"),
                ),
                Attribute("primary", B, description="Whether this is the primary address."),
            ),
        ),
        Attribute(
            "groups",
            C,
            multi_valued=True,
            mutability=RO,
            description="Groups to which the user belongs, computed from group membership.",
            sub_attributes=(
                Attribute("value", S, mutability=RO, description="The id of the Group."),
                Attribute(
                    "$ref",
                    REF,
                    mutability=RO,
                    reference_types=("User", "Group"),
                    description="The URI of the Group.",
                ),
                Attribute("display", S, mutability=RO, description="The group's displayName."),
                Attribute(
                    "type",
                    S,
                    mutability=RO,
                    canonical_values=("direct", "indirect"),
                    description="How the membership was derived.",
                ),
            ),
        ),
        _multi("entitlements", "A list of entitlements for the user.", ()),
        _multi("roles", "A list of roles for the user.", ()),
        _multi(
            "x509Certificates",
            "A list of certificates issued to the user.",
            (),
            value_type=AttributeType.BINARY,
        ),
    ),
)

ENTERPRISE_USER = Schema(
    id=ENTERPRISE_USER_SCHEMA,
    name="EnterpriseUser",
    description="Enterprise User",
    attributes=(
        _s("employeeNumber", "Numeric or alphanumeric identifier assigned to a person."),
        _s("costCenter", "Identifies the name of a cost center."),
        _s("organization", "Identifies the name of an organization."),
        _s("division", "Identifies the name of a division."),
        _s("department", "Identifies the name of a department."),
        Attribute(
            "manager",
            C,
            description="The user's manager.",
            sub_attributes=(
                Attribute("value", S, description="The id of the SCIM resource of the manager."),
                Attribute(
                    "$ref",
                    REF,
                    reference_types=("User",),
                    description="The URI of the manager's SCIM resource.",
                ),
                Attribute(
                    "displayName", S, mutability=RO, description="The displayName of the manager."
                ),
            ),
        ),
    ),
)

GROUP = Schema(
    id=GROUP_SCHEMA,
    name="Group",
    description="Group",
    attributes=(
        Attribute(
            "displayName",
            S,
            required=True,
            uniqueness=Uniqueness.SERVER,
            description="A human-readable name for the Group; unique per organization "
            "(Entra ID matches groups on it).",
        ),
        Attribute(
            "members",
            C,
            multi_valued=True,
            description="A list of members of the Group.",
            max_values=None,  # rows of their own, never in the stored document
            sub_attributes=(
                Attribute(
                    "value",
                    S,
                    mutability=Mutability.IMMUTABLE,
                    case_exact=True,
                    description="The id of the member resource.",
                ),
                Attribute(
                    "$ref",
                    REF,
                    mutability=Mutability.IMMUTABLE,
                    reference_types=("User", "Group"),
                    description="The URI of the member resource.",
                ),
                Attribute(
                    "display",
                    S,
                    mutability=Mutability.IMMUTABLE,
                    description="A human-readable name of the member.",
                ),
                Attribute(
                    "type",
                    S,
                    mutability=Mutability.IMMUTABLE,
                    canonical_values=("User", "Group"),
                    description="The type of the member.",
                ),
            ),
        ),
    ),
)

USER_RESOURCE = ResourceType(
    id="User",
    name="User",
    endpoint="/Users",
    description="User Account",
    schema=USER,
    extensions=(SchemaExtension(ENTERPRISE_USER, required=False),),
)
GROUP_RESOURCE = ResourceType(
    id="Group",
    name="Group",
    endpoint="/Groups",
    description="Group",
    schema=GROUP,
)
