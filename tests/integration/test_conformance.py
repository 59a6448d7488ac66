"""``scimserver check`` (the conformance runner) against our live service and a broken one.

Against the real service (SQLite and PostgreSQL, via the ``live_server`` fixture) no check
may fail, and checks for features the ServiceProviderConfig does not advertise must be
reported as *skipped*, never as passed. Against a deliberately broken SCIM server (below)
the runner must detect each planted bug, so a green report means something.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from scimserver.conformance import Report, Status, run
from scimserver.conformance.report import to_json, to_junit, to_markdown

from .conftest import CLI_TIMEOUT, REPO_ROOT, LiveServer, _cli_command
from .support import LOOPBACK

FEATURE_CHECKS = {
    ("etag", "supported"): "etag.",
    ("bulk", "supported"): "bulk.",
    ("pagination", "cursor"): "paging.cursor-",
    ("changePassword", "supported"): "patch.change-password",
}


def _failures(report: Report) -> str:
    lines = []
    for r in report.results:
        if r.status is Status.FAIL:
            lines.append(
                f"{r.id} [{r.rfc}] {r.request}\n  expected: {r.expected}\n  actual: {r.actual}"
            )
    return "\n".join(lines)


def _spc(live_server: LiveServer) -> dict[str, Any]:
    with live_server.session() as scim:
        resp = scim.get("/ServiceProviderConfig")
        assert resp.status_code == 200, resp.text
        data: dict[str, Any] = resp.json()
        return data


def _leftovers(live_server: LiveServer, run_id: str) -> int:
    with live_server.session() as scim:
        total = 0
        for endpoint, attr in (("/Users", "userName"), ("/Groups", "displayName")):
            resp = scim.get(endpoint, params={"filter": f'{attr} sw "{run_id}"', "count": 0})
            assert resp.status_code == 200, resp.text
            total += int(resp.json()["totalResults"])
        return total


@pytest.fixture(scope="module")
def report(live_server: LiveServer) -> Report:
    return run(live_server.tenant_url, live_server.token)


def test_no_check_fails_against_our_service(report: Report, live_server: LiveServer) -> None:
    assert report.ok, f"conformance failures on {live_server.backend}:\n{_failures(report)}"
    assert report.count(Status.PASS) >= 100
    assert {r.profile for r in report.results} == {"rfc", "okta", "entra"}


def test_unadvertised_features_are_skipped_not_passed(
    report: Report, live_server: LiveServer
) -> None:
    spc = _spc(live_server)
    by_id = {r.id: r for r in report.results}
    for (section, key), prefix in FEATURE_CHECKS.items():
        ids = [i for i in by_id if i.startswith(prefix)]
        assert ids, prefix
        advertised = (spc.get(section) or {}).get(key) is True
        for check_id in ids:
            result = by_id[check_id]
            if advertised:
                assert result.status is not Status.SKIP, (check_id, result.reason)
            else:
                assert result.status is Status.SKIP, (check_id, result.status, result.actual)
                assert result.reason and f"{section}.{key}" in result.reason


def test_run_cleans_up_everything_it_created(report: Report, live_server: LiveServer) -> None:
    assert report.cleanup["created"] > 20
    assert report.cleanup["failed"] == []
    assert _leftovers(live_server, report.run_id) == 0


def test_reports_are_well_formed(report: Report) -> None:
    data = json.loads(to_json(report))
    assert data["schema_version"] == 1
    assert data["summary"]["total"] == len(data["checks"]) == len(report.results)
    for check in data["checks"]:
        assert set(check) >= {"id", "title", "rfc", "status", "expected", "actual", "request"}
        assert check["rfc"].startswith("RFC "), check
        if check["status"] != "skip":
            assert check["request"]["method"] and check["request"]["path"].startswith("/")
    suite = ET.fromstring(to_junit(report))
    assert suite.tag == "testsuite"
    assert len(suite.findall("testcase")) == len(report.results)
    assert suite.get("failures") == str(report.count(Status.FAIL))
    assert len(suite.findall("testcase/skipped")) == report.count(Status.SKIP)
    table = to_markdown(report)
    assert table.count("\n| ") == len(report.results) + 1


@pytest.mark.parametrize("profile", ["rfc", "okta", "entra"])
def test_profiles_select_lifecycles(live_server: LiveServer, profile: str) -> None:
    result = run(live_server.tenant_url, live_server.token, profile, only=["okta", "entra", "auth"])
    profiles = {r.profile for r in result.results}
    assert profiles == ({"rfc"} if profile == "rfc" else {"rfc", profile})
    assert result.ok, _failures(result)


def test_cli_writes_reports_and_exits_zero(live_server: LiveServer, tmp_path: Path) -> None:
    json_path, junit_path, md_path = (
        tmp_path / "report.json",
        tmp_path / "report.xml",
        tmp_path / "report.md",
    )
    proc = subprocess.run(
        [
            *_cli_command(),
            "check",
            live_server.tenant_url,
            "--token",
            live_server.token,
            "--profile",
            "rfc",
            "--json",
            str(json_path),
            "--junit",
            str(junit_path),
            "--markdown",
            str(md_path),
        ],
        env=live_server.env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT * 3,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 failed" in proc.stdout
    data = json.loads(json_path.read_text())
    assert data["profile"] == "rfc" and data["summary"]["failed"] == 0
    assert ET.parse(junit_path).getroot().get("failures") == "0"
    assert "| area | id |" in md_path.read_text()


def test_me_checks_with_a_jwt_subject(jwt_app: Any) -> None:
    """/Me with a JWT whose ``sub`` is a userName (in another case): both /Me checks pass.

    The live server accepts only opaque tokens (so there ``me.subject`` is skipped); this
    serves the app with JWT bearer tokens enabled on a loopback port instead.
    """
    from werkzeug.serving import make_server

    from scimserver.conformance.http import ScimHttp
    from tests.conftest import make_jwt, new_org

    slug, token = new_org(jwt_app)
    server = make_server(LOOPBACK, 0, jwt_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://{LOOPBACK}:{server.server_port}/scim/v2/organizations/{slug}"
        user_name = f"me-{uuid.uuid4().hex[:8]}@example.com"
        admin = ScimHttp(url, token)
        created = admin.request("POST", "/Users", {"schemas": [USER], "userName": user_name})
        assert created.status == 201, created.summary()
        result = run(url, make_jwt(org=slug, sub=user_name.upper()), only=["me"])
        got = {r.id: r.status for r in result.results}
        assert got == {"me.get": Status.PASS, "me.subject": Status.PASS}, _failures(result)
        subject = next(r for r in result.results if r.id == "me.subject")
        assert created.json()["id"] in subject.actual
        opaque = run(url, token, only=["me"])
        assert {r.id: r.status for r in opaque.results} == {
            "me.get": Status.PASS,
            "me.subject": Status.SKIP,
        }
    finally:
        server.shutdown()
        server.server_close()


def test_cli_exits_nonzero_on_a_failure(live_server: LiveServer) -> None:
    proc = subprocess.run(
        [*_cli_command(), "check", live_server.tenant_url, "--token", "wrong", "--only", "crud"],
        env=live_server.env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL" in proc.stdout


# -- a deliberately broken SCIM server -----------------------------------------------------

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
_TOKEN = re.compile(r'\(|\)|"(?:[^"\\]|\\.)*"|[^\s()]+')


class _BrokenFilter:
    """A filter evaluator with two classic bugs.

    * ``and``/``or`` are folded strictly left to right (``a or b and c`` is read as
      ``(a or b) and c``);
    * ``co``/``sw``/``ew`` are SQL ``LIKE`` patterns (``%`` and ``_`` are wildcards).
    """

    def __init__(self, text: str) -> None:
        self.tokens = _TOKEN.findall(text)
        self.pos = 0

    def _next(self) -> str:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self) -> Any:
        node = self._term()
        while self.pos < len(self.tokens) and self.tokens[self.pos].lower() in ("and", "or"):
            op = self._next().lower()
            node = (op, node, self._term())
        return node

    def _term(self) -> Any:
        token = self._next()
        if token == "(":
            node = self.parse()
            assert self._next() == ")"
            return node
        if token.lower() == "not":
            assert self._next() == "("
            node = self.parse()
            assert self._next() == ")"
            return ("not", node)
        op = self._next().lower()
        if op == "pr":
            return ("pr", token)
        return (op, token, json.loads(self._next()))

    @staticmethod
    def evaluate(node: Any, resource: dict[str, Any]) -> bool:
        kind = node[0]
        if kind in ("and", "or"):
            left = _BrokenFilter.evaluate(node[1], resource)
            right = _BrokenFilter.evaluate(node[2], resource)
            return (left and right) if kind == "and" else (left or right)
        if kind == "not":
            return not _BrokenFilter.evaluate(node[1], resource)
        value: Any = resource
        for part in node[1].split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if kind == "pr":
            return value not in (None, "", [])
        if not isinstance(value, str):
            return False
        have, want = value.lower(), str(node[2]).lower()
        like = re.escape(want).replace("%", ".*").replace("_", ".")
        patterns = {"co": f".*{like}.*", "sw": f"{like}.*", "ew": f".*{like}"}
        if kind in patterns:
            return re.fullmatch(patterns[kind], have, re.S) is not None
        compare = {"eq": have == want, "ne": have != want, "gt": have > want, "lt": have < want}
        return compare.get(kind, False)


class _BrokenScim(BaseHTTPRequestHandler):
    """Users only: stores and returns ``password``, and uses :class:`_BrokenFilter`."""

    users: dict[str, dict[str, Any]] = {}
    token = "broken-token"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/scim+json")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", "Bearer")
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, scim_type: str | None = None) -> None:
        body = {"schemas": [ERROR], "status": str(status), "detail": "error"}
        if scim_type:
            body["scimType"] = scim_type
        self._send(status, body)

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self._error(401)
            return False
        return True

    def do_GET(self) -> None:
        if not self._authorized():
            return
        parts = urlsplit(self.path)
        path = parts.path.split("/scim/v2", 1)[1]
        if path == "/ServiceProviderConfig":
            off = {"supported": False}
            self._send(
                200,
                {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
                    "patch": {"supported": True},
                    "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
                    "filter": {"supported": True, "maxResults": 100},
                    "changePassword": off,
                    "sort": off,
                    "etag": off,
                    "authenticationSchemes": [],
                },
            )
        elif path == "/ResourceTypes":
            rtype = {"id": "User", "name": "User", "endpoint": "/Users", "schema": USER}
            self._send(200, {"schemas": [LIST], "totalResults": 1, "Resources": [rtype]})
        elif path == "/Users":
            query = parse_qs(parts.query)
            found = list(self.users.values())
            if "filter" in query:
                try:
                    tree = _BrokenFilter(query["filter"][0]).parse()
                except (AssertionError, IndexError, ValueError):
                    self._error(400, "invalidFilter")
                    return
                found = [u for u in found if _BrokenFilter.evaluate(tree, u)]
            body = {"schemas": [LIST], "totalResults": len(found), "startIndex": 1}
            self._send(200, {**body, "itemsPerPage": len(found), "Resources": found})
        elif path.startswith("/Users/") and path[7:] in self.users:
            self._send(200, self.users[path[7:]])
        else:
            self._error(404)

    def do_POST(self) -> None:
        if not self._authorized():
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        taken = {u["userName"].lower() for u in self.users.values()}
        if body.get("userName", "").lower() in taken:
            self._error(409, "uniqueness")
            return
        uid = str(uuid.uuid4())
        location = f"http://{LOOPBACK}:{self.server.server_port}/scim/v2/Users/{uid}"
        meta = {"resourceType": "User", "location": location}
        user = {**body, "id": uid, "meta": meta}
        self.users[uid] = user
        self.send_response(201)
        data = json.dumps(user).encode()
        self.send_header("Content-Type", "application/scim+json")
        self.send_header("Location", location)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_DELETE(self) -> None:
        if not self._authorized():
            return
        uid = urlsplit(self.path).path.rsplit("/", 1)[-1]
        if self.users.pop(uid, None) is None:
            self._error(404)
        else:
            self._send(204)


@pytest.fixture
def broken_server() -> Iterator[str]:
    _BrokenScim.users = {}
    server = ThreadingHTTPServer((LOOPBACK, 0), _BrokenScim)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_port}/scim/v2"
    finally:
        server.shutdown()
        server.server_close()


BROKEN_CHECKS = {
    # planted bug -> the checks that must catch it
    "filter.precedence-or-and": Status.FAIL,
    "filter.co-literal-percent": Status.FAIL,
    "filter.sw-literal-underscore": Status.FAIL,
    "crud.password-never-returned": Status.FAIL,
    # what the broken server gets right must still pass (no false alarms)
    "filter.eq": Status.PASS,
    "filter.co": Status.PASS,
    "filter.sw": Status.PASS,
    "filter.parentheses": Status.PASS,
    # "b and c or a" folded left to right happens to be right: the check must not cry wolf
    "filter.precedence-and-or": Status.PASS,
    "filter.username-case-insensitive": Status.PASS,
    "uniqueness.duplicate-username": Status.PASS,
    "auth.no-token": Status.PASS,
    # not advertised by the broken server
    "etag.header": Status.SKIP,
    "bulk.bulkid": Status.SKIP,
    "paging.cursor-walk": Status.SKIP,
    "etag.post-header": Status.SKIP,
    "etag.if-none-match-after-patch": Status.SKIP,
    "bulk.forward-reference": Status.SKIP,
    "bulk.circular-reference": Status.SKIP,
    "bulk.max-payload-size": Status.SKIP,
    "patch.change-password": Status.SKIP,
    # /Me answers 404: RFC 7644 3.11 asks for 501 (or a redirect, or the user)
    "me.get": Status.FAIL,
    # an opaque token names no user
    "me.subject": Status.SKIP,
}


def test_runner_detects_planted_bugs(broken_server: str) -> None:
    result = run(broken_server, _BrokenScim.token, "rfc", only=sorted(BROKEN_CHECKS))
    got = {r.id: r.status for r in result.results}
    assert got == BROKEN_CHECKS, "\n".join(
        f"{r.id}: {r.status} expected {BROKEN_CHECKS[r.id]} ({r.actual} {r.reason})"
        for r in result.results
        if r.status is not BROKEN_CHECKS[r.id]
    )
    assert not result.ok
    by_id = {r.id: r for r in result.results}
    precedence = by_id["filter.precedence-or-and"]
    assert precedence.request and "or" in precedence.request["path"]
    assert precedence.actual.endswith("matched ['gamma']"), precedence.actual
    assert "password" in by_id["crud.password-never-returned"].actual
    assert _BrokenScim.users == {}, "the runner must delete what it created"


def test_cli_against_broken_server_exits_one(broken_server: str, tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    code = (
        "import sys; from scimserver.conformance.cli import check; "
        "check(sys.argv[1:], standalone_mode=True)"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            broken_server,
            "--token",
            _BrokenScim.token,
            "--only",
            "filter.precedence-or-and",
            "--junit",
            str(junit),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failure = ET.parse(junit).getroot().find("testcase/failure")
    assert failure is not None and "RFC 7644 3.4.2.2" in (failure.text or "")


def test_runner_refuses_urls_outside_the_base(broken_server: str) -> None:
    from scimserver.conformance.http import OutsideBaseUrl, ScimHttp

    http = ScimHttp(broken_server, "t")
    with pytest.raises(OutsideBaseUrl):
        http.url("/../../etc")
    with pytest.raises(OutsideBaseUrl):
        ScimHttp("ftp://127.0.0.1/x", "t")
