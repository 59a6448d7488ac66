"""Slow clients do not stop the service: while 32 connections dribble their headers (a line
a second, never finishing), every normal request is still answered, and the slow ones are
answered 408 (a SCIM error) once the header timeout has passed, then closed.

Before the buffering worker, 8 such connections held every thread of ``serve --workers
2`` and other requests waited until they timed out. The bounds here are generous (the
timing target is measured in benchmarks/slow_clients.py); the test only fails when
requests are not answered at all, or the slow connections are never dropped.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from urllib.parse import urlsplit

import requests

from .conftest import LiveServer
from .support import REQUEST_TIMEOUT, assert_list_response

SLOW_CONNECTIONS = 32
LINE_INTERVAL = 1.0
#: ``scimserver serve``'s default ``--header-timeout``.
HEADER_TIMEOUT = 10.0
NORMAL_REQUESTS = 40
#: Generous: a normal request answered within this is "prompt" (it was ~10 s before).
NORMAL_TIMEOUT = 5.0


class SlowClients:
    """Connections that each send a request line and then one header line a second."""

    def __init__(self, base_url: str, count: int) -> None:
        parts = urlsplit(base_url)
        self.socks = [
            socket.create_connection((parts.hostname, parts.port), timeout=REQUEST_TIMEOUT)
            for _ in range(count)
        ]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._dribble, daemon=True)

    def _dribble(self) -> None:
        for s in self.socks:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: slow\r\n")
        line = 0
        deadline = time.monotonic() + HEADER_TIMEOUT * 3
        while not self.stop.wait(LINE_INTERVAL) and time.monotonic() < deadline:
            line += 1
            for s in self.socks:
                # A connection the server dropped fails to send: expected, eventually.
                with contextlib.suppress(OSError):
                    s.sendall(b"X-Slow-%d: x\r\n" % line)

    def __enter__(self) -> SlowClients:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=LINE_INTERVAL * 3)
        for s in self.socks:
            s.close()

    def answers(self) -> list[bytes]:
        """What each slow connection received before the server closed it (bounded).

        The dribbling stops first: a client that kept sending after the answer could
        have its unread bytes reset the connection when the server closes it."""
        self.stop.set()
        self.thread.join(timeout=LINE_INTERVAL * 3)
        received = []
        for s in self.socks:
            data = b""
            s.settimeout(HEADER_TIMEOUT * 2)
            try:
                while chunk := s.recv(65536):
                    data += chunk
            except OSError:
                pass
            received.append(data)
        return received


def test_slow_clients_do_not_delay_normal_requests(live_server: LiveServer) -> None:
    url = f"{live_server.tenant_url}/Users?count=1"
    headers = {"Authorization": f"Bearer {live_server.token}"}
    with SlowClients(live_server.base_url, SLOW_CONNECTIONS) as slow:
        time.sleep(LINE_INTERVAL * 2)  # every slow connection has started its request
        for _ in range(NORMAL_REQUESTS):
            # A new connection each time, as the slow ones are: no kept-alive shortcut.
            resp = requests.get(url, headers=headers, timeout=NORMAL_TIMEOUT)
            assert_list_response(resp)
            time.sleep(0.1)
        answers = slow.answers()

    refused = [a for a in answers if a.startswith(b"HTTP/1.1 408 ")]
    assert len(refused) == SLOW_CONNECTIONS, [a[:80] for a in answers]
    assert all(b"application/scim+json" in a and b'"status": "408"' in a for a in refused)
