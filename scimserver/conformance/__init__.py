"""A SCIM 2.0 conformance runner for any service provider (RFC 7643, RFC 7644, RFC 9865).

``run(url, token, profile)`` returns a :class:`Report`; ``scimserver check`` is the CLI.
Checks live in :mod:`scimserver.conformance.checks`, one module per area.
"""

from .model import REGISTRY, CheckResult, CheckSpec, Report, Status
from .runner import run, select

__all__ = ["REGISTRY", "CheckResult", "CheckSpec", "Report", "Status", "run", "select"]
