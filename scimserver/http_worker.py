"""A gunicorn worker whose threads only ever see whole requests, so slow clients cost none.

gunicorn's ``gthread`` worker hands a new connection to a thread, which then blocks reading
the request. A handful of clients that send one header line every few seconds therefore
hold every thread, and every other request waits (a "slowloris" attack). This worker
keeps gthread's thread pool, keep-alive and graceful shutdown, but its main loop (one
thread, non-blocking sockets, a selector) reads each request, headers and body, into
memory first, with gunicorn's own parser deciding where it ends. Only a complete request
goes to a thread, which then never waits on the client to read it. Meanwhile:

- the headers must arrive within ``header_timeout`` seconds of the request's first byte
  (of the connection, for a new one), the body within ``body_timeout`` seconds of the
  headers; a client that dribbles is answered 408 and dropped;
- a body over ``max_body_bytes`` is answered 413 as soon as that is known, unread;
- a worker holds at most ``max_buffered_bytes`` of unfinished requests; the connection
  whose data would exceed that is answered 503 (``Retry-After``) and closed, and at most
  ``worker_connections`` connections (gunicorn's setting) are open at once;
- a request gunicorn's parser rejects (request line or headers over the limits, a
  malformed header, a broken chunked body) is answered with a SCIM error document, not
  gunicorn's HTML page (see :mod:`scimserver.http_refusals`).

The answer travels the same way back: a thread writes the response into memory (the
app has built it there already) and the main loop sends it as the client reads it, so a
client that does not read its answer holds no thread either. A response must be taken
within ``send_timeout`` seconds of its last progress, and whole within ``send_timeout``
plus one second per ``MIN_SEND_RATE`` bytes; otherwise the connection is dropped. When
the answers waiting in a worker exceed ``max_output_bytes``, the largest of those
waiting for over a second are dropped first.

Pipelined requests are read one after another from what is buffered; ``Expect:
100-continue`` is answered by the main loop before it waits for the body. Plain HTTP/1.x
only: with TLS or HTTP/2 configured in gunicorn, the worker behaves exactly like gthread
(the production set-up terminates TLS in a reverse proxy; see docs/security.md).

One module, though long: reading a request, framing it and sending its answer all act
on the same connection state (``_Conn``) from the same main loop, and each of them
overrides a step of gunicorn's ``ThreadWorker``; split apart, every piece would reach
into the others' state. ``frame`` and the parser adapters are the part that could move
out (to an ``http_framing`` module) if the file grows further.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import selectors
import socket
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, ClassVar

from gunicorn import util
from gunicorn.http.body import LengthReader
from gunicorn.http.message import Request
from gunicorn.http.parser import RequestParser
from gunicorn.http.unreader import Unreader
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, TConn, ThreadWorker  # type: ignore[attr-defined]

from . import http_refusals
from .chunk_sizes import ChunkSizes
from .http_refusals import Refusal

#: Bytes asked of a socket per read in the main loop.
READ_SIZE = 64 * 1024
#: How long a refused connection is drained (so the client reads the answer rather than
#: a reset) before it is closed, and how much is read from it meanwhile at most.
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 256 * 1024
#: A chunked body still arriving is parsed again each time this much more has come, so
#: one over the size limit is refused soon (besides whenever a blank line arrives).
CHUNKED_CHECK_BYTES = 256 * 1024
#: How often the main loop looks for connections past their deadline.
SWEEP_INTERVAL = 0.25
#: The slowest a client may take its answer, in bytes a second, beyond ``send_timeout``
#: (a 10 MB page may take 160 s more).
MIN_SEND_RATE = 64 * 1024
#: An answer waiting longer than this is "slow", first to go when the output is over budget.
SLOW_ANSWER_SECONDS = 1.0
#: Buffers handed to one ``sendmsg``.
SEND_BUFFERS = 16


@dataclass(frozen=True)
class ReadLimits:
    """How long and how much the main loop waits for and holds of a request."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_body_bytes: int = 1024 * 1024
    max_buffered_bytes: int = 64 * 1024 * 1024
    #: Seconds an answer may wait for the client to take any more of it.
    send_timeout: float = 30.0
    #: Bytes of answers a worker holds for clients before it drops the slowest.
    max_output_bytes: int = 256 * 1024 * 1024


