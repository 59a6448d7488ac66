"""Writing CSV: exports and result files, streamed row by row.

UTF-8 (with a BOM only when asked, for Excel), CRLF line ends, every cell quoted: the
form of CloudGate's downloads. Cells a spreadsheet would run as a formula get a
leading ``'`` unless the guard is turned off (OWASP "CSV injection"); the importer
removes that ``'`` again, so a guarded export still round-trips.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Sequence
from typing import BinaryIO

from .formats import guard_formula

#: Rows buffered before a write to the output.
FLUSH_EVERY = 1000


class CsvWriter:
    """Writes rows to a binary stream; call :meth:`close` (or use ``with``) to flush."""

    def __init__(self, out: BinaryIO, *, bom: bool = False, formula_guard: bool = True) -> None:
        self.out = out
        self.formula_guard = formula_guard
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        self._pending = 0
        self.rows = 0
        if bom:
            out.write(codecs.BOM_UTF8)

    def __enter__(self) -> CsvWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def writerow(self, cells: Sequence[str]) -> None:
        self._csv.writerow([guard_formula(c) for c in cells] if self.formula_guard else list(cells))
        self.rows += 1
        self._pending += 1
        if self._pending >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.out.write(self._buffer.getvalue().encode("utf-8"))
            self._buffer.seek(0)
            self._buffer.truncate()
            self._pending = 0
        self.out.flush()

    def close(self) -> None:
        self.flush()
