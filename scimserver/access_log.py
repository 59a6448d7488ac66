"""The access log without secrets: credentials masked, no credential headers.

A client that puts a token in the URL (``?access_token=...``) is refused by the app, but
gunicorn's access log would still write the request line as it came. An operator's logs
go to places (log shippers, tickets, screenshots) that must never hold a credential, so
the gunicorn logger used by ``scimserver serve`` masks them before anything is written.

The rule, applied to every query parameter by its name (percent-decoded, case-folded):
the value is replaced by ``[redacted]`` when the name is one of :data:`SECRET_NAMES` or
contains one of :data:`SECRET_PARTS`; and, whatever the name, when the value holds
something shaped like a credential this service issues or accepts
(:data:`scimcore.auth.CREDENTIAL_SHAPE`: a ``scim_`` secret token, a JWT). Names are kept so the log
still shows what the client tried; a name that is itself credential-shaped is masked too.

Beyond the query string, every atom the log format can name (request line, path,
``Referer``, ``User-Agent``, any ``{header}i``) goes through
:func:`scimserver.log_redaction.mask_credentials`, so a token sent in the path or a
header is written as ``[redacted]``. The error log and the service's own loggers get the
same masking (:class:`scimserver.log_redaction.CredentialMasking`). The
``Authorization``, ``Proxy-Authorization`` and ``Cookie`` request headers and
``Set-Cookie`` response headers are never available to the log format, nor the user
name of HTTP Basic authentication.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import unquote_plus

from gunicorn.glogging import Logger

from scimcore.auth import holds_credential

from .log_redaction import REDACTED, mask_credentials, mask_logger

#: Parameter names whose value is always masked (OAuth 2.0 and common API conventions).
SECRET_NAMES = frozenset(
    {
        "code",
        "state",
        "key",
        "sig",
        "signature",
        "assertion",
        "client_assertion",
        "pwd",
        "session",
        "sessionid",
    }
)
#: A parameter whose name contains one of these is masked too (``access_token``,
#: ``id_token``, ``client_secret``, ``api_key``, ``X-API-Key``, ``password``, ``passcode``,
#: ``authorization``, ``bearer``, ``jwt``, ``private_key``, ``SAMLResponse``,
#: ``X-Amz-Signature``...).
SECRET_PARTS = (
    "token",
    "secret",
    "pass",
    "key",
    "auth",
    "bearer",
    "jwt",
    "credential",
    "signature",
    "saml",
    "private",
    "otp",
)
#: Header names (lower case) that never reach the access log in any form.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
#: WSGI environ keys (lower case, as gunicorn's ``{name}e`` atoms spell them) likewise.
SECRET_ENVIRON = frozenset(
    {"http_authorization", "http_proxy_authorization", "http_cookie", "remote_user"}
)


def is_secret_name(name: str) -> bool:
    """Whether a query parameter called ``name`` may hold a credential."""
    folded = unquote_plus(name).strip().casefold()
    return folded in SECRET_NAMES or any(part in folded for part in SECRET_PARTS)


def redact_query(query: str) -> str:
    """``query`` with the value of every secret-named parameter replaced by ``[redacted]``.

    The rest of the query string is kept byte for byte (order, encoding, empty values)."""
    if not query:
        return query
    pieces = []
    for piece in query.split("&"):
        name, sep, value = piece.partition("=")
        secret = sep and (is_secret_name(name) or is_credential(value))
        pieces.append(f"{name}={REDACTED}" if secret else piece)
    return "&".join(pieces)


def is_credential(value: str) -> bool:
    """Whether a query value (percent-encoded as sent) holds a token or a JWT."""
    return holds_credential(unquote_plus(value))


def redact_uri(uri: str) -> str:
    """A request target (path and query) with :func:`redact_query` applied to its query."""
    path, sep, query = uri.partition("?")
    return f"{path}{sep}{redact_query(query)}" if sep else uri


#: The atoms (``{name}i`` request header, ``{name}o`` response header, ``{name}e``
#: environ) an access_log_format could use to show a credential.
_SECRET_ATOMS = tuple(
    [f"{{{name}}}{kind}" for name in sorted(SECRET_HEADERS) for kind in ("i", "o")]
    + [f"{{{name}}}e" for name in sorted(SECRET_ENVIRON)]
)


class RedactingLogger(Logger):
    """gunicorn's logger whose access-log atoms never hold a credential.

    Every atom the access log format can name is cleaned here, so an operator who
    changes ``access_log_format`` (e.g. to add ``%({authorization}i)s``) gets ``-``,
    not the header."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: timedelta) -> Any:
        atoms: dict[str, Any] = dict(super().atoms(resp, req, environ, request_time))
        env: Mapping[str, Any] = environ
        raw_uri = redact_uri(str(env.get("RAW_URI", "")))
        atoms["r"] = f"{env.get('REQUEST_METHOD')} {raw_uri} {env.get('SERVER_PROTOCOL')}"
        atoms["q"] = redact_query(str(env.get("QUERY_STRING") or ""))
        atoms["u"] = "-"
        atoms["f"] = redact_uri(str(env.get("HTTP_REFERER") or "-"))
        for key in _SECRET_ATOMS:
            if key in atoms:
                atoms[key] = "-"
        for key in ("{raw_uri}e", "{request_uri}e", "{http_referer}e", "{referer}i"):
            if key in atoms:
                atoms[key] = redact_uri(str(atoms[key]))
        if "{query_string}e" in atoms:
            atoms["{query_string}e"] = atoms["q"]
        # A token in the path, a parameter's name or any header (User-Agent, Referer...).
        for key, value in atoms.items():
            if isinstance(value, str):
                atoms[key] = mask_credentials(value)
        return atoms

    def setup(self, cfg: Any) -> None:
        """gunicorn's setup, and the error log masks credentials like the access log."""
        super().setup(cfg)
        mask_logger(self.error_log)
