"""Reading an uploaded CSV file: every file-level problem at once, then the rows.

File-level problems reject the whole file before anything is written, and all of
them are reported together (docs/csv.md, File rules): size, encoding (UTF-8 only; a UTF-8 BOM
is accepted with a warning), delimiter (comma only), RFC 4180 quoting, an empty
header cell, a duplicate header name, a missing ``operation`` column, a missing
column that an operation used in the file requires. Row-level problems (a row with
too many or too few cells) are left to the importer, which fails only that row.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field

from .formats import Column, CsvFormat, parse_operation

#: Uploads larger than this are refused (a 100,000-row service-account file is ~12 MB).
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
_OTHER_DELIMITERS = {";": "a semicolon", "\t": "a tab", "|": "a vertical bar"}
#: What a file that is no CSV at all starts with, and what it is: said instead of
#: guessing an encoding from its NUL bytes.
_NOT_TEXT = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "an Excel workbook (.xlsx) or another ZIP archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel workbook (.xls)"),
)


class CsvFileError(ValueError):
    """The file as a whole cannot be imported; ``problems`` lists every reason."""

    def __init__(self, problems: list[str], warnings: list[str] | None = None) -> None:
        self.problems = problems
        self.warnings = warnings or []
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class CsvRow:
    """One data row. ``number`` counts the header as row 1, like a spreadsheet."""

    number: int
    cells: dict[str, str]
    raw: tuple[str, ...]
    #: Set when the row does not have as many cells as the header.
    problem: str | None = None

    def get(self, name: str) -> str:
        """The cell of column ``name`` as written ("" when the column is absent)."""
        return self.cells.get(name, "")


@dataclass
class CsvFile:
    header: list[str]
    columns: list[Column | None]
    rows: list[CsvRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def has(self, name: str) -> bool:
        return any(c is not None and c.name == name for c in self.columns)


def read_csv(data: bytes, fmt: CsvFormat, *, max_bytes: int = DEFAULT_MAX_BYTES) -> CsvFile:
    """Parse and check ``data``; raises :class:`CsvFileError` listing every file problem."""
    warnings: list[str] = []
    text = _decode(data, max_bytes, warnings)
    _check_delimiter(text, warnings)
    records = _records(text)
    header = records[0] if records else []
    if not any(cell.strip() for cell in header):
        raise CsvFileError(
            [f"The file is empty: the first row must be the header ({', '.join(fmt.names)})."],
            warnings,
        )
    problems: list[str] = []
    columns = _columns(header, fmt, problems, warnings)
    rows = _rows(records[1:], header, columns)
    _check_required(fmt, columns, rows, problems)
    if problems:
        raise CsvFileError(problems, warnings)
    if not rows:
        warnings.append("The file has a header but no data rows: nothing to do.")
    return CsvFile(header, columns, rows, warnings)


def _decode(data: bytes, max_bytes: int, warnings: list[str]) -> str:
    if len(data) > max_bytes:
        raise CsvFileError(
            [
                f"The file is larger than the limit of {max_bytes / (1024 * 1024):g} MiB; "
                "split it into smaller files. Nothing was imported."
            ]
        )
    for magic, what in _NOT_TEXT:
        if data.startswith(magic):
            raise CsvFileError(
                [
                    f"This is not a CSV file: it is {what}. Choose the CSV file itself "
                    "(in Excel: File > Save As > 'CSV UTF-8 (comma delimited)')."
                ]
            )
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise CsvFileError(["The file is UTF-32 encoded; save it as UTF-8 (CSV UTF-8)."])
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _utf16_without_bom(data):
        raise CsvFileError(
            [
                "The file is UTF-16 encoded; save it as UTF-8 "
                "(in Excel: 'CSV UTF-8 (comma delimited)')."
            ]
        )
    if b"\x00" in data[:4096]:
        raise CsvFileError(
            [
                "This is not a CSV file: it contains binary data (NUL bytes). Choose the CSV "
                "file itself (in Excel: File > Save As > 'CSV UTF-8 (comma delimited)')."
            ]
        )
    if data.startswith(codecs.BOM_UTF8):
        # What Excel's "CSV UTF-8" writes first, the format we recommend: no warning.
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CsvFileError(
            [
                f"The file is not valid UTF-8 (line {line}, byte {exc.start + 1}: "
                f"0x{data[exc.start]:02X}). It may be Shift_JIS or another legacy encoding; "
                "save it as UTF-8 (in Excel: 'CSV UTF-8 (comma delimited)')."
            ],
            warnings,
        ) from None


def _utf16_without_bom(data: bytes) -> bool:
    """UTF-16 text of mostly ASCII characters: every other byte is NUL."""
    head = data[:512]
    if len(head) < 4:
        return False
    even, odd = head[0::2], head[1::2]
    return even.count(0) > len(even) * 0.8 or odd.count(0) > len(odd) * 0.8


def _check_delimiter(text: str, warnings: list[str]) -> None:
    """A header line with no comma but another separator (outside quotes, so a quoted
    ``"operation";"userName"`` is caught here, before the quoting rules would report
    text after a closing quote)."""
    first = text.lstrip("\r\n").split("\n", 1)[0]
    unquoted = first.replace('""', "").split('"')[0::2]
    outside = "".join(unquoted)
    if "," in outside:
        return
    for delimiter, name in _OTHER_DELIMITERS.items():
        if delimiter in outside:
            raise CsvFileError(
                [
                    f"The header is separated by {name}; only commas are allowed as the "
                    "delimiter. Save the file as 'CSV UTF-8 (comma delimited)'."
                ],
                warnings,
            )


def _records(text: str) -> list[list[str]]:
    """The cells of every record, RFC 4180 quoting."""
    try:
        return list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error:
        pass
    # Parse again, record by record, only to say where and why it went wrong.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    row = 0
    while True:
        start = reader.line_num + 1
        row += 1
        try:
            next(reader)
        except csv.Error as exc:
            raise CsvFileError(
                [
                    "The file is not valid CSV (RFC 4180): "
                    f"{_syntax_problem(exc, row, start, reader.line_num)}. Nothing was imported."
                ]
            ) from None


def _syntax_problem(exc: csv.Error, row: int, start: int, line: int) -> str:
    if "unexpected end of data" in str(exc) or "EOF" in str(exc):
        return (
            f"a quoted cell opened in row {row} (line {start}) is never closed "
            "(unbalanced double quote)"
        )
    if "expected after" in str(exc):
        return (
            f"row {row} (line {line}) has text after a closing double quote; a double "
            'quote inside a quoted cell must be doubled ("")'
        )
    return f"row {row} (line {line}) cannot be parsed: {exc}"


def _columns(
    header: list[str], fmt: CsvFormat, problems: list[str], warnings: list[str]
) -> list[Column | None]:
    columns: list[Column | None] = []
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        key = name.strip().lower()
        if not key:
            problems.append(f"Header column {position} is empty; every column needs a name.")
            columns.append(None)
            continue
        if key in seen:
            problems.append(
                f"Header column '{name.strip()}' appears twice (columns {seen[key]} and "
                f"{position}); header names are compared case-insensitively."
            )
        seen.setdefault(key, position)
        column = fmt.column(key)
        if column is None:
            warnings.append(
                f"Header column '{name.strip()}' is not part of the {fmt.label} CSV format "
                f"and is ignored (known columns: {', '.join(fmt.names)})."
            )
        columns.append(column)
    if not any(c is not None and c.name == "operation" for c in columns):
        problems.append("The header has no 'operation' column; it is required.")
    return columns


def _rows(
    records: list[list[str]], header: list[str], columns: list[Column | None]
) -> list[CsvRow]:
    rows: list[CsvRow] = []
    width = len(header)
    names = [c.name for c in columns if c is not None]
    # Every column known (the usual case): the cells pair up with the names in C.
    known = len(names) == width
    for number, record in enumerate(records, start=2):
        if len(record) != width:
            if not record or (len(record) == 1 and not record[0].strip() and width > 1):
                continue  # a blank line
            problem: str | None = (
                f"the row has {len(record)} cells but the header has {width}; "
                "check for a missing or extra comma"
            )
        else:
            problem = None
        if known:
            cells = dict(zip(names, record, strict=False))
        else:
            cells = {c.name: v for c, v in zip(columns, record, strict=False) if c is not None}
        rows.append(CsvRow(number, cells, tuple(record), problem))
    return rows


def _check_required(
    fmt: CsvFormat, columns: list[Column | None], rows: list[CsvRow], problems: list[str]
) -> None:
    present = {c.name for c in columns if c is not None}
    if "operation" not in present:
        return
    used: dict[str, list[int]] = {}
    for row in rows:
        op = parse_operation(row.get("operation"))
        if op is not None:
            used.setdefault(op, []).append(row.number)
    for column in fmt.columns:
        if column.name in present:
            continue
        needing = [op for op in used if op in column.required]
        if needing:
            parts = [
                f"{op} rows ({', '.join(map(str, used[op][:5]))}"
                f"{', ...' if len(used[op]) > 5 else ''})"
                for op in needing
            ]
            problems.append(
                f"The header has no '{column.name}' column; it is required by "
                f"{' and '.join(parts)}."
            )
