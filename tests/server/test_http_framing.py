"""How the worker's main loop tells a whole request from part of one (scimserver.http_worker.frame).

It uses gunicorn's own parser, so it cannot disagree with the thread that runs the
request about where a request ends; these pin down the answers the loop acts on.
"""

from __future__ import annotations

from gunicorn.config import Config

from scimserver.chunk_sizes import ChunkSizes
from scimserver.http_worker import frame

PEER = ("127.0.0.1", 50000)
LIMIT = 1024
HEAD = b"POST /scim/v2/organizations/a/Users HTTP/1.1\r\nHost: x\r\n"


def framing(data: bytes):  # type: ignore[no-untyped-def]
    return frame(Config(), data, PEER, 1, LIMIT)


def test_a_get_is_whole_once_its_headers_end() -> None:
    assert not framing(b"GET /Users HTTP/1.1\r\nHost: x\r\n").complete
    whole = framing(b"GET /Users HTTP/1.1\r\nHost: x\r\n\r\n")
    assert whole.complete and whole.request is not None


def test_a_body_with_content_length_is_whole_once_all_of_it_arrived() -> None:
    head = HEAD + b"Content-Length: 10\r\n\r\n"
    partial = framing(head + b"12345")
    assert not partial.complete
    assert partial.body_start == len(head) and partial.length == 10
    assert framing(head + b"1234567890").complete


def test_a_pipelined_request_after_a_whole_one_is_left_for_later() -> None:
    first = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    result = framing(first + b"GET /b HTTP/1.1\r\n")
    assert result.complete and result.source is not None
    assert result.source.leftover() == b"GET /b HTTP/1.1\r\n"


def test_a_chunked_body_is_whole_only_after_its_last_chunk() -> None:
    head = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
    assert not framing(head + b"5\r\nhello\r\n").complete
    assert framing(head + b"5\r\nhello\r\n0\r\n\r\n").complete


def test_bodies_over_the_limit_are_refused_before_they_arrive() -> None:
    declared = framing(HEAD + b"Content-Length: %d\r\n\r\n" % (LIMIT + 1))
    assert declared.refusal is not None and declared.refusal.status == 413
    chunk = b"%x\r\n%s\r\n" % (LIMIT + 1, b"x" * (LIMIT + 1))
    chunked = framing(HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunk)
    assert chunked.refusal is not None and chunked.refusal.status == 413


def test_what_gunicorn_refuses_becomes_a_scim_refusal() -> None:
    long_line = framing(b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n")
    assert long_line.refusal is not None and long_line.refusal.status == 414
    nul = framing(HEAD + b"Content-Type: a\x00b\r\n\r\n")
    assert nul.refusal is not None and nul.refusal.status == 400
    assert b'"status": "400"' in nul.refusal.to_bytes()
    bad_chunk = framing(HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n")
    assert bad_chunk.refusal is not None and bad_chunk.refusal.status == 400


def test_expect_100_continue_is_reported_while_the_body_is_awaited() -> None:
    result = framing(HEAD + b"Expect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    assert not result.complete and result.expects_continue


def test_a_chunk_size_line_over_the_limit_is_refused_before_its_chunk_arrives() -> None:
    """An attack run's ``200000`` / ``FFFFFFFFFFFFFFFFFFFF`` size lines waited for the
    30 s body timeout (408); the size line says enough."""
    head = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
    for line in (b"%x" % (LIMIT + 1), b"FFFFFFFFFFFFFFFFFFFF", b"0000401;ext=1", b"1" * 500):
        refused = framing(head + line + b"\r\n")
        assert refused.refusal is not None and refused.refusal.status == 413, line
    # Two chunks under the limit each, over it together: refused at the second size line.
    first = b"%x\r\n%s\r\n" % (LIMIT - 10, b"x" * (LIMIT - 10))
    both = framing(head + first + b"20\r\n")
    assert both.refusal is not None and both.refusal.status == 413
    assert not framing(head + first).complete
    assert framing(head + first).refusal is None


def test_a_chunk_size_line_within_the_limit_waits_for_its_chunk() -> None:
    head = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
    result = framing(head + b"%x\r\nabc" % LIMIT)
    assert result.refusal is None and not result.complete


def test_chunk_sizes_are_added_up_as_each_size_line_ends() -> None:
    body = b"5\r\nhello\r\n10;x=y\r\n" + b"z" * 16 + b"\r\n0\r\n\r\n"
    sizes = ChunkSizes(0)
    seen = []
    for end in range(len(body) + 1):
        seen.append(sizes.advance(body[:end]))
    assert seen[2] == 0 and seen[3] == 5  # "5\r" then "5\r\n"
    assert seen[-1] == 5 + 16 and sizes.done
    assert sorted(set(seen)) == [0, 5, 21]


def test_an_unreadable_size_line_is_left_to_gunicorn() -> None:
    for body in (b"zz\r\n", b"\r\n", b"1" * 9000):
        sizes = ChunkSizes(0, max_line=8190)
        assert sizes.advance(body) == 0
        assert sizes.done
