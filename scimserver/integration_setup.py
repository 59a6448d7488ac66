"""Choosing an integration's connector and its settings: what ``scimserver services
connect`` and the console's "Add integration" form both do, written once.

The connector is looked up in the registry before anything is written, and the setting
it declares as the service's address (``Connector.address_setting``: ``base_url`` of
``scim2``, ``url`` of ``webhook``) must be an absolute http(s) URL, or be built from
the connector's ``address_template`` (``https://{subdomain}.cybozu.com``) and the
settings it names, each a DNS label, so
a typing mistake is refused at once rather than on the first job, where it would only
show as a failed provisioning attempt. Nothing here names a connector: a new one
declares what it needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from scimcore.adapters.connectors import (
    ConnectionCheck,
    Connector,
    ConnectorContext,
    ConnectorError,
    OAuthPreset,
    load,
)
from scimcore.provisioning.connector import address_fields, fill_address
from scimcore.provisioning.discovery import SYNC_INTERVAL_SETTING
from scimcore.provisioning.store import Binding, ProvisioningStore
from scimcore.provisioning.worker import CredentialSource


class SetupError(ValueError):
    """A connector or setting cannot be used; the message names it, never a secret."""


def check_url(name: str, value: str) -> str:
    """``value`` as an absolute http(s) URL with a host, or :class:`SetupError`."""
    try:
        parts = urlsplit(value)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid or any(c.isspace() for c in value):
        raise SetupError(f"{name} must be an http:// or https:// URL with a host name")
    return value


def address_setting(connector: Connector) -> str | None:
    """The connector's address setting (``None`` also for one that declares none)."""
    key = getattr(connector, "address_setting", None)
    return key if isinstance(key, str) and key else None


def address_template(connector: Connector) -> str | None:
    """The connector's address template: built from settings it names, or, naming none,
    the service's one fixed address (Slack's, Zoom's)."""
    template = getattr(connector, "address_template", None)
    if not isinstance(template, str) or address_setting(connector) is None:
        return None
    return template


def with_address(connector: Connector, settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` with the connector's address checked, and built from its template
    when the address setting is not given but a field of the template is (or the
    template names none: a fixed address). Raises :class:`SetupError` naming the field."""
    values = dict(settings)
    key = address_setting(connector)
    if key is None:
        return values
    template = address_template(connector)
    named = address_fields(template) if template is not None else ()
    if template is not None and not named and not values.get(key):
        values[key] = template  # the service's one address
    elif template is not None and not values.get(key) and any(n in values for n in named):
        try:
            values[key] = fill_address(template, values)
        except ValueError as exc:
            raise SetupError(str(exc)) from None
        for name in named:
            values[name] = str(values[name]).strip()
    if key in values:
        check_url(key, str(values[key]))
    return values


#: Requests at once to a service that documents no pace.
DEFAULT_CONCURRENCY = 4


def documented_pace(connector: Connector) -> tuple[int, int] | None:
    """``(max_concurrency, min_interval_ms)`` as the service's vendor documents them,
    when the connector says (a SCIM catalog entry's ``profile.pacing``)."""
    pacing = getattr(getattr(connector, "profile", None), "pacing", None)
    concurrency = getattr(pacing, "max_concurrency", None)
    interval = getattr(pacing, "min_interval_ms", None)
    if isinstance(concurrency, int) and isinstance(interval, int):
        return concurrency, interval
    return None


def declared_preset(connector_name: str) -> OAuthPreset | None:
    """The OAuth endpoints and scopes the connector declares, if any, as declared (an
    endpoint may name a setting, as ``{tenant_id}``)."""
    try:
        connector = load(connector_name)
    except ConnectorError:
        return None
    preset = getattr(connector, "oauth_preset", None)
    return preset if isinstance(preset, OAuthPreset) else None


def oauth_preset(
    connector_name: str, settings: Mapping[str, Any] | None = None
) -> OAuthPreset | None:
    """The connector's preset with the integration's ``settings`` filled in; ``None``
    when it has none, or while a setting its endpoints name is not set."""
    preset = declared_preset(connector_name)
    return preset.resolve(settings or {}) if preset is not None else None


def load_connector(name: str, settings: Mapping[str, Any]) -> Connector:
    """The connector named ``name``, once its address setting (if given) is checked."""
    try:
        connector = load(name)
    except ConnectorError as exc:
        raise SetupError(exc.message) from None
    with_address(connector, settings)
    return connector


def connect(
    prov: ProvisioningStore,
    organization_id: str,
    integration_id: int,
    connector_name: str,
    settings: Mapping[str, Any],
    *,
    provisioning: bool = False,
    max_concurrency: int | None = None,
    min_interval_ms: int | None = None,
) -> tuple[Binding, Connector]:
    """Bind the integration to ``connector_name`` with ``settings`` and switch its
    provisioning on or off. A sync interval set before is kept unless ``settings``
    names one. The request pace not given is the one the service documents
    (:func:`documented_pace`), else 4 at once with no gap. Raises :class:`SetupError`
    before writing anything."""
    connector = load_connector(connector_name, settings)
    pace = documented_pace(connector)
    if max_concurrency is None:
        max_concurrency = pace[0] if pace else DEFAULT_CONCURRENCY
    if min_interval_ms is None:
        min_interval_ms = pace[1] if pace else 0
    values = with_address(connector, settings)
    before = prov.binding(organization_id, integration_id)
    kept = dict(before.settings or {}) if before is not None else {}
    if SYNC_INTERVAL_SETTING not in values and SYNC_INTERVAL_SETTING in kept:
        values[SYNC_INTERVAL_SETTING] = kept[SYNC_INTERVAL_SETTING]
    binding = prov.bind(
        organization_id,
        integration_id,
        connector_name,
        values,
        max_concurrency=max_concurrency,
        min_interval_ms=min_interval_ms,
    )
    prov.set_provisioning(
        organization_id, integration_id, provisioning, manual=connector_name == "manual"
    )
    return binding, connector


def check_connection(
    credentials: CredentialSource, binding: Binding, connector: Connector
) -> ConnectionCheck:
    """The connector's connection test with the integration's stored credential: what
    ``services connect --test`` and the console's "Test connection" run. Never raises
    for a refused credential or an unreachable service: the check says what failed."""
    try:
        auth = credentials.auth_for(binding, connector)
        return connector.test_connection(
            ConnectorContext(
                binding.integration.organization_id,
                binding.integration.id,
                binding.settings,
                auth,
            )
        )
    except ConnectorError as exc:
        return ConnectionCheck(False, exc.message)


def switch_provisioning(
    prov: ProvisioningStore, organization_id: str, integration_id: int, enabled: bool
) -> Binding:
    """Provision accounts at the service, or stop: what ``services provisioning`` and the
    console's switch do. A service with no connector chosen is ``manual``: its changes
    are recorded, not made. :class:`SetupError` for an integration that is not there."""
    binding = prov.binding(organization_id, integration_id)
    if binding is None:
        raise SetupError(f"integration {integration_id} does not exist")
    prov.set_provisioning(
        organization_id, integration_id, enabled, manual=binding.connector == "manual"
    )
    found = prov.binding(organization_id, integration_id)
    assert found is not None
    return found
