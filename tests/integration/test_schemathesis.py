"""Fuzz the live service with schemathesis, driven by the OpenAPI document it serves.

Every operation of ``/scim/v2/openapi.json`` is one test per backend: schemathesis
generates requests from the document (valid ones, and invalid ones the service must
turn away with a 4xx), sends them with the organization's bearer token to the real
gunicorn service, and fails on a server error or on a response whose status code,
content type, headers or body the document does not describe for that operation.
Operations on ``/Users/{id}`` and ``/Groups/{id}`` get, half of the time, the id of a
resource created just for that example, so PUT, PATCH, GET and DELETE reach real
resources and not only 404s; requests with a body are also sent without the
``attributes``/``excludedAttributes`` parameters, which are nearly always unknown
names when generated at random.

Runtime is bounded (``MAX_EXAMPLES`` per operation, no shrinking) and generation is
derandomized, so CI sends the same requests on every run.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from scimcore.openapi import openapi_document

from .conftest import LiveServer
from .support import GROUP_SCHEMA, SCIM_JSON, USER_SCHEMA

MAX_EXAMPLES = 40
FRESH = "fresh-resource-for-this-example"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# /Me answers its documented 501 to the organization's secret token (the token these
# runs use), which a no-5xx check cannot tell from a crash; tests/server/test_me_api.py
# covers /Me with JWTs.
OPERATIONS = [
    (method.upper(), path)
    for path, item in openapi_document()["paths"].items()
    for method in item
    if method in ("get", "post", "put", "patch", "delete") and path != "/Me"
]


@pytest.fixture(scope="session")
def http(live_server: LiveServer) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        session.headers["Authorization"] = f"Bearer {live_server.token}"
        yield session


@pytest.fixture(scope="session")
def api_schema(live_server: LiveServer, http: requests.Session) -> Any:
    """The document the live service serves, aimed at the main organization."""
    document = http.get(f"{live_server.base_url}/scim/v2/openapi.json", timeout=15)
    assert document.status_code == 200, document.text
    assert document.headers["Content-Type"].startswith("application/json")
    schema = schemathesis.openapi.from_dict(document.json())
    schema.config.update(
        base_url=live_server.tenant_url,
        headers={"Authorization": f"Bearer {live_server.token}"},
        request_timeout=15,
        suppress_health_check=list(HealthCheck),
    )
    return schema


def _fresh(http: requests.Session, live_server: LiveServer, path: str) -> str:
    """Create a User or Group to be the target of one generated request; return its id."""
    name = f"fuzz-{secrets.token_hex(6)}"
    if path.startswith("/Users"):
        body: dict[str, Any] = {"schemas": [USER_SCHEMA], "userName": name}
        endpoint = "/Users"
    else:
        body = {"schemas": [GROUP_SCHEMA], "displayName": name}
        endpoint = "/Groups"
    created = http.post(
        live_server.tenant_url + endpoint,
        json=body,
        headers={"Content-Type": SCIM_JSON},
        timeout=15,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _without_projection(case: Any) -> Any:
    for name in ("attributes", "excludedAttributes"):
        (case.query or {}).pop(name, None)
    return case


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_conforms_to_the_document(
    method: str, path: str, api_schema: Any, http: requests.Session, live_server: LiveServer
) -> None:
    operation = api_schema[path][method]
    strategies = []
    for mode in GenerationMode:
        for fixed in ({}, {"id": FRESH}) if path.endswith("/{id}") else ({},):
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed or None)
            strategies.append(strategy)
            if operation.body:
                # Random attributes/excludedAttributes are nearly always unknown names
                # (400): also send the bodies without them, so they reach the resource.
                strategies.append(strategy.map(_without_projection))

    @given(case=st.one_of(strategies))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[p for p in settings.default.phases if p.name != "shrink"],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        if (case.path_parameters or {}).get("id") == FRESH:
            case.path_parameters["id"] = _fresh(http, live_server, path)
        case.call_and_validate(session=http, checks=CHECKS)

    run()


# -- inputs the generator rarely produces, checked the same way ------------------------------

SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
EDGE_CASES: list[tuple[str, str, dict[str, Any]]] = [
    # (method, path, case arguments); NUL must be 404/400 on both backends, never 500
    ("GET", "/Users/{id}", {"path_parameters": {"id": "a\x00b"}}),
    ("DELETE", "/Groups/{id}", {"path_parameters": {"id": "a\x00b"}}),
    ("GET", "/Users", {"query": {"filter": 'userName eq "a\x00b"'}}),
    (
        "POST",
        "/Groups/.search",
        {"body": {"schemas": [SEARCH], "filter": 'displayName sw "\x00"'}, "media_type": SCIM_JSON},
    ),
    (
        "POST",
        "/Users",
        {"body": {"schemas": [USER_SCHEMA], "userName": "nul\x00"}, "media_type": SCIM_JSON},
    ),
    ("GET", "/Users", {"query": {"startIndex": str(2**64), "count": str(2**64)}}),
    ("GET", "/Users", {"query": {"cursor": "", "sortBy": "userName", "count": "-1"}}),
    ("GET", "/Schemas/{id}", {"path_parameters": {"id": "urn:x:\x00"}}),
]


@pytest.mark.parametrize(
    ("method", "path", "arguments"),
    EDGE_CASES,
    ids=[f"{m} {p} {sorted(a)[0]}-{i}" for i, (m, p, a) in enumerate(EDGE_CASES)],
)
def test_edge_case_conforms_to_the_document(
    method: str,
    path: str,
    arguments: dict[str, Any],
    api_schema: Any,
    http: requests.Session,
    live_server: LiveServer,
    request: pytest.FixtureRequest,
) -> None:
    case = api_schema[path][method].Case(**arguments)
    case.call_and_validate(session=http, checks=CHECKS)
