"""``scimserver serve`` stops gracefully on SIGTERM with the buffering worker: a request
that is still arriving when the signal comes is answered (with ``Connection: close``),
idle kept-alive connections are closed, and the server exits by itself, in time.

Its own server (SQLite, one worker), since the shared ``live_server`` must stay up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .multi import run_cli, start_instance, stop_process_groups, wait_until_ready
from .wire import Wire, wire_request

#: gunicorn's graceful_timeout in scimserver/gunicorn.py, plus room for a slow machine.
EXIT_WITHIN = 20.0
#: An idle connection is closed within gthread's 2 s linger, well before the 10 s
#: graceful_timeout would end the worker anyway (generous for a slow machine).
IDLE_CLOSED_WITHIN = 7.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SCIMSERVER_")},
        "SCIMSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'scim.db'}",
        "NO_PROXY": "*",
    }
    run_cli(env, "db", "upgrade")
    instance = start_instance("graceful", env, 1, tmp_path)
    try:
        wait_until_ready(instance, 1)
        yield instance.proc, instance.base_url
    finally:
        stop_process_groups([instance.proc])


def test_sigterm_answers_the_request_in_flight_and_exits(
    server: tuple[subprocess.Popen[bytes], str],
) -> None:
    proc, base_url = server
    with Wire(base_url, timeout=IDLE_CLOSED_WITHIN) as idle, Wire(base_url) as arriving:
        idle.send(wire_request("GET", "/healthz"))
        assert idle.response().status_code == 200  # now kept alive, idle
        arriving.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers unfinished
        time.sleep(0.5)

        os.killpg(proc.pid, signal.SIGTERM)
        time.sleep(0.5)
        arriving.send(b"\r\n")
        answer = arriving.response()

        assert answer.status_code == 200
        assert answer.headers.get("connection", "").lower() == "close"
        assert arriving.closed_by_server()
        assert idle.closed_by_server()
    proc.wait(timeout=EXIT_WITHIN)
    assert proc.returncode == 0
