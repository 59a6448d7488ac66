"""Raw HTTP/1.1 over a socket, for what ``requests`` cannot send: oversized request lines,
control characters in headers, pipelined requests, dribbled headers, ``Expect``.

A :class:`Wire` is one connection to the live server on 127.0.0.1; responses are read
back one after another from the same buffered stream, so pipelined answers are not lost.
Every read is bounded by a socket timeout.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .support import REQUEST_TIMEOUT, require_loopback


@dataclass(frozen=True)
class WireResponse:
    status_code: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


class Wire:
    """One TCP connection to ``base_url``'s host and port."""

    def __init__(self, base_url: str, timeout: float = REQUEST_TIMEOUT) -> None:
        require_loopback(base_url)
        parts = urlsplit(base_url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self.stream = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self) -> WireResponse:
        """The next response (interim 1xx ones included), read whole."""
        status_line = self.stream.readline(65536)
        if not status_line:
            raise ConnectionError("the server closed the connection without an answer")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := self.stream.readline(65536)) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = self.stream.read(length) if length else b""
        return WireResponse(status, headers, body)

    def closed_by_server(self) -> bool:
        """Whether the server closes its side (reads end, or a reset) within the timeout."""
        try:
            return self.stream.read(1) == b""
        except TimeoutError:
            return False
        except ConnectionError:
            return True

    def close(self) -> None:
        self.stream.close()
        self.sock.close()

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wire_request(
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    extra: bytes = b"",
) -> bytes:
    """A request's bytes; ``extra`` goes raw after the other header lines."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body and not any(n.lower() == "content-length" for n in headers or {}):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n").encode("latin-1") + extra + b"\r\n" + body
