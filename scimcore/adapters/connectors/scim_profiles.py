"""How a SCIM service differs from RFC 7644: the value that drives the ``scim2`` connector.

A :class:`ScimProfile` is data, not code. The ``scim2`` connector reads one (by default
:data:`RFC`, plain RFC 7643/7644 behaviour) and every catalog entry
(:mod:`.scim_catalog`) is one, so a service's documented deviations live in one
declaration with the vendor page each comes from, and the connector, the CLI listing,
the documentation and the test fake all read the same values.

Each field names one kind of deviation seen in vendor documentation:

* ``filter_attributes``: the attributes a ``GET /Users?filter=<attr> eq "..."`` may
  name (``None``: any, as RFC 7644 3.4.2.2). The connector never sends a filter the
  service refuses; an attribute it cannot filter on is found by reading the listing.
* ``max_page_size``: the largest ``count`` the service honours; larger pages are asked
  as this many (Slack silently caps at 1,000, Figma at 200).
* ``patch``: ``"rfc"`` (``{"op": "replace", "value": {"active": false}}``, what Okta
  sends), ``"path"`` (``{"op": "replace", "path": "active", "value": false}``, for
  services that refuse a path-less replace) or ``"none"`` (no PATCH: a PUT of the
  whole user).
* ``deactivate``: ``"active_false"`` (``active`` set to false, reversible) or
  ``"delete"`` (the service has no reversible deactivation: a deactivation removes
  the account, and it cannot be reactivated).
* ``delete``: ``"hard"`` (``DELETE`` removes the account), ``"soft"`` (``DELETE``
  only deactivates it: the account stays) or ``"none"`` (no ``DELETE``). Only a hard
  delete is declared as the ``DELETE`` capability: the engine must not believe an
  account is gone when the service keeps it.
* ``login_attribute``: ``"login"`` or ``"email"`` (the service's ``userName`` is
  the user's email address, so an email search is a ``userName`` search).
* ``required_attributes``: attributes the service refuses a user without (dotted for
  sub-attributes: ``name.givenName``); the connector fills what it can derive
  (``displayName`` from the name, ``emails`` from an email-shaped login) and refuses
  the rest before sending anything, naming the attribute.
* ``max_lengths``: attribute -> longest value accepted, checked before sending.
* ``pacing``: the request pace the vendor documents, the default of an integration's
  ``--min-interval-ms``/``--max-concurrency``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, TypeAlias

from ...provisioning.connector import OAuthPreset, address_fields

PatchForm: TypeAlias = Literal["rfc", "path", "none"]
Deactivation: TypeAlias = Literal["active_false", "delete"]
Deletion: TypeAlias = Literal["hard", "soft", "none"]
CredentialKind: TypeAlias = Literal["bearer_token", "oauth2_authorization_code"]

#: The attributes the connector searches by, in the order it tries them.
SEARCH_ATTRIBUTES = ("userName", "emails.value", "externalId")


@dataclass(frozen=True)
class Deviation:
    """One documented difference from RFC 7644, with the vendor page it comes from."""

    key: str
    summary: str
    source: str


@dataclass(frozen=True)
class Pacing:
    """The pace the vendor documents: at most one request every ``min_interval_ms``
    and ``max_concurrency`` at once (hints for the integration's defaults)."""

    min_interval_ms: int
    max_concurrency: int
    source: str


@dataclass(frozen=True)
class ScimProfile:
    """A SCIM service's known behaviour; see the module docstring for each field."""

    name: str = "scim2"
    display_name: str = "SCIM 2.0"
    #: The vendor's SCIM documentation (the page a reader starts from).
    source: str = "https://www.rfc-editor.org/rfc/rfc7644"
    #: The base URL with ``{field}`` for what the administrator types (a subdomain, an
    #: enterprise slug, a directory id); a template with no field is the fixed URL.
    address_template: str | None = None
    credential: CredentialKind | None = None
    oauth: OAuthPreset | None = None
    filter_attributes: frozenset[str] | None = None
    max_page_size: int | None = None
    patch: PatchForm = "rfc"
    deactivate: Deactivation = "active_false"
    delete: Deletion = "hard"
    login_attribute: Literal["login", "email"] = "login"
    required_attributes: tuple[str, ...] = ()
    max_lengths: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    pacing: Pacing | None = None
    deviations: tuple[Deviation, ...] = ()

    @property
    def template_fields(self) -> tuple[str, ...]:
        """The fields the administrator fills in the address template."""
        return address_fields(self.address_template or "")

    @property
    def fixed_address(self) -> str | None:
        """The base URL when the template names no field (the service has one URL)."""
        if self.address_template and not self.template_fields:
            return self.address_template
        return None

    def filters(self, attribute: str) -> bool:
        """Whether ``GET /Users?filter=<attribute> eq "..."`` is accepted."""
        return self.filter_attributes is None or attribute in self.filter_attributes

    def page_size(self, wanted: int) -> int:
        return min(wanted, self.max_page_size) if self.max_page_size else wanted


#: Plain RFC 7643/7644: what the generic ``scim2`` connector assumes.
RFC = ScimProfile()
