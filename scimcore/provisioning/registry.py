"""Connector name -> connector class: the ``scimserver.connectors`` entry point group.

Third parties ship a connector by declaring, in their package's ``pyproject.toml``::

    [project.entry-points."scimserver.connectors"]
    acme = "acme_scim.connector:AcmeConnector"

:func:`register` adds one in code (tests, embedders). Names are case-sensitive.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from .connector import Connector
from .errors import UnsupportedOperation

GROUP = "scimserver.connectors"
_registered: dict[str, type[Any]] = {}


def register(cls: type[Any], name: str | None = None) -> type[Any]:
    """Register a connector class under ``name`` (default: its ``name``); usable as a decorator."""
    _registered[name or cls.name] = cls
    return cls


def available() -> dict[str, str]:
    """Every known connector name -> where it comes from (module path)."""
    found = {ep.name: ep.value for ep in entry_points(group=GROUP)}
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
        known = ", ".join(available()) or "none"
        raise UnsupportedOperation(f"no connector named {name!r} (known: {known})")
    connector: Connector = cls()
    return connector
