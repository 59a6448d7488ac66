"""The conformance runner's HTTP client reads an answer sent before the body was read."""

from __future__ import annotations

import socket
import threading

from scimserver.conformance.http import ScimHttp


def test_early_413_is_read_even_when_the_server_stops_reading_the_body() -> None:
    """A server may answer 413 and close while the client still sends (seen in CI)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(2)
    port = server.getsockname()[1]

    def answer_without_reading() -> None:
        for _ in range(2):
            conn, _ = server.accept()
            conn.recv(1024)
            conn.sendall(
                b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/scim+json\r\n"
                b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
            )
            conn.close()

    threading.Thread(target=answer_without_reading, daemon=True).start()
    try:
        exchange = ScimHttp(f"http://127.0.0.1:{port}/scim", "t", timeout=10).request(
            "POST", "/Bulk", raw_body=b"x" * (8 * 1024 * 1024)
        )
    finally:
        server.close()
    assert exchange.error is None and exchange.status == 413
