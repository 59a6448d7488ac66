"""The application factory and the one view that turns HTTP into scimcore calls."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import WebsocketMismatch

from scimcore import (
    Authenticator,
    JwtSettings,
    Principal,
    ScimError,
    ScimRequest,
    ScimService,
    ServiceConfig,
    Store,
    Unauthorized,
    error_response,
)
from scimcore.auth import holds_credential
from scimcore.errors import (
    BadRequest,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
)
from scimcore.jsontext import encode
from scimcore.messages import SCIM_CONTENT_TYPE, ScimResponse
from scimcore.openapi import openapi_document
from scimcore.ratelimit import RateLimits, client_key
from scimcore.schema.attributes import ResourceType

from .admin import init_admin
from .base_url import base_url
from .config import Settings
from .forwarded import EXTENSION as TRUSTED_PROXIES
from .forwarded import TrustedProxies, request_client
from .log_redaction import mask_service_logs, masked_logger
from .oauth_views import oauth_blueprint
from .wiring import DEFAULT_RESOURCE_TYPES, build, parts_for

log = masked_logger("scimserver")
TENANT_PREFIX = "/scim/v2/organizations/<org>"


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    resource_types: Sequence[ResourceType] = DEFAULT_RESOURCE_TYPES,
    rate_limits: RateLimits | None = None,
) -> Flask:
    """Build the service: settings from the environment unless given; the SQL store
    unless an embedding application passes its own; User and Group unless other
    resource types (e.g. with an extension schema, see docs/embedding.md) are given.
    The parts are built by :mod:`.wiring`; the rate limits are the settings' over its
    rate-limit store, unless others are given."""
    settings = settings or Settings.from_env()
    app = Flask("scimserver")
    # werkzeug would answer a URL with '//' with a 308 to the merged URL; IdPs do not
    # follow redirects for SCIM calls (and a POST body would be resent elsewhere).
    app.url_map.merge_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.extensions[TRUSTED_PROXIES] = TrustedProxies.parse(settings.forwarded_allow_ips)
    parts = parts_for(settings, store) if store is not None else build(settings, resource_types)
    store = parts.store
    limits = rate_limits or RateLimits(parts.rate_limit_store, settings.rate_limits())
    jwt_settings = (
        JwtSettings(
            key=settings.jwt_key,
            algorithms=settings.jwt_algorithms,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            organization_claim=settings.jwt_org_claim,
        )
        if settings.jwt_key
        else None
    )
    pepper = settings.token_pepper.encode() if settings.token_pepper else None
    service = ScimService(
        store,
        ServiceConfig(
            default_page_size=settings.default_page_size,
            max_page_size=settings.max_page_size,
            max_payload_bytes=settings.max_request_bytes,
        ),
        resource_types,
        keyring=parts.keyring,
    )
    authenticator = Authenticator(store, jwt_settings=jwt_settings, pepper=pepper)
    app.extensions["scimcore"] = {
        "store": store,
        "service": service,
        "settings": settings,
        "rate_limits": limits,
        "parts": parts,
    }
    mask_service_logs()  # no token in a log line, whichever module writes it
    init_admin(app, parts, service, limits)  # the console under /admin (SQL only)
    app.register_blueprint(oauth_blueprint(parts, limits))

    def tenant_url(org: str) -> str:
        base = base_url(settings.public_url)
        return f"{base}/scim/v2/organizations/{org}"

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]

    @app.before_request
    def answer_options_asterisk() -> None:
        """``OPTIONS *`` (RFC 9110 9.3.7) as OPTIONS on a path: a SCIM 405 with ``Allow``."""
        if request.method == "OPTIONS" and request.environ.get("PATH_INFO") == "*":
            allowed = tuple(methods)
            raise MethodNotAllowed(
                f"{request.method} * is not supported; the SCIM API allows "
                f"{', '.join(allowed)} on its endpoints.",
                allowed,
            )

    @app.before_request
    def refuse_empty_segments() -> None:
        """A path with '//' names no endpoint: a SCIM 404 that says why, never a redirect.

        The path as the server received it counts: werkzeug's ``request.path`` drops
        the leading '/'s, so ``//scim/v2/...`` was answered like ``/scim/v2/...``."""
        if "//" in request.path or "//" in str(request.environ.get("PATH_INFO", "")):
            raise NotFound(
                "There is no SCIM endpoint at this URL: it has an empty path segment ('//'). "
                "Remove the extra '/' (check the base URL configured in the IdP)."
            )

    def authenticate(org: str) -> Principal:
        """The caller, within the rate limits (docs/security.md, "Rate limits").

        A client address over the limit of failed authentications is refused from this
        process's memory, unless it brings a credential that is no guess
        (:meth:`Authenticator.vouches`). Only a failure writes (one counter row); a
        valid request costs the organization's in-memory request count.
        """
        authorization = request.headers.get("Authorization")
        address = client_key(request_client(request))
        wait = limits.failures.retry_after(address)
        if wait is not None and not authenticator.vouches(authorization):
            raise limits.too_many_failures(address, wait)
        try:
            if any(
                name.lower() == "access_token" or holds_credential(name) or holds_credential(value)
                for name, value in request.args.items(multi=True)
            ):
                raise Unauthorized(
                    "Tokens are never accepted in the query string; "
                    "send 'Authorization: Bearer <token>'."
                )
            principal = authenticator.identify(org, authorization)
        except Unauthorized:
            wait = limits.failures.failed(address)
            if wait is not None:
                raise limits.too_many_failures(address, wait) from None
            raise
        wait = limits.organizations.hit(principal.organization.id)
        if wait is not None:
            raise limits.too_many_requests(principal.organization.slug, wait)
        return principal

    # No automatic OPTIONS (an HTML 200): OPTIONS is then a SCIM 405 listing the methods.
    tenant = {"methods": methods, "provide_automatic_options": False}

    @app.route(TENANT_PREFIX, defaults={"rest": ""}, **tenant)
    @app.route(f"{TENANT_PREFIX}/", defaults={"rest": ""}, **tenant)
    @app.route(f"{TENANT_PREFIX}/<path:rest>", **tenant)
    def scim(org: str, rest: str) -> Response:
        principal = authenticate(org)
        scim_request = ScimRequest(
            # HEAD is GET without the body (RFC 9110 9.3.2), which werkzeug drops.
            method="GET" if request.method == "HEAD" else request.method,
            path="/" + rest,
            query=request.args.to_dict(),
            body=request.get_data(cache=False)
            if request.method in ("POST", "PUT", "PATCH")
            else b"",
            content_type=request.content_type,
            headers=dict(request.headers),
            subject=principal.subject,
        )
        result = service.handle(principal.organization, tenant_url(org), scim_request)
        if rest.lower() == "bulk" and result.body is not None:
            # A Bulk request is as many requests as it has operations (RFC 7644 3.7).
            operations = result.body.get("Operations")
            if isinstance(operations, list):
                limits.organizations.charge(principal.organization.id, len(operations) - 1)
        return _render(result)

    # These too answer OPTIONS with a SCIM 405 and Allow, not Flask's empty HTML 200.
    plain = {"provide_automatic_options": False}

    @app.get("/healthz", **plain)
    def health() -> Response:
        """Liveness: the process answers. It does not touch the database."""
        return Response("ok\n", mimetype="text/plain")

    @app.get("/readyz", **plain)
    def ready() -> Response:
        """Readiness: one cheap indexed lookup shows the database answers and is migrated."""
        try:
            store.get_organization("readyz-probe")
        except Exception:
            log.warning("readiness probe failed", exc_info=True)
            return Response("database unavailable\n", status=503, mimetype="text/plain")
        return Response("ok\n", mimetype="text/plain")

    @app.get("/scim/v2/openapi.json", **plain)
    def openapi() -> Response:
        """The OpenAPI 3.1 document of the tenant API (unauthenticated, read-only)."""
        base = base_url(settings.public_url)
        doc = openapi_document(
            service.resource_types.values(),
            config=service.config,
            server_url=f"{base}/scim/v2/organizations/{{org}}",
        )
        return Response(json.dumps(doc), mimetype="application/json")

    @app.errorhandler(ScimError)
    def scim_error(error: ScimError) -> Response:
        return _render(error_response(error))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        mapped: ScimError
        if error.code == 404:
            mapped = NotFound("There is no SCIM endpoint at this URL.")
        elif error.code == 405:
            allowed = tuple(m for m in getattr(error, "valid_methods", None) or () if m != "HEAD")
            listed = f"; allowed: {', '.join(allowed)}" if allowed else ""
            mapped = MethodNotAllowed(f"{request.method} is not allowed here{listed}.", allowed)
        elif isinstance(error, WebsocketMismatch):
            mapped = BadRequest(
                "WebSocket upgrades are not supported: this service speaks HTTP/1.1 only. "
                "Send the request without 'Upgrade: websocket' and 'Connection: Upgrade'."
            )
        elif error.code == 413:
            mapped = PayloadTooLarge(
                f"The request body exceeds the limit of {settings.max_request_bytes} bytes."
            )
        else:
            # Any other HTTP error keeps its own status (ScimError.status is per class).
            status = error.code or 500
            generic = error_response(ScimError(error.description))
            body = {**(generic.body or {}), "status": str(status)}
            return _render(replace(generic, status=status, body=body))
        return _render(error_response(mapped))

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unexpected error handling %s %s", request.method, request.path)
        return _render(error_response(InternalError()))

    return app


def _render(result: ScimResponse) -> Response:
    body: Any = result.body
    response = Response(
        encode(body) if body is not None else None,
        status=result.status,
        content_type=SCIM_CONTENT_TYPE if body is not None else None,
    )
    if body is None:  # 204, 304: no content, so no Content-Type (Flask adds text/html)
        del response.headers["Content-Type"]
    for key, value in result.headers.items():
        response.headers[key] = value
    return response
