"""The HTTP server in front of the app: what it refuses, and that HTTP/1.1 still works.

Requests gunicorn's parser refuses (a request line or header over its limits, a NUL in a
header, a body over the size limit) are answered with a SCIM error document, not an HTML
page; a URL with ``//`` is a SCIM 404, never a redirect. The worker reads requests whole
before a thread runs them, so keep-alive, pipelining, chunked bodies and ``Expect:
100-continue`` are checked over the wire too.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

import pytest
import requests

from .conftest import LiveServer
from .support import REQUEST_TIMEOUT, USER_SCHEMA, assert_scim_error, unique
from .wire import Wire, WireResponse, wire_request

#: gunicorn's limits, as ``scimserver serve`` leaves them (docs/security.md).
REQUEST_LINE_LIMIT = 4094
HEADER_FIELD_LIMIT = 8190


def tenant_path(server: LiveServer, rest: str = "") -> str:
    return urlsplit(server.tenant_url).path + rest


def auth(server: LiveServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


def assert_scim_refusal(resp: WireResponse, status: int) -> str:
    """A SCIM error document with ``status``; the connection is to be closed. Its detail."""
    assert resp.status_code == status, (resp.status_code, resp.headers, resp.text)
    assert resp.headers.get("content-type", "").startswith("application/scim+json"), resp.headers
    body = resp.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"], body
    assert body["status"] == str(status), body
    assert isinstance(body["detail"], str) and body["detail"], body
    detail: str = body["detail"]
    return detail


def test_request_line_over_the_limit_is_a_scim_414(live_server: LiveServer) -> None:
    path = tenant_path(live_server, "/Users?filter=" + "x" * REQUEST_LINE_LIMIT)
    with Wire(live_server.base_url) as wire:
        wire.send(wire_request("GET", path, headers=auth(live_server)))
        detail = assert_scim_refusal(wire.response(), 414)
        assert wire.closed_by_server()
    assert str(REQUEST_LINE_LIMIT) in detail and ".search" in detail


def test_header_over_the_limit_is_a_scim_431(live_server: LiveServer) -> None:
    headers = {**auth(live_server), "X-Big": "a" * (HEADER_FIELD_LIMIT + 10)}
    with Wire(live_server.base_url) as wire:
        wire.send(wire_request("GET", tenant_path(live_server, "/Users"), headers=headers))
        detail = assert_scim_refusal(wire.response(), 431)
    assert str(HEADER_FIELD_LIMIT) in detail


def test_too_many_headers_is_a_scim_431(live_server: LiveServer) -> None:
    headers = {**auth(live_server), **{f"X-Extra-{i}": "x" for i in range(120)}}
    with Wire(live_server.base_url) as wire:
        wire.send(wire_request("GET", tenant_path(live_server, "/Users"), headers=headers))
        assert_scim_refusal(wire.response(), 431)


def test_nul_in_content_type_is_a_scim_400_naming_the_header(live_server: LiveServer) -> None:
    request = wire_request(
        "POST",
        tenant_path(live_server, "/Users"),
        headers=auth(live_server),
        extra=b"Content-Type: application/scim+json\x00x\r\n",
        body=b"{}",
    )
    with Wire(live_server.base_url) as wire:
        wire.send(request)
        detail = assert_scim_refusal(wire.response(), 400)
    assert "CONTENT-TYPE" in detail.upper()


def test_declared_body_over_the_limit_is_a_scim_413_before_the_body_is_sent(
    live_server: LiveServer,
) -> None:
    headers = {
        **auth(live_server),
        "Content-Type": "application/scim+json",
        "Content-Length": str(50 * 1024 * 1024),
    }
    with Wire(live_server.base_url) as wire:
        wire.send(wire_request("POST", tenant_path(live_server, "/Users"), headers=headers))
        assert_scim_refusal(wire.response(), 413)


@pytest.mark.parametrize("size_line", [b"200000", b"FFFFFFFFFFFFFFFFFFFF"])
@pytest.mark.parametrize("apart", [False, True])
def test_a_chunk_size_over_the_limit_is_a_scim_413_before_the_chunk_is_sent(
    live_server: LiveServer, size_line: bytes, apart: bool
) -> None:
    """The size line alone says the body is over the 1 MiB limit; it waited for the 30 s
    body timeout (408). ``apart``: the size line comes after the headers, on its own."""
    headers = {
        **auth(live_server),
        "Content-Type": "application/scim+json",
        "Transfer-Encoding": "chunked",
    }
    head = wire_request("POST", tenant_path(live_server, "/Users"), headers=headers)
    with Wire(live_server.base_url, timeout=5.0) as wire:
        if apart:
            wire.send(head)
            time.sleep(0.3)
            wire.send(size_line + b"\r\n")
        else:
            wire.send(head + size_line + b"\r\n")
        detail = assert_scim_refusal(wire.response(), 413)
    assert "limit" in detail


@pytest.mark.parametrize(
    "rest", ["//Users", "/Users//", "//ServiceProviderConfig", "/Users//some-id"]
)
def test_empty_path_segment_is_a_scim_404_not_a_redirect(
    live_server: LiveServer, rest: str
) -> None:
    resp = requests.get(
        live_server.tenant_url + rest,
        headers=auth(live_server),
        allow_redirects=False,
        timeout=REQUEST_TIMEOUT,
    )
    body = assert_scim_error(resp, 404)
    assert "Location" not in resp.headers
    assert "//" in body["detail"]


@pytest.mark.parametrize("prefix", ["/", "//", "///"])
def test_leading_empty_segments_are_a_scim_404_like_inner_ones(
    live_server: LiveServer, prefix: str
) -> None:
    """``//scim/v2/...`` was answered 200 while ``/scim/v2//Users`` was a 404."""
    path = prefix + tenant_path(live_server, "/Users").lstrip("/")
    with Wire(live_server.base_url) as wire:
        wire.send(wire_request("GET", path, headers=auth(live_server)))
        resp = wire.response()
    if prefix == "/":
        assert resp.status_code == 200, resp.text
        return
    assert resp.status_code == 404, resp.text
    assert "//" in resp.json()["detail"]