class _NeedMore(Exception):
    """The bytes received so far end before the request does."""


class _BufferUnreader(Unreader):
    """gunicorn's parser over bytes already received: past their end it asks for more
    (raises :class:`_NeedMore`) instead of waiting on the socket."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = data

    def chunk(self, size_hint: int | None = None) -> bytes:
        if not self._data:
            raise _NeedMore
        data, self._data = self._data, b""
        return data

    def remaining(self) -> int:
        return len(self.buf.getvalue()) + len(self._data)

    def leftover(self) -> bytes:
        """The bytes after what the parser has consumed (a pipelined next request)."""
        data = self.take_buffered() + self._data
        self._data = b""
        return bytes(data)


class _ReadyParser(RequestParser):
    """gunicorn's parser on the socket, which first returns a request the main loop has
    already parsed (so a request is parsed once, not again in the thread)."""

    def __init__(self, cfg: Any, sock: socket.socket, client: Any) -> None:
        super().__init__(cfg, sock, client)
        self.ready: Any = None
        #: Where the last ready request came from, with the bytes after it.
        self.ready_source: _BufferUnreader | None = None

    def __next__(self) -> Any:
        if self.ready is None:
            self.ready_source = None
            return super().__next__()
        self.mesg, self.ready = self.ready, None
        self.req_count += 1
        return self.mesg

    def leftover(self) -> bytes:
        """What the connection has sent after the request just answered."""
        source, self.ready_source = self.ready_source, None
        pending = source.leftover() if source is not None else b""
        return pending + bytes(self.unreader.take_buffered())


class _ResponseSink:
    """What a thread writes a response to: memory, which the main loop then sends.

    It stands in for the socket in gunicorn's ``Response`` (``sendall``, ``send``,
    ``sendfile``); ``shutdown`` fails, so gunicorn's graceful close after a failed
    response leaves the closing to the main loop."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0

    def sendall(self, data: bytes | bytearray | memoryview) -> None:
        if data:
            chunk = data if isinstance(data, bytes) else bytes(data)
            self.chunks.append(chunk)
            self.size += len(chunk)

    def send(self, data: bytes | bytearray | memoryview) -> int:
        self.sendall(data)
        return len(data)

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        fd = file.fileno()
        end = offset + count if count is not None else os.fstat(fd).st_size
        sent = 0
        while offset + sent < end and (data := os.pread(fd, end - offset - sent, offset + sent)):
            self.sendall(data)
            sent += len(data)
        return sent

    def shutdown(self, how: int) -> None:
        raise OSError(errno.ENOTCONN, "the main loop closes the connection")

    def close(self) -> None:
        pass


@dataclass
class _SinkTarget:
    """The connection as gunicorn's request handling sees it: writes go to the sink."""

    sock: _ResponseSink
    client: Any
    server: Any


@dataclass(frozen=True)
class Framing:
    """What the bytes received so far hold: a whole request, part of one, or a refusal."""

    complete: bool = False
    #: Where the body starts, once the headers are complete.
    body_start: int | None = None
    #: The Content-Length, once known (``None`` for a chunked body).
    length: int | None = None
    expects_continue: bool = False
    refusal: Refusal | None = None
    #: The parsed request, when it is whole and its body still unread (Content-Length).
    request: Any = None
    source: _BufferUnreader | None = None


