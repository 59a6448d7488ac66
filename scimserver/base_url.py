"""The base URL the service writes into answers: ``SCIMSERVER_PUBLIC_URL``, or the Host.

Without ``SCIMSERVER_PUBLIC_URL`` the tenant URL, ``Location``, ``meta.location``, the
OpenAPI server URL, the console's tenant URL and the OAuth ``redirect_uri`` are built
from the request's ``Host`` header. A Host that is no host (``evil.example/foo?``,
``user@evil.example``, ``evil.example:99999``, empty) made those URLs broken
(``http:///scim/...``) while the request itself succeeded; such a request is refused
with a SCIM ``400`` before anything is written. With ``SCIMSERVER_PUBLIC_URL`` set the
Host is never read, so nothing is refused for it (docs/security.md, "The Host header").
"""

from __future__ import annotations

import ipaddress
import re

from flask import request

from scimcore.errors import BadRequest

#: RFC 3986 3.2.2 ``reg-name`` (an IPv4 address is one too), not empty (RFC 9110 4.2.1).
_REG_NAME = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")
#: ``host [ ":" port ]`` with an IP literal in brackets.
_HOST = re.compile(r"(?P<host>\[[^\]]*\]|[^:]*)(?::(?P<port>[0-9]{1,5}))?")

BAD_HOST = (
    "The Host header is not a valid host: a host name or IPv4 address, or an IPv6 "
    "address in brackets, optionally followed by ':' and a port from 1 to 65535 "
    "(RFC 9110 7.2). Send the host name of this service, or set SCIMSERVER_PUBLIC_URL."
)


def valid_host(value: str) -> bool:
    """Whether ``value`` is ``host[:port]`` as RFC 9110 7.2 / RFC 3986 3.2.2 define it."""
    match = _HOST.fullmatch(value)
    if match is None:
        return False
    host, port = match.group("host"), match.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        return False
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    return _REG_NAME.fullmatch(host) is not None


def base_url(public_url: str | None) -> str:
    """``public_url``, or the scheme and Host the request came with (no trailing '/').

    Raises :class:`scimcore.errors.BadRequest` when the Host would make a broken URL."""
    if public_url:
        return public_url
    host = request.environ.get("HTTP_HOST")
    if host is None:  # HTTP/1.0 without Host: the address the server is bound to
        return request.host_url.rstrip("/")
    if not valid_host(host):
        raise BadRequest(BAD_HOST)
    # Not request.host_url: werkzeug turns a Host it finds odd (``h_1``) into "".
    return f"{request.scheme}://{host}{request.root_path}"
