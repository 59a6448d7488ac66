"""Clients that do not read their answers do not stop the service.

A list page of several megabytes does not fit in the socket buffers, so before the
answers were sent from the worker's main loop, a thread wrote it and waited while the
client read nothing: 16 such connections held every thread of ``serve --workers 2`` and
other requests waited until they timed out. Now a thread writes the answer into memory
and moves on; the main loop sends it as the client reads, and drops a connection that
takes nothing for ``--send-timeout`` seconds.

Its own server (SQLite, two workers, the default four threads each, a 3 s send timeout),
since these clients would slow the shared ``live_server`` for other tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from .multi import run_cli, run_cli_json, start_instance, stop_process_groups, wait_until_ready

WORKERS = 2
SEND_TIMEOUT = 3.0
#: More than the server's 2 x 4 threads.
NON_READERS = 16
#: Users with many long e-mail addresses make one page of several megabytes: more than
#: the client's (small) receive buffer and the server's send buffer hold together.
USERS = 10
EMAILS_PER_USER = 900
#: A normal request answered within this is prompt; before the change it waited 30 s.
PROMPT = 5.0


@dataclass(frozen=True)
class Tenant:
    base_url: str
    tenant_url: str
    token: str
    log_path: Path


@pytest.fixture(scope="module")
def tenant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenant]:
    workdir = tmp_path_factory.mktemp("slow-readers")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SCIMSERVER_")},
        "SCIMSERVER_DATABASE_URL": f"sqlite:///{workdir / 'scim.db'}",
        "NO_PROXY": "*",
    }
    run_cli(env, "db", "upgrade")
    run_cli_json(env, "orgs", "create", "readers", "--json")
    instance = start_instance(
        "slow-readers", env, WORKERS, workdir, "--send-timeout", str(SEND_TIMEOUT)
    )
    try:
        wait_until_ready(instance, WORKERS)
        token = run_cli_json(
            {**env, "SCIMSERVER_PUBLIC_URL": instance.base_url},
            "token",
            "generate",
            "readers",
            "--json",
        )
        tenant = Tenant(instance.base_url, token["tenant_url"], token["token"], instance.log_path)
        _create_big_users(tenant)
        yield tenant
    finally:
        stop_process_groups([instance.proc])


def _create_big_users(tenant: Tenant) -> None:
    with requests.Session() as http:
        http.trust_env = False
        for n in range(USERS):
            user = {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": f"big-{n}",
                "emails": [
                    {"value": f"{'a' * 480}{i}@example.com", "type": "work"}
                    for i in range(EMAILS_PER_USER)
                ],
            }
            resp = http.post(
                f"{tenant.tenant_url}/Users",
                json=user,
                headers={"Authorization": f"Bearer {tenant.token}"},
                timeout=30,
            )
            assert resp.status_code == 201, resp.text[:500]


def _ask_for_the_big_page(tenant: Tenant) -> socket.socket:
    """A connection that asks for every big user and then reads nothing (yet)."""
    host, port = tenant.base_url.removeprefix("http://").split(":")
    sock = socket.socket()
    # A small receive buffer, set before connecting, keeps the client's window small.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.settimeout(30)
    sock.connect((host, int(port)))
    path = tenant.tenant_url.removeprefix(tenant.base_url)
    sock.sendall(
        f"GET {path}/Users?count={USERS}&sortBy=userName HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\nAuthorization: Bearer {tenant.token}\r\n\r\n".encode()
    )
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(1 << 20):
            chunks.append(chunk)
            if _is_whole(b"".join(chunks)):
                break
    return b"".join(chunks)


def _is_whole(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def _head_and_body(data: bytes) -> tuple[int, int, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(
        int(line.partition(b":")[2])
        for line in head.split(b"\r\n")[1:]
        if line.partition(b":")[0].strip().lower() == b"content-length"
    )
    return status, length, body


def test_clients_that_do_not_read_their_answers_hold_no_thread(tenant: Tenant) -> None:
    non_readers = [_ask_for_the_big_page(tenant) for _ in range(NON_READERS)]
    try:
        time.sleep(0.5)  # every big answer is made and waiting on its client
        started = time.monotonic()
        with requests.Session() as http:
            http.trust_env = False
            for _ in range(20):
                resp = http.get(
                    f"{tenant.tenant_url}/Users?count=1",
                    headers={"Authorization": f"Bearer {tenant.token}"},
                    timeout=PROMPT,
                )
                assert resp.status_code == 200
        assert time.monotonic() - started < PROMPT

        # A client that reads late (within the send timeout) still gets all of it.
        status, length, body = _head_and_body(_read_until_closed(non_readers[0]))
        assert status == 200
        assert len(body) == length > 4 * 1024 * 1024
        page = json.loads(body)
        assert [u["userName"] for u in page["Resources"]] == [f"big-{n}" for n in range(USERS)]
        assert all(len(u["emails"]) == EMAILS_PER_USER for u in page["Resources"])
    finally:
        for sock in non_readers:
            sock.close()


def test_a_client_that_stops_reading_is_dropped_after_the_send_timeout(tenant: Tenant) -> None:
    sock = _ask_for_the_big_page(tenant)
    with sock:
        time.sleep(SEND_TIMEOUT + 2.0)
        data = _read_until_closed(sock)
    status, length, body = _head_and_body(data)
    assert status == 200
    assert len(body) < length  # cut off: the rest was never sent
    log = tenant.log_path.read_text(errors="replace")
    assert "did not take its answer in time" in log
