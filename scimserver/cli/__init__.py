"""The ``scimserver`` command line: :mod:`.main` is the command group; each other
module holds one family of commands and shares :mod:`.common` (settings, the parts from
:mod:`scimserver.wiring`, finding an organization)."""

from .main import main

__all__ = ["main"]
