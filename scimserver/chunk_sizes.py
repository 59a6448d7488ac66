"""The sizes a chunked request body declares, read from its chunk-size lines as they come.

gunicorn's parser yields a chunk's bytes only as they arrive, so a body whose first
chunk-size line already says ``200000`` (over a 1 MiB limit: 2 MiB) or
``FFFFFFFFFFFFFFFFFFFF`` was refused only when the bytes themselves passed the limit,
or at the body timeout (408) when the client sent no more. The main loop instead adds up
the declared sizes as each chunk-size line ends, and refuses the request (413) as soon
as they pass the limit (docs/security.md, "What the HTTP server refuses").

The scan only skips from one size line to the next; it does not validate the framing
(gunicorn's parser does, and answers 400 for a malformed body). It stops at anything it
cannot read as a size, leaving the verdict to gunicorn.
"""

from __future__ import annotations

#: Hex digits of a chunk size that can be read without building a huge integer: more
#: than this many (leading zeros aside) is over any body limit anyway.
_MAX_HEX_DIGITS = 16
_HEX = frozenset(b"0123456789abcdefABCDEF")


class ChunkSizes:
    """Walks the chunk-size lines of a chunked body held in a growing buffer.

    ``start`` is where the body starts in that buffer; :meth:`advance` is called with
    the buffer each time more has arrived and costs only the new size lines."""

    def __init__(self, start: int, max_line: int = 8190) -> None:
        self.pos = start  # where the next chunk-size line starts
        self.max_line = max_line  # longer without CRLF: gunicorn refuses it, not us
        self.declared = 0  # the sum of the sizes of every size line read so far
        self.done = False  # the last chunk (size 0) was reached, or a line is unreadable

    def advance(self, buf: bytes | bytearray) -> int:
        """Read every complete size line in ``buf`` past the last; the declared total."""
        while not self.done:
            end = buf.find(b"\r\n", self.pos, self.pos + self.max_line + 2)
            if end < 0:
                self.done = len(buf) - self.pos > self.max_line + 1
                return self.declared
            size = _size(bytes(buf[self.pos : end]))
            if size is None or size == 0:
                self.done = True  # malformed (gunicorn says why) or the last chunk
                break
            self.declared += size
            self.pos = end + 2 + size + 2  # the size line, the data, its CRLF
        return self.declared


def _size(line: bytes) -> int | None:
    """The size a chunk-size line (without its CRLF) declares, or ``None``."""
    size = line.split(b";", 1)[0].rstrip(b" \t")
    if not size or any(c not in _HEX for c in size):
        return None
    digits = size.lstrip(b"0") or b"0"
    if len(digits) > _MAX_HEX_DIGITS:
        return 1 << (4 * _MAX_HEX_DIGITS)  # more than any limit; no 1,000-digit integer
    return int(digits, 16)