def test_options_asterisk_is_a_scim_405_with_allow(live_server: LiveServer) -> None:
    """``OPTIONS *`` was a SCIM 404; OPTIONS on a path is a 405 listing the methods."""
    with Wire(live_server.base_url) as wire:
        wire.send(b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        resp = wire.response()
    assert resp.status_code == 405, resp.text
    assert resp.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    allowed = {m.strip() for m in resp.headers["allow"].split(",")}
    assert allowed == {"GET", "POST", "PUT", "PATCH", "DELETE"}


def test_a_websocket_upgrade_is_a_400_that_says_so(live_server: LiveServer) -> None:
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket"}
    with Wire(live_server.base_url) as wire:
        wire.send(wire_request("GET", "/healthz", headers=upgrade))
        resp = wire.response()
    detail = assert_scim_refusal(resp, 400)
    assert "WebSocket" in detail and "Upgrade" in detail


def test_pipelined_requests_are_all_answered_in_order(live_server: LiveServer) -> None:
    paths = ["/ServiceProviderConfig", "/Users?count=1", "/ResourceTypes", "/Schemas"]
    burst = b"".join(
        wire_request("GET", tenant_path(live_server, p), headers=auth(live_server)) for p in paths
    )
    with Wire(live_server.base_url) as wire:
        wire.send(burst)
        answers = [wire.response() for _ in paths]
        # The connection stays open for the next request.
        wire.send(
            wire_request(
                "GET", tenant_path(live_server, "/Users?count=1"), headers=auth(live_server)
            )
        )
        last = wire.response()
    assert [a.status_code for a in answers] == [200, 200, 200, 200]
    assert "patch" in answers[0].json()
    assert "Resources" in answers[1].json()
    assert last.status_code == 200


def test_chunked_body_sent_in_pieces_creates_the_user(live_server: LiveServer) -> None:
    user_name = unique("chunked")
    body = json.dumps({"schemas": [USER_SCHEMA], "userName": user_name}).encode()
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 7]), body[i : i + 7]) for i in range(0, len(body), 7)
    )
    headers = {
        **auth(live_server),
        "Content-Type": "application/scim+json",
        "Transfer-Encoding": "chunked",
    }
    with Wire(live_server.base_url) as wire:
        wire.send(wire_request("POST", tenant_path(live_server, "/Users"), headers=headers))
        wire.send(chunks[: len(chunks) // 2])
        wire.send(chunks[len(chunks) // 2 :] + b"0\r\n\r\n")
        created = wire.response()
    assert created.status_code == 201, created.text
    assert created.json()["userName"] == user_name


def test_expect_100_continue_gets_continue_then_the_answer(live_server: LiveServer) -> None:
    user_name = unique("expect")
    body = json.dumps({"schemas": [USER_SCHEMA], "userName": user_name}).encode()
    headers = {
        **auth(live_server),
        "Content-Type": "application/scim+json",
        "Content-Length": str(len(body)),
        "Expect": "100-continue",
    }
    with Wire(live_server.base_url) as wire:
        wire.send(wire_request("POST", tenant_path(live_server, "/Users"), headers=headers))
        interim = wire.response()
        wire.send(body)
        created = wire.response()
    assert interim.status_code == 100
    assert created.status_code == 201, created.text
    assert created.json()["userName"] == user_name
