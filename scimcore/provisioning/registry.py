"""Connector name -> connector class: the ``scimserver.connectors`` entry point group.

Third parties ship a connector by declaring, in their package's ``pyproject.toml``::

    [project.entry-points."scimserver.connectors"]
    acme = "acme_scim.connector:AcmeConnector"

:func:`register` adds one in code (tests, embedders). Names are case-sensitive.

A package with many connectors made from declarations (the SCIM catalog,
:mod:`scimcore.adapters.connectors.scim_catalog`) names, in a second group
``scimserver.connector_catalogs``, a function returning connector classes; each becomes
a connector under its ``name``. A connector of the first group, or one registered in
code, wins over a catalog entry of the same name. The registry only calls what the
entry points name, so this package imports no adapter.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from .connector import Connector
from .errors import UnsupportedOperation

GROUP = "scimserver.connectors"
CATALOG_GROUP = "scimserver.connector_catalogs"
_registered: dict[str, type[Any]] = {}


def _catalog_entries() -> dict[str, type[Any]]:
    """Every connector class the catalogs of ``CATALOG_GROUP`` declare, by name."""
    found: dict[str, type[Any]] = {}
    for ep in entry_points(group=CATALOG_GROUP):
        for cls in ep.load()():
            found[cls.name] = cls
    return found


def register(cls: type[Any], name: str | None = None) -> type[Any]:
    """Register a connector class under ``name`` (default: its ``name``); usable as a decorator."""
    _registered[name or cls.name] = cls
    return cls


def available() -> dict[str, str]:
    """Every known connector name -> where it comes from (module path)."""
    found = {
        name: f"{cls.__module__}:{cls.__qualname__}" for name, cls in _catalog_entries().items()
    }
    found.update({ep.name: ep.value for ep in entry_points(group=GROUP)})
    found.update(
        {name: f"{cls.__module__}:{cls.__qualname__}" for name, cls in _registered.items()}
    )
    return dict(sorted(found.items()))


def load(name: str) -> Connector:
    """A fresh instance of the connector named ``name``."""
    cls = _registered.get(name)
    if cls is None:
        for ep in entry_points(group=GROUP):
            if ep.name == name:
                cls = ep.load()
                break
    if cls is None:
        cls = _catalog_entries().get(name)
    if cls is None:
        known = ", ".join(available()) or "none"
        raise UnsupportedOperation(f"no connector named {name!r} (known: {known})")
    connector: Connector = cls()
    return connector