def frame(cfg: Any, data: bytes, peer: Any, req_number: int, max_body: int) -> Framing:
    """Parse ``data`` as gunicorn will (the same parser and settings) and say whether it
    holds a whole request. A parse error becomes the refusal gunicorn would have sent."""
    unreader = _BufferUnreader(data)
    try:
        req: Any = Request(cfg, unreader, peer, req_number)
    except _NeedMore:
        return Framing()
    except Exception as exc:
        return Framing(refusal=http_refusals.refusal_for(exc, cfg) or http_refusals.BAD_REQUEST)
    body_start = len(data) - unreader.remaining()
    expects = bool(req._expected_100_continue)
    reader = req.body.reader
    if isinstance(reader, LengthReader):
        length = int(reader.length)
        if length > max_body:
            return Framing(refusal=http_refusals.body_too_large(max_body))
        if len(data) - body_start >= length:
            return Framing(True, body_start, length, expects, request=req, source=unreader)
        return Framing(False, body_start, length, expects)
    # The sizes the chunk-size lines declare, before the chunks themselves arrive.
    if ChunkSizes(body_start, cfg.limit_request_field_size).advance(data) > max_body:
        return Framing(refusal=http_refusals.body_too_large(max_body))
    received = 0
    try:
        while chunk := req.body.read(READ_SIZE):
            received += len(chunk)
            if received > max_body:
                return Framing(refusal=http_refusals.body_too_large(max_body))
    except _NeedMore:
        # What the chunks decoded to so far sits in the body's and the reader's buffers.
        received += req.body.buf.tell() + getattr(reader, "buf", io.BytesIO()).tell()
        if received > max_body:
            return Framing(refusal=http_refusals.body_too_large(max_body))
        return Framing(False, body_start, None, expects)
    except Exception as exc:
        return Framing(refusal=http_refusals.refusal_for(exc, cfg) or http_refusals.BAD_REQUEST)
    return Framing(True, body_start, None, expects)


class _Conn(TConn):
    """A connection and what the main loop has read of its next request."""

    def __init__(self, cfg: Any, sock: socket.socket, client: Any, server: Any) -> None:
        super().__init__(cfg, sock, client, server)
        self.data_ready = True  # the thread never waits for data: it has the request
        self.buf = bytearray()
        self.deadline = 0.0
        self.idle = True  # no byte of the next request yet
        self.head_done = False
        self.line_done = False  # the request line has ended
        self.next_check = 0  # buffer size at which a chunked body is parsed again
        self.need_total: int | None = None  # bytes of the whole request, once known
        self.chunks: ChunkSizes | None = None  # the size lines of a chunked body so far
        self.continue_sent = False
        self.lingering = False
        self.drained = 0
        self.requests = 0
        self.ready: Framing | None = None  # a request parsed by the main loop
        self.sink: _ResponseSink | None = None  # the answer a thread is writing
        self.out: deque[memoryview] = deque()  # the answer the main loop is sending
        self.out_left = 0
        self.out_since = 0.0
        self.out_progress = 0.0
        self.out_deadline = 0.0
        self.keep_after = False
        # Requests are parsed here, never by gthread's init (no TLS, no HTTP/2 sniffing).
        self.parser = _ReadyParser(cfg, sock, client)
        self.initialized = True

    def head_limit(self) -> int:
        """Most bytes a request line and headers can take under gunicorn's limits."""
        cfg = self.cfg
        fields = cfg.limit_request_fields * (cfg.limit_request_field_size + 2) + 4
        return int(cfg.limit_request_line + 4 + fields)


def _first(items: deque[memoryview], n: int) -> Iterator[memoryview]:
    for i, item in enumerate(items):
        if i == n:
            return
        yield item


def _ip(client: Any) -> str:
    return str(client[0]) if isinstance(client, tuple) and client else "-"


