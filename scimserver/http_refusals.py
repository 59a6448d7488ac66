"""What the HTTP server answers, as SCIM JSON, to a request it refuses before the app sees it.

gunicorn answers a request it cannot parse (a request line or header over its limits, a
malformed header, a broken chunked body) with an HTML page. IdPs such as Okta and Entra
expect a SCIM error body whatever failed, so :mod:`scimserver.http_worker` answers these
with the same document the app would (RFC 7644 3.12), with a ``detail`` that says what to
change. Nothing from the request (its line or header values, which may hold secrets) is
echoed back or logged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus

from gunicorn.config import Config
from gunicorn.http import errors as h

from scimcore.errors import ERROR_SCHEMA
from scimcore.messages import SCIM_CONTENT_TYPE

_APPLICATION_FAULTS: tuple[type[Exception], ...] = tuple(
    getattr(h, name) for name in ("InvalidResponseHeader", "InvalidResponseHeaderName")
)


@dataclass(frozen=True)
class Refusal:
    """A status and the ``detail`` a person can act on."""

    status: int
    detail: str
    retry_after: int | None = None

    @property
    def reason(self) -> str:
        return HTTPStatus(self.status).phrase

    def to_bytes(self) -> bytes:
        """The whole HTTP/1.1 response; the connection is closed after it."""
        body = json.dumps(
            {"schemas": [ERROR_SCHEMA], "status": str(self.status), "detail": self.detail}
        ).encode()
        head = [
            f"HTTP/1.1 {self.status} {self.reason}",
            f"Content-Type: {SCIM_CONTENT_TYPE}",
            f"Content-Length: {len(body)}",
            "Connection: close",
        ]
        if self.retry_after is not None:
            head.append(f"Retry-After: {self.retry_after}")
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def refusal_for(exc: BaseException, cfg: Config) -> Refusal | None:
    """The answer to a request gunicorn's parser rejected with ``exc``; ``None`` when
    ``exc`` is not the client's fault (the caller answers 500 and logs it)."""
    if isinstance(exc, h.LimitRequestLine):
        return Refusal(
            414,
            f"The request line (method, path and query string) is longer than "
            f"{cfg.limit_request_line} bytes. Shorten the URL; a long filter can be sent "
            f"in the body of POST .search.",
        )
    if isinstance(exc, h.LimitRequestHeaders):
        return Refusal(
            431,
            f"The request headers are too large: at most {cfg.limit_request_fields} headers "
            f"of at most {cfg.limit_request_field_size} bytes each.",
        )
    if isinstance(exc, _APPLICATION_FAULTS):
        return None  # a header the application tried to send: its fault, not the client's
    if isinstance(exc, h.ObsoleteFolding):
        return Refusal(400, f"Header {exc.hdr!r} is folded over several lines; send it on one.")
    if isinstance(exc, (h.InvalidHeader, h.InvalidHeaderName)):
        name = str(getattr(exc, "hdr", "")).strip()
        return Refusal(
            400,
            f"Request header {name!r} is malformed (a bad name, or a control character "
            f"such as NUL, CR or LF in its value), or Content-Length / Transfer-Encoding "
            f"conflict.",
        )
    if isinstance(exc, h.UnsupportedTransferCoding):
        return Refusal(501, "Only the 'chunked' Transfer-Encoding is supported.")
    if isinstance(exc, (h.InvalidChunkSize, h.ChunkMissingTerminator, h.InvalidChunkExtension)):
        return Refusal(400, "The chunked request body is malformed.")
    if isinstance(exc, h.ExpectationFailed):
        return Refusal(417, "Only 'Expect: 100-continue' is supported.")
    if isinstance(exc, h.ForbiddenProxyRequest):
        return Refusal(403, "PROXY protocol headers are not accepted from this address.")
    if isinstance(exc, h.InvalidSchemeHeaders):
        return Refusal(400, "The forwarded-scheme headers contradict each other.")
    if isinstance(exc, (h.InvalidRequestMethod, h.InvalidHTTPVersion, h.InvalidRequestLine)):
        return Refusal(
            400, "The request line is not valid HTTP/1.1 ('METHOD /path HTTP/1.1', in ASCII)."
        )
    if isinstance(exc, (h.ParseException, UnicodeError, ValueError)):
        return BAD_REQUEST
    return None


INTERNAL_ERROR = Refusal(500, "The server could not handle the request.")
BAD_REQUEST = Refusal(400, "The request is not valid HTTP/1.1.")


def headers_too_large(cfg: Config) -> Refusal:
    """The request line and headers are over what gunicorn's limits allow in all."""
    refusal = refusal_for(h.LimitRequestHeaders("max buffer headers"), cfg)
    assert refusal is not None
    return refusal


def header_timeout(seconds: float) -> Refusal:
    return Refusal(
        408, f"The request headers did not arrive within {seconds:g} seconds.", retry_after=1
    )


def body_timeout(seconds: float) -> Refusal:
    return Refusal(
        408, f"The request body did not arrive within {seconds:g} seconds.", retry_after=1
    )


def body_too_large(limit: int) -> Refusal:
    return Refusal(413, f"The request body exceeds the limit of {limit} bytes.")


def server_busy() -> Refusal:
    return Refusal(
        503, "The server holds too many unfinished requests; try again shortly.", retry_after=5
    )
