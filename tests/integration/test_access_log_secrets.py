"""No secret reaches the server's log: the access log masks credentials in query strings
and never shows the Authorization header, whatever the request looked like.

The live server's output (access log and error log) is read back from its log file.
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlsplit

import requests

from .conftest import LiveServer
from .support import REQUEST_TIMEOUT, assert_scim_error
from .wire import Wire, wire_request

#: How long the log may take to show a request's line (it is written after the answer).
LOG_WAIT = 5.0


def log_after(server: LiveServer, marker: str) -> str:
    """The server log once ``marker`` shows in it (bounded by ``LOG_WAIT``)."""
    deadline = time.monotonic() + LOG_WAIT
    while True:
        text = server.log_path.read_text(errors="replace")
        if marker in text or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def test_query_string_credentials_are_masked_in_the_access_log(live_server: LiveServer) -> None:
    secret = "qs" + secrets.token_hex(12)
    marker = secrets.token_hex(6)
    query = (
        f"access_token={secret}&id_token={secret}&client_secret={secret}&password={secret}"
        f"&code={secret}&state={secret}&api_key={secret}&X-Refresh-Token={secret}"
        f"&count=1&marker={marker}"
    )
    resp = requests.get(
        f"{live_server.tenant_url}/Users?{query}",
        headers={"Authorization": f"Bearer {live_server.token}"},
        timeout=REQUEST_TIMEOUT,
    )
    assert_scim_error(resp, 401)  # tokens in the URL are refused, and...
    log = log_after(live_server, marker)
    lines = [line for line in log.splitlines() if marker in line]
    assert lines, "the request is in the access log"
    assert secret not in log, "...never written to the log"
    assert live_server.token not in log
    for name in ("access_token", "id_token", "client_secret", "password", "code", "state"):
        assert f"{name}=[redacted]" in lines[0], lines[0]
    assert "count=1" in lines[0]  # what is no secret stays readable


def test_credentials_in_a_refused_request_line_are_not_logged(live_server: LiveServer) -> None:
    secret = "line" + secrets.token_hex(12)
    path = urlsplit(live_server.tenant_url).path
    target = f"{path}/Users?access_token={secret}&filter=" + "x" * 5000
    with Wire(live_server.base_url) as wire:
        wire.send(wire_request("GET", target, headers={"Authorization": f"Bearer {secret}"}))
        assert wire.response().status_code == 414
    # The error log's line for the refusal comes after the answer; wait for a later request.
    marker = secrets.token_hex(6)
    requests.get(f"{live_server.base_url}/healthz?marker={marker}", timeout=REQUEST_TIMEOUT)
    log = log_after(live_server, marker)
    assert "414" in log
    assert secret not in log


def test_authorization_header_never_reaches_the_log(live_server: LiveServer) -> None:
    bad_token = "scim_" + secrets.token_urlsafe(24)
    marker = secrets.token_hex(6)
    resp = requests.get(
        f"{live_server.tenant_url}/Users?marker={marker}",
        headers={"Authorization": f"Bearer {bad_token}", "Cookie": f"session={bad_token}"},
        timeout=REQUEST_TIMEOUT,
    )
    assert_scim_error(resp, 401)
    log = log_after(live_server, marker)
    assert marker in log
    assert bad_token not in log
    assert live_server.token not in log


def test_the_service_token_under_any_parameter_name_is_refused_and_masked(
    live_server: LiveServer,
) -> None:
    """An attack run put the valid token in ``authorization=``, ``jwt=``, ``pass=``...
    (and ``Access_Token=``): each was answered 200 and logged in full."""
    names = ["Access_Token", "authorization", "bearer", "jwt", "pass", "otp", "q", "x"]
    for name in names:
        marker = secrets.token_hex(6)
        resp = requests.get(
            f"{live_server.tenant_url}/Users?count=1&{name}={live_server.token}&marker={marker}",
            headers={"Authorization": f"Bearer {live_server.token}"},
            timeout=REQUEST_TIMEOUT,
        )
        assert_scim_error(resp, 401)
        log = log_after(live_server, marker)
        assert any(marker in line and "[redacted]" in line for line in log.splitlines()), name
        assert live_server.token not in log, name


def test_a_token_as_a_query_parameter_name_is_refused_and_masked(live_server: LiveServer) -> None:
    """An attack run sent ``?<token>=1``: answered 200, and the token logged verbatim."""
    marker = secrets.token_hex(6)
    resp = requests.get(
        f"{live_server.tenant_url}/Users?{live_server.token}=1&marker={marker}",
        headers={"Authorization": f"Bearer {live_server.token}"},
        timeout=REQUEST_TIMEOUT,
    )
    assert_scim_error(resp, 401)
    log = log_after(live_server, marker)
    # The name is masked; so is the value "1" when the random token happens to hold a
    # part of a secret parameter's name (SECRET_PARTS: "otp", "key", ...).
    masked = ("?[redacted]=1&", "?[redacted]=[redacted]&")
    assert any(marker in line and any(m in line for m in masked) for line in log.splitlines())
    assert live_server.token not in log


def test_a_token_in_the_path_or_a_header_never_reaches_the_log(live_server: LiveServer) -> None:
    """The path (as a resource id, as the organization), User-Agent and Referer."""
    token = live_server.token
    path = urlsplit(live_server.tenant_url).path
    bearer = {"Authorization": f"Bearer {token}"}
    marker = secrets.token_hex(6)
    answers = [
        requests.get(f"{live_server.tenant_url}/Users/{token}", headers=bearer, timeout=5),
        requests.get(
            f"{live_server.base_url}/scim/v2/organizations/{token}/Users", headers=bearer, timeout=5
        ),
        requests.get(
            f"{live_server.base_url}{path}/Users/scim%5F{token[5:]}", headers=bearer, timeout=5
        ),
        requests.get(
            f"{live_server.tenant_url}/Users?count=1&marker={marker}",
            headers={
                **bearer,
                "User-Agent": f"probe {token}",
                "Referer": f"https://x.test/{token}",
            },
            timeout=REQUEST_TIMEOUT,
        ),
    ]
    assert [r.status_code for r in answers] == [404, 401, 404, 200]
    log = log_after(live_server, marker)
    lines = [line for line in log.splitlines() if marker in line]
    assert lines and "probe [redacted]" in lines[0], lines
    assert token not in log
    assert token[5:] not in log  # nor its percent-encoded form
