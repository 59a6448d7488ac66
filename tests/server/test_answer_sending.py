"""How the worker's main loop sends answers (scimserver.http_worker.BufferingWorker).

A thread writes an answer into memory; the main loop sends it as the client reads.
These pin down what a client sees: every byte in order across partial sends, the
connection closed after an answer that does not keep it alive, and, when the answers
waiting in a worker are over budget, the slowest big one dropped rather than a new one.
Real socket pairs stand in for clients; the worker is built without gunicorn's arbiter.
"""

from __future__ import annotations

import logging
import selectors
import socket
import time
from collections.abc import Iterator

import pytest
from gunicorn.config import Config

from scimserver.http_worker import BufferingWorker, ReadLimits, _Conn, _ResponseSink

PEER = ("127.0.0.1", 50000)
MB = 1024 * 1024


class _Worker(BufferingWorker):
    """The main loop's state only: no arbiter, threads or listeners."""

    def __init__(self, limits: ReadLimits) -> None:
        self.limits = limits
        self.cfg = Config()
        self.log = logging.getLogger("test.worker")  # type: ignore[assignment]
        self.poller = selectors.DefaultSelector()
        self.reading = set()
        self.buffered_bytes = 0
        self.writing = set()
        self.output_bytes = 0
        self.nr_conns = 0
        self.alive = True
        self.keepalived_conns = []  # type: ignore[assignment]

    def run_once(self, timeout: float = 0.05) -> None:
        for key, _ in self.poller.select(timeout):
            key.data(key.fileobj)


@pytest.fixture
def pairs() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def connect(worker: _Worker, pairs: list[socket.socket]) -> tuple[_Conn, socket.socket]:
    server, client = socket.socketpair()
    pairs.extend((server, client))
    worker.nr_conns += 1
    return _Conn(worker.cfg, server, PEER, PEER), client


def answer(*chunks: bytes) -> _ResponseSink:
    sink = _ResponseSink()
    for chunk in chunks:
        sink.sendall(chunk)
    return sink


def read_all(worker: _Worker, client: socket.socket, deadline: float = 10.0) -> bytes:
    """Read until the server side closes, turning the worker's loop meanwhile."""
    client.setblocking(False)
    received = bytearray()
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        worker.run_once()
        try:
            chunk = client.recv(1 << 20)
        except BlockingIOError:
            continue
        if not chunk:
            return bytes(received)
        received += chunk
    raise AssertionError(f"not closed within {deadline}s ({len(received)} bytes read)")


def test_an_answer_bigger_than_the_socket_buffers_arrives_whole_and_in_order(
    pairs: list[socket.socket],
) -> None:
    worker = _Worker(ReadLimits())
    conn, client = connect(worker, pairs)
    chunks = [bytes([n]) * (MB // 2 + n) for n in range(12)]  # 6 MB in uneven pieces

    worker._start_sending(conn, answer(b"HTTP/1.1 200 OK\r\n\r\n", *chunks), keep=False)

    assert conn in worker.writing  # not all of it fit: the rest waits for the client
    assert read_all(worker, client) == b"HTTP/1.1 200 OK\r\n\r\n" + b"".join(chunks)
    assert worker.output_bytes == 0 and not worker.writing


def test_a_small_answer_is_sent_at_once_and_the_connection_is_kept_for_the_next_request(
    pairs: list[socket.socket],
) -> None:
    worker = _Worker(ReadLimits())
    conn, client = connect(worker, pairs)

    worker._start_sending(conn, answer(b"HTTP/1.1 204 No Content\r\n\r\n"), keep=True)

    assert client.recv(100) == b"HTTP/1.1 204 No Content\r\n\r\n"
    assert conn in worker.reading and not worker.writing


def test_over_the_output_budget_the_biggest_slow_answer_is_dropped_first(
    pairs: list[socket.socket],
) -> None:
    worker = _Worker(ReadLimits(max_output_bytes=6 * MB))
    slow_big, slow_big_client = connect(worker, pairs)
    slow_small, _ = connect(worker, pairs)
    worker._start_sending(slow_big, answer(b"x" * 5 * MB), keep=False)
    worker._start_sending(slow_small, answer(b"y" * 2 * MB), keep=False)
    for conn in (slow_big, slow_small):
        conn.out_since -= 5.0  # both have waited on their clients for seconds

    fresh, _ = connect(worker, pairs)
    worker._start_sending(fresh, answer(b"z" * 3 * MB), keep=False)

    assert slow_big not in worker.writing
    assert slow_small in worker.writing and fresh in worker.writing
    assert worker.output_bytes == slow_small.out_left + fresh.out_left
    slow_big_client.setblocking(False)
    received = bytearray()
    while chunk := slow_big_client.recv(1 << 20):  # what was sent, then the end
        received += chunk
    assert 0 < len(received) < 5 * MB


def test_an_answer_the_client_stops_taking_is_dropped_after_the_send_timeout(
    pairs: list[socket.socket],
) -> None:
    worker = _Worker(ReadLimits(send_timeout=30.0))
    conn, _ = connect(worker, pairs)
    worker._start_sending(conn, answer(b"x" * 8 * MB), keep=True)
    now = time.monotonic()

    assert not worker._send_overdue(conn, now + 29.0)
    assert worker._send_overdue(conn, now + 31.0)
    conn.out_progress = now + 30.0  # the client took some at 30 s: it may go on
    assert not worker._send_overdue(conn, now + 31.0)
    # ... but not forever: 30 s plus a second for every 64 KiB of the answer.
    assert worker._send_overdue(conn, now + 30.0 + 8 * 16 + 1.0)
