"""A catalog of services that speak SCIM: one :class:`~.scim_profiles.ScimProfile` each.

Every entry is a declaration: its address template, its credential, and each way it
differs from RFC 7644 with the vendor page that says so. :func:`connector_class` turns
one into a connector (the ``scim2`` connector with that profile), so adding a service
is a declaration and a test, not code.

How the registry finds them: ``pyproject.toml`` names this module's :func:`catalog` once,
in a second entry point group, ``scimserver.connector_catalogs``, which
:mod:`scimcore.provisioning.registry` expands into one connector per entry. One entry
point per service pointing at generated classes would have needed a module-level name
per class (and a ``pyproject.toml`` line per service, merged by hand); the group keeps
both the catalog and the packaging file to one place, lets a third-party package ship a
catalog of its own the same way, and keeps the registry free of any adapter import
(``scimcore.provisioning`` never imports ``scimcore.adapters``).

Services checked and left out because they have no public SCIM API (their IdP
integrations use the vendor's own REST API): Box and Dropbox; see
docs/connectors/scim-catalog.md.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from ...provisioning.connector import LIFECYCLE, AuthMethod, Capability, OAuthPreset
from ...provisioning.registry import register
from .scim2 import Scim2Connector
from .scim_profiles import Deviation, Pacing, ScimProfile

_SLACK = "https://docs.slack.dev/reference/scim-api/scim-api-2"
_SLACK_RATES = "https://docs.slack.dev/reference/scim-api/rate-limits"
_SLACK_PAGES = "https://api.slack.com/changelog/2019-06-have-scim-will-paginate"
_ZOOM = "https://developers.zoom.us/docs/api/scim2/"
_ZOOM_RATES = "https://marketplace.zoom.us/docs/api-reference/scim-api/"
_GITHUB = "https://docs.github.com/en/enterprise-cloud@latest/rest/enterprise-admin/scim"
_GITHUB_ORG = "https://docs.github.com/en/enterprise-cloud@latest/rest/scim/scim"
_ATLASSIAN = "https://developer.atlassian.com/cloud/admin/user-provisioning/rest/api-group-users/"
_ATLASSIAN_INTRO = "https://developer.atlassian.com/cloud/admin/user-provisioning/rest/intro/"
_SALESFORCE = "https://help.salesforce.com/s/articleView?id=sf.identity_scim_overview.htm&type=5"
_SALESFORCE_API = (
    "https://help.salesforce.com/apex/HTViewHelpDoc?id=xcloud.identity_scim_rest_api.htm"
)
_SALESFORCE_OAUTH = (
    "https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_endpoints.htm&type=5"
)
_FIGMA = "https://developers.figma.com/docs/rest-api/scim"
_FIGMA_ENDPOINTS = "https://developers.figma.com/docs/rest-api/scim-endpoints"
_FIGMA_SCHEMAS = "https://developers.figma.com/docs/rest-api/scim-supported-schemas"
_SLACK_SDK = "https://docs.slack.dev/tools/python-slack-sdk/scim"
_ASANA = "https://developers.asana.com/docs/scim"
_MIRO = "https://developers.miro.com/reference/getting-started-4"
_MIRO_USERS = "https://developers.miro.com/docs/users"
_LINE_WORKS = "https://developers.worksmobile.com/en/docs/scim"
_LINE_WORKS_DELETE = "https://developers.worksmobile.com/en/docs/scim-user-deactivate"
_LINE_WORKS_MAPPING = "https://developers.worksmobile.com/en/docs/scim-mapping"

SLACK = ScimProfile(
    name="slack",
    display_name="Slack",
    source=_SLACK,
    address_template="https://api.slack.com/scim/v2",
    credential="bearer_token",
    max_page_size=1000,
    delete="soft",
    required_attributes=("userName", "emails"),
    pacing=Pacing(min_interval_ms=334, max_concurrency=2, source=_SLACK_RATES),
    deviations=(
        Deviation("delete_is_soft", "DELETE /Users/<id> only deactivates the user", _SLACK),
        Deviation("max_page_size", "count above 1000 is read as 1000", _SLACK_PAGES),
        Deviation(
            "required_attributes", "a new user needs userName and at least one email", _SLACK_SDK
        ),
        Deviation(
            "rate_limit",
            "180 user writes a minute (org-wide, all SCIM apps); 429 with Retry-After",
            _SLACK_RATES,
        ),
        Deviation(
            "scim_version",
            "/scim/v1 is SCIM 1.1; this entry uses the SCIM 2.0 endpoints under /scim/v2",
            _SLACK,
        ),
    ),
)

ZOOM = ScimProfile(
    name="zoom",
    display_name="Zoom",
    source=_ZOOM,
    address_template="https://api.zoom.us/scim2",
    credential="oauth2_authorization_code",
    oauth=OAuthPreset("https://zoom.us/oauth/authorize", "https://zoom.us/oauth/token", ("scim2",)),
    filter_attributes=frozenset({"userName"}),
    login_attribute="email",
    pacing=Pacing(min_interval_ms=1000, max_concurrency=1, source=_ZOOM_RATES),
    deviations=(
        Deviation(
            "filter_support",
            "only userName eq (the email); externalId eq means Zoom's own user id",
            _ZOOM,
        ),
        Deviation("login_is_email", "userName is the user's email address", _ZOOM),
        Deviation("rate_limit", "1 request a second per account on each endpoint", _ZOOM_RATES),
        Deviation("base_path", "the base URL is /scim2, not /scim/v2", _ZOOM),
    ),
)

GITHUB_ENTERPRISE = ScimProfile(
    name="github_enterprise",
    display_name="GitHub Enterprise Cloud (Enterprise Managed Users)",
    source=_GITHUB,
    address_template="https://api.github.com/scim/v2/enterprises/{enterprise}",
    credential="bearer_token",
    required_attributes=("userName", "name.givenName", "name.familyName", "emails"),
    deviations=(
        Deviation(
            "required_attributes",
            "a new user needs userName, name and emails; without a name GitHub refuses it",
            _GITHUB,
        ),
        Deviation(
            "patch_filter_paths",
            'PATCH path selectors with filters (emails[type eq "work"]) are refused',
            _GITHUB,
        ),
        Deviation(
            "credential",
            "a personal access token (classic) of the setup user, not an OAuth app",
            _GITHUB,
        ),
    ),
)

GITHUB_ORGANIZATION = ScimProfile(
    name="github_organization",
    display_name="GitHub Enterprise Cloud organization (SAML SSO)",
    source=_GITHUB_ORG,
    address_template="https://api.github.com/scim/v2/organizations/{organization}",
    credential="bearer_token",
    deactivate="delete",
    required_attributes=("userName", "name.givenName", "name.familyName", "emails"),
    deviations=(
        Deviation(
            "deactivate_is_delete",
            "active=false removes the member and deletes the SCIM identity: no reactivation",
            _GITHUB_ORG,
        ),
        Deviation("required_attributes", "userName, name and emails are required", _GITHUB_ORG),
    ),
)

ATLASSIAN = ScimProfile(
    name="atlassian",
    display_name="Atlassian Cloud",
    source=_ATLASSIAN,
    address_template="https://api.atlassian.com/scim/directory/{directory_id}",
    credential="bearer_token",
    filter_attributes=frozenset({"userName", "externalId"}),
    delete="soft",
    required_attributes=("userName", "emails"),
    deviations=(
        Deviation(
            "filter_support", "filters: a single eq on userName or externalId only", _ATLASSIAN
        ),
        Deviation(
            "delete_is_soft",
            "DELETE deactivates and unlinks the account; it is not removed",
            _ATLASSIAN_INTRO,
        ),
        Deviation("required_attributes", "emails is required (a verified domain)", _ATLASSIAN),
        Deviation(
            "inactive_not_listed",
            "GET /Users lists active users only; a deactivated one is read by id",
            "https://jira.atlassian.com/browse/ACCESS-1293",
        ),
    ),
)

SALESFORCE = ScimProfile(
    name="salesforce",
    display_name="Salesforce",
    source=_SALESFORCE,
    address_template="https://{my_domain}.my.salesforce.com/services/scim/v2",
    credential="oauth2_authorization_code",
    oauth=OAuthPreset(
        "https://{my_domain}.my.salesforce.com/services/oauth2/authorize",
        "https://{my_domain}.my.salesforce.com/services/oauth2/token",
        ("api", "refresh_token"),
    ),
    delete="none",
    deviations=(
        Deviation("no_delete", "users are deactivated (active=false), never deleted", _SALESFORCE),
        Deviation("credential", "an OAuth 2.0 access token is required", _SALESFORCE_API),
        Deviation(
            "oauth_endpoints", "the My Domain host serves the OAuth endpoints", _SALESFORCE_OAUTH
        ),
    ),
)

FIGMA = ScimProfile(
    name="figma",
    display_name="Figma",
    source=_FIGMA,
    address_template="https://www.figma.com/scim/v2/{tenant_id}",
    credential="bearer_token",
    filter_attributes=frozenset({"userName", "externalId"}),
    max_page_size=200,
    login_attribute="email",
    max_lengths=MappingProxyType({"userName": 100, "displayName": 100}),
    deviations=(
        Deviation(
            "max_page_size", "ServiceProviderConfig filter.maxResults is 200", _FIGMA_ENDPOINTS
        ),
        Deviation("filter_support", "filters: userName eq and externalId eq", _FIGMA_ENDPOINTS),
        Deviation("login_is_email", "userName is the user's email", _FIGMA_SCHEMAS),
        Deviation(
            "max_lengths", "userName and displayName: at most 100 characters", _FIGMA_SCHEMAS
        ),
        Deviation(
            "deactivate_removes_from_org",
            "active=false removes the user from the organization; the SCIM record stays",
            _FIGMA_SCHEMAS,
        ),
        Deviation("no_etag", "ETags are not supported", _FIGMA_ENDPOINTS),
    ),
)

ASANA = ScimProfile(
    name="asana",
    display_name="Asana",
    source=_ASANA,
    address_template="https://app.asana.com/api/1.0/scim",
    credential="bearer_token",
    filter_attributes=frozenset({"userName"}),
    delete="soft",
    login_attribute="email",
    required_attributes=("userName",),
    deviations=(
        Deviation("filter_support", "GET /Users accepts a filter on userName only", _ASANA),
        Deviation(
            "delete_is_soft", "DELETE deprovisions (zombifies) the user; it is not removed", _ASANA
        ),
        Deviation("login_is_email", "userName is required and must be an email address", _ASANA),
        Deviation(
            "patch_name_parts",
            "PATCH refuses name.givenName/familyName (name.formatted only); updates here are PUT",
            _ASANA,
        ),
        Deviation("guests_not_listed", "GET /Users does not return guest users", _ASANA),
        Deviation(
            "credential", "only a service account of an Enterprise domain may call SCIM", _ASANA
        ),
    ),
)

MIRO = ScimProfile(
    name="miro",
    display_name="Miro",
    source=_MIRO,
    address_template="https://miro.com/api/v1/scim",
    credential="bearer_token",
    login_attribute="email",
    required_attributes=("userName",),
    max_lengths=MappingProxyType({"displayName": 60}),
    deviations=(
        Deviation("login_is_email", "userName is the user's email and is mandatory", _MIRO_USERS),
        Deviation("max_lengths", "displayName: at most 60 characters", _MIRO_USERS),
        Deviation(
            "https_only", "http is redirected to https (and a redirect is refused here)", _MIRO
        ),
    ),
)

LINE_WORKS = ScimProfile(
    name="line_works",
    display_name="LINE WORKS",
    source=_LINE_WORKS,
    address_template="https://www.worksapis.com/scim/v2",
    credential="bearer_token",
    delete="soft",
    login_attribute="email",
    required_attributes=("userName", "name"),
    max_lengths=MappingProxyType({"userName": 90, "externalId": 100}),
    deviations=(
        Deviation(
            "delete_is_soft",
            "DELETE suspends the member; retiring or deleting is the admin console's",
            _LINE_WORKS_DELETE,
        ),
        Deviation(
            "required_attributes", "userName (the email) and name are required", _LINE_WORKS_MAPPING
        ),
        Deviation(
            "max_lengths", "userName: at most 90 characters, externalId: 100", _LINE_WORKS_MAPPING
        ),
        Deviation("credential", "a long-lived token issued for SCIM", _LINE_WORKS),
    ),
)

#: The built-in catalog, in the order the CLI lists it.
CATALOG: tuple[ScimProfile, ...] = (
    SLACK,
    ZOOM,
    GITHUB_ENTERPRISE,
    GITHUB_ORGANIZATION,
    ATLASSIAN,
    SALESFORCE,
    FIGMA,
    ASANA,
    MIRO,
    LINE_WORKS,
)

_AUTH: dict[str | None, frozenset[AuthMethod]] = {
    "bearer_token": frozenset({"bearer_token", "scim_bearer"}),
    "oauth2_authorization_code": frozenset({"oauth2_authorization_code"}),
}


def capabilities(profile: ScimProfile) -> Capability:
    """What a connector with ``profile`` can do: ``DELETE`` only when the service
    removes the account, ``REACTIVATE`` only when deactivation is reversible."""
    found = Capability.DISCOVER | LIFECYCLE
    if profile.delete != "hard":
        found &= ~Capability.DELETE
    if profile.deactivate == "delete":
        found &= ~Capability.REACTIVATE
    return found


def connector_class(profile: ScimProfile) -> type[Scim2Connector]:
    """The ``scim2`` connector with ``profile``, named and described by it."""
    attributes: dict[str, Any] = {
        "name": profile.name,
        "display_name": profile.display_name,
        "profile": profile,
        "capabilities": capabilities(profile),
        "auth_methods": _AUTH.get(profile.credential, Scim2Connector.auth_methods),
        "account_id_attribute": profile.login_attribute,
        "address_template": profile.address_template,
        "oauth_preset": profile.oauth,
        "__module__": __name__,
        "__qualname__": f"catalog[{profile.name}]",
        "__doc__": f"{profile.display_name} over SCIM ({profile.source}).",
    }
    return type(f"Scim_{profile.name}", (Scim2Connector,), attributes)


def catalog() -> list[type[Scim2Connector]]:
    """Every catalog entry as a connector class: the ``scimserver.connector_catalogs``
    entry point the registry expands."""
    return [connector_class(profile) for profile in CATALOG]


def register_profile(profile: ScimProfile) -> type[Scim2Connector]:
    """Register a declaration made in code (an embedder's, a test's) as a connector."""
    cls = connector_class(profile)
    register(cls)
    return cls