class BufferingWorker(ThreadWorker):
    """gthread, with requests read whole by the main loop first (see the module doc)."""

    limits: ClassVar[ReadLimits] = ReadLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buffering = not self.cfg.is_ssl and "h2" not in self.cfg.http_protocols
        self.reading: set[_Conn] = set()
        self.buffered_bytes = 0
        self.writing: set[_Conn] = set()
        self.output_bytes = 0
        self.next_sweep = 0.0

    @classmethod
    def with_limits(cls, limits: ReadLimits) -> type[BufferingWorker]:
        """This worker class with ``limits`` (gunicorn builds the workers from a class)."""
        return type(cls.__name__, (cls,), {"limits": limits})

    # --- the main loop: accept, read, frame ---------------------------------------------

    def accept(self, listener: socket.socket) -> None:
        if not self.buffering:
            super().accept(listener)
            return
        try:
            client, addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = _Conn(self.cfg, client, addr, listener.getsockname())
        self._start_reading(conn, b"", time.monotonic() + self.limits.header_timeout)
        # The request often follows the handshake at once: read it now, without another
        # turn of the loop (a new connection is then answered as soon as with gthread).
        self._on_readable(conn)

    def _start_reading(self, conn: _Conn, pending: bytes, deadline: float) -> None:
        """Wait for (the rest of) the connection's next request in the main loop."""
        conn.buf = bytearray(pending)
        conn.idle = not pending
        conn.head_done = False
        conn.line_done = False
        conn.next_check = 0
        conn.need_total = None
        conn.chunks = None
        conn.continue_sent = False
        conn.deadline = deadline
        conn.sock.setblocking(False)
        self.buffered_bytes += len(pending)
        self.reading.add(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))
        if pending:
            self._advance(conn, 0)

    def _stop_reading(self, conn: _Conn) -> None:
        self.reading.discard(conn)
        self.buffered_bytes -= len(conn.buf)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def _on_readable(self, conn: _Conn, _sock: Any = None) -> None:
        if conn.lingering:
            self._drain(conn)
            return
        try:
            data = conn.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away before its request was whole
            self._stop_reading(conn)
            self._close(conn)
            return
        if self.buffered_bytes + len(data) > self.limits.max_buffered_bytes:
            self._refuse(conn, http_refusals.server_busy())
            return
        before = len(conn.buf)
        conn.buf += data
        self.buffered_bytes += len(data)
        if conn.idle:
            conn.idle = False
            conn.deadline = time.monotonic() + self.limits.header_timeout
        self._advance(conn, before)

    def _advance(self, conn: _Conn, before: int) -> None:
        """Decide, after bytes arrived from ``before`` on, whether the request is whole.

        The parser runs only when the new bytes can have changed the answer: a line
        ended (headers), the body's length was reached (Content-Length) or a blank line
        arrived (the end of a chunked body)."""
        buf = conn.buf
        if conn.need_total is not None:
            if len(buf) >= conn.need_total:
                self._dispatch(conn)
            return
        ended = b"\r\n\r\n" in buf[max(0, before - 3) :]  # the headers, or a chunked body
        if not conn.head_done:
            if len(buf) > conn.head_limit():
                self._refuse(conn, http_refusals.headers_too_large(self.cfg))
                return
            # The request line is checked once it ends (or once it is too long), the
            # headers once they end: not on every line a slow client sends.
            line_ended = not conn.line_done and b"\n" in buf[max(0, before - 1) :]
            conn.line_done = conn.line_done or line_ended
            too_long = not conn.line_done and len(buf) > self.cfg.limit_request_line
            if not (ended or line_ended or too_long):
                return
        elif not ended and len(buf) < conn.next_check:
            # A chunk-size line over the limit is refused as soon as it ends.
            if conn.chunks is not None and conn.chunks.advance(buf) > self.limits.max_body_bytes:
                self._refuse(conn, http_refusals.body_too_large(self.limits.max_body_bytes))
            return
        # A chunked body is also checked every CHUNKED_CHECK_BYTES, for its size.
        conn.next_check = len(buf) + CHUNKED_CHECK_BYTES
        framing = frame(
            self.cfg, bytes(buf), conn.client, conn.requests + 1, self.limits.max_body_bytes
        )
        if framing.refusal is not None:
            self._refuse(conn, framing.refusal)
        elif framing.complete:
            self._dispatch(conn, framing if framing.request is not None else None)
        elif framing.body_start is not None:
            if not conn.head_done:
                conn.head_done = True
                conn.deadline = time.monotonic() + self.limits.body_timeout
                if framing.length is not None:
                    conn.need_total = framing.body_start + framing.length
                else:
                    conn.chunks = ChunkSizes(framing.body_start, self.cfg.limit_request_field_size)
                    conn.chunks.advance(buf)
            if framing.expects_continue and not conn.continue_sent:
                conn.continue_sent = True
                self._send(conn, b"HTTP/1.1 100 Continue\r\n\r\n")

    def _dispatch(self, conn: _Conn, parsed: Framing | None = None) -> None:
        """Hand the whole request to a thread, with the parsed request when there is one."""
        self._stop_reading(conn)
        conn.ready = parsed
        conn.requests += 1
        conn.sock.setblocking(True)
        self.enqueue_req(conn)

    # --- answering and closing from the main loop ---------------------------------------

    def _send(self, conn: _Conn, data: bytes) -> None:
        with contextlib.suppress(OSError):
            conn.sock.send(data)  # small; a full socket buffer just loses it

    def _refuse(self, conn: _Conn, refusal: Refusal) -> None:
        """Answer ``refusal`` without reading the rest of the request, then close."""
        self.log.warning(
            "Refused a request from ip=%s: %s %s",
            _ip(conn.client),
            refusal.status,
            refusal.reason,
        )
        self._stop_reading(conn)
        self._send(conn, refusal.to_bytes())
        self._linger(conn)

    def _linger(self, conn: _Conn) -> None:
        """Half-close, and drain what the client still sends for a moment, so that it
        reads the answer rather than a connection reset (RFC 9112 9.6)."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        conn.lingering = True
        conn.sock.setblocking(False)
        conn.buf = bytearray()
        conn.deadline = time.monotonic() + LINGER_SECONDS
        self.reading.add(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _drain(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        conn.drained += len(data)
        if not data or conn.drained > LINGER_MAX_BYTES:
            self._stop_reading(conn)
            self._close(conn)

    def _close(self, conn: _Conn) -> None:
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """Drop the connections past their deadline (called by the main loop)."""
        super().murder_pending()
        now = time.monotonic()
        if now < self.next_sweep:
            return
        self.next_sweep = now + SWEEP_INTERVAL
        for conn in [c for c in self.writing if self._send_overdue(c, now)]:
            self._drop_answer(conn, "did not take its answer in time")
        for conn in [c for c in self.reading if c.deadline <= now]:
            if conn.lingering or conn.idle:
                self._stop_reading(conn)
                self._close(conn)
            elif conn.head_done:
                self._refuse(conn, http_refusals.body_timeout(self.limits.body_timeout))
            else:
                self._refuse(conn, http_refusals.header_timeout(self.limits.header_timeout))

    def _cap_keepalive(self, deadline: float) -> None:
        """On shutdown: idle connections close within gthread's linger, like kept-alive ones."""
        super()._cap_keepalive(deadline)  # type: ignore[misc]
        self.next_sweep = 0.0
        for conn in self.reading:
            if conn.idle:
                conn.deadline = min(conn.deadline, time.monotonic() + STOP_KEEPALIVE_LINGER)

    # --- sending answers from the main loop ---------------------------------------------

    def _start_sending(self, conn: _Conn, sink: _ResponseSink, keep: bool) -> None:
        now = time.monotonic()
        conn.out = deque(memoryview(chunk) for chunk in sink.chunks)
        conn.out_left = sink.size
        conn.out_since = conn.out_progress = now
        conn.out_deadline = now + self.limits.send_timeout + sink.size / MIN_SEND_RATE
        conn.keep_after = keep
        conn.sock.setblocking(False)
        self.output_bytes += sink.size
        if self._send_some(conn):
            return
        self.writing.add(conn)
        self.poller.register(conn.sock, selectors.EVENT_WRITE, partial(self._on_writable, conn))
        if self.output_bytes > self.limits.max_output_bytes:
            self._shed_slow_answers(now)

    def _send_some(self, conn: _Conn) -> bool:
        """Send what the socket takes now; once the answer is out, go on (and say so)."""
        out = conn.out
        while out:
            try:
                sent = conn.sock.sendmsg(list(_first(out, SEND_BUFFERS)))
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:
                self._drop_answer(conn, None)  # the client went away
                return True
            conn.out_left -= sent
            self.output_bytes -= sent
            conn.out_progress = time.monotonic()
            while sent and out:
                head = out[0]
                if sent >= len(head):
                    sent -= len(head)
                    out.popleft()
                else:
                    out[0] = head[sent:]
                    sent = 0
        if conn in self.writing:  # not when sent at once: then it was never registered
            self.writing.discard(conn)
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.poller.unregister(conn.sock)
        self._after_answer(conn, conn.keep_after)
        return True

    def _on_writable(self, conn: _Conn, _sock: Any = None) -> None:
        if conn in self.writing:
            self._send_some(conn)

    def _send_overdue(self, conn: _Conn, now: float) -> bool:
        stalled = now - conn.out_progress > self.limits.send_timeout
        return stalled or now > conn.out_deadline

    def _shed_slow_answers(self, now: float) -> None:
        """Over the output budget: drop the largest answers waiting for over a second
        (a client that reads at all takes a page in milliseconds)."""
        slow = [c for c in self.writing if now - c.out_since > SLOW_ANSWER_SECONDS]
        for conn in sorted(slow, key=lambda c: c.out_left, reverse=True):
            if self.output_bytes <= self.limits.max_output_bytes:
                return
            self._drop_answer(
                conn, "was slowest to take its answer while the worker's were over budget"
            )

    def _drop_answer(self, conn: _Conn, why: str | None) -> None:
        """Close a connection whose answer is not (all) sent."""
        if why is not None:
            self.log.warning(
                "Dropped a connection from ip=%s that %s (%d bytes unsent)",
                _ip(conn.client),
                why,
                conn.out_left,
            )
        self.writing.discard(conn)
        self.output_bytes -= conn.out_left
        conn.out_left = 0
        conn.out.clear()
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)
        self._close(conn)

    # --- the threads ---------------------------------------------------------------------

    def handle(self, conn: TConn) -> Any:
        if isinstance(conn, _Conn):
            parser: Any = conn.parser
            if conn.ready is not None:
                parser.ready, parser.ready_source = conn.ready.request, conn.ready.source
            else:  # parsed again from the bytes (a chunked body, or one that came later)
                parser.unreader.unread(bytes(conn.buf))
            conn.ready = None
            conn.buf = bytearray()
        return super().handle(conn)

    def handle_request(self, req: Any, conn: TConn) -> bool:
        """Answer ``req`` into memory; the main loop sends it (see the module doc)."""
        if not isinstance(conn, _Conn):
            return bool(super().handle_request(req, conn))
        if conn.continue_sent:
            req._expected_100_continue = False  # the main loop already said 100 Continue
        conn.sink = _ResponseSink()
        target: Any = _SinkTarget(conn.sink, conn.client, conn.server)
        return bool(super().handle_request(req, target))

    def finish_request(self, conn: TConn, fs: Future[Any]) -> None:
        """Back on the main loop after a response: read the connection's next request
        (already partly buffered when the client pipelines), or close it."""
        if not isinstance(conn, _Conn):
            super().finish_request(conn, fs)
            return
        try:
            keep = fs.result() is True if not fs.cancelled() else False
        except Exception:
            keep = False
        sink, conn.sink = conn.sink, None
        if sink is not None and sink.size:
            self._start_sending(conn, sink, keep)
        else:
            self._after_answer(conn, keep)

    def _after_answer(self, conn: _Conn, keep: bool) -> None:
        """The answer is sent: read the connection's next request, or close it."""
        if not keep:
            self._linger(conn)
            return
        parser: Any = conn.parser
        pending = parser.leftover()
        now = time.monotonic()
        if pending:
            deadline = now + self.limits.header_timeout
        else:
            linger = self.cfg.keepalive if self.alive else STOP_KEEPALIVE_LINGER
            deadline = now + min(self.cfg.keepalive, linger)
        self._start_reading(conn, pending, deadline)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """A request refused in a thread (with TLS, or an application that failed before
        answering): a SCIM error document instead of gunicorn's HTML page."""
        refusal = http_refusals.refusal_for(exc, self.cfg)
        ip = _ip(addr)
        if refusal is None:
            path = getattr(req, "path", None) or "(no request read)"
            self.log.exception("Error handling request %s %s", getattr(req, "method", ""), path)
            refusal = http_refusals.INTERNAL_ERROR
        else:
            self.log.warning(
                "Refused a request from ip=%s: %s %s", ip, refusal.status, refusal.reason
            )
        if req is not None:
            self._access(req, client, addr, refusal)
        try:
            util.write_nonblock(client, refusal.to_bytes())
        except Exception:
            self.log.debug("Failed to send error message.")

    def _access(self, req: Any, client: Any, addr: Any, refusal: Refusal) -> None:
        from gunicorn.http.wsgi import Response, default_environ

        environ = default_environ(req, client, self.cfg)
        environ["REMOTE_ADDR"] = addr[0] if addr else ""
        resp = Response(req, client, self.cfg)
        resp.status = f"{refusal.status} {refusal.reason}"
        self.log.access(resp, req, environ, timedelta(0))
