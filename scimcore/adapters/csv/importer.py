"""What every CSV import shares: options, per-row results, the report, and the driver.

The driver applies rows in file order, in batches: each batch is one transaction in
normal mode (a failing row is isolated by the target, the other rows of the batch
proceed); the whole file is one transaction with ``atomic`` (any row error rolls all
of it back) and with ``dry_run`` (always rolled back, so the report shows what would
happen and nothing is written).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import BinaryIO, Generic, Literal, Protocol, TypeAlias, TypeVar

from .formats import CsvFormat, unguard_formula
from .reader import DEFAULT_MAX_BYTES, CsvFile, CsvRow
from .writer import CsvWriter

Outcome: TypeAlias = Literal["created", "updated", "unchanged", "deleted", "skipped", "failed"]
#: In the order reports, the CLI and the console show them. ``unchanged``: an UPDATE row
#: whose values are all already stored; nothing is written and no event is recorded.
OUTCOMES: tuple[Outcome, ...] = ("created", "updated", "unchanged", "deleted", "skipped", "failed")
#: The outcomes that write something.
CHANGING: tuple[Outcome, ...] = ("created", "updated", "deleted")
#: Called after each batch with (rows done so far, rows in the file).
Progress: TypeAlias = Callable[[int, int], None]
S = TypeVar("S")
S_contra = TypeVar("S_contra", contravariant=True)


@dataclass(frozen=True)
class ImportOptions:
    atomic: bool = False
    dry_run: bool = False
    #: Rows looked up and written together; one transaction each in normal mode.
    #: ``None``: the importer's ``default_batch_size``.
    batch_size: int | None = None
    max_bytes: int = DEFAULT_MAX_BYTES


class RowError(Exception):
    """A row cannot be applied: ``code`` for machines, ``message`` names column and fix."""

    def __init__(self, code: str, message: str, column: str | None = None) -> None:
        self.code = code
        self.message = f"{column}: {message}" if column else message
        super().__init__(self.message)


@dataclass(frozen=True)
class RowResult:
    number: int
    outcome: Outcome
    error_code: str = ""
    message: str = ""


@dataclass
class ImportReport:
    """Everything an import did, row by row; never contains a secret cell."""

    kind: str
    file: CsvFile
    results: list[RowResult] = field(default_factory=list)
    dry_run: bool = False
    atomic: bool = False
    rolled_back: bool = False

    @property
    def warnings(self) -> list[str]:
        return self.file.warnings

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        for r in self.results:
            counts[r.outcome] += 1
        return counts

    @property
    def failed(self) -> list[RowResult]:
        return [r for r in self.results if r.outcome == "failed"]

    def summary(self) -> str:
        c = self.counts
        text = ", ".join(f"{c[o]} {o}" for o in OUTCOMES)
        if self.dry_run:
            return f"dry run, nothing was written: {text}"
        if self.rolled_back:
            return f"rolled back, nothing was written (--atomic and a row failed): {text}"
        return text

    def write_result_csv(self, out: BinaryIO, fmt: CsvFormat) -> None:
        """The original non-secret columns, then ``result``, ``errorCode``, ``message``."""
        keep = [
            i for i, column in enumerate(self.file.columns) if column is None or not column.secret
        ]
        by_number = {r.number: r for r in self.results}
        with CsvWriter(out) as writer:
            writer.writerow(
                [self.file.header[i] for i in keep] + ["result", "errorCode", "message"]
            )
            for row in self.file.rows:
                r = by_number.get(row.number)
                cells = [row.raw[i] if i < len(row.raw) else "" for i in keep]
                if r is not None:
                    writer.writerow([*cells, r.outcome, r.error_code, r.message])


class ImportTarget(Protocol, Generic[S_contra]):
    """Where rows go: one transaction type ``S`` and a way to apply a batch in it."""

    def apply_batch(self, session: S_contra, rows: list[CsvRow]) -> list[RowResult]:
        """Apply rows in file order; a failing row must not affect the others."""
        ...


class _Rollback(Exception):
    pass


def run_import(
    kind: str,
    file: CsvFile,
    begin: Callable[[], AbstractContextManager[S]],
    target: ImportTarget[S],
    options: ImportOptions,
    progress: Progress | None = None,
    *,
    default_batch_size: int,
) -> ImportReport:
    report = ImportReport(kind, file, dry_run=options.dry_run, atomic=options.atomic)
    size = options.batch_size or default_batch_size
    batches = list(_batches(file.rows, max(1, size)))
    total = len(file.rows)
    done = 0
    if options.atomic or options.dry_run:
        try:
            with begin() as session:
                for batch in batches:
                    report.results.extend(target.apply_batch(session, batch))
                    done += len(batch)
                    if progress:
                        progress(done, total)
                if options.dry_run or report.failed:
                    raise _Rollback
        except _Rollback:
            report.rolled_back = not options.dry_run
        if report.rolled_back:
            report.results = [_rolled_back(r) for r in report.results]
        return report
    for batch in batches:
        with begin() as session:
            report.results.extend(target.apply_batch(session, batch))
        done += len(batch)
        if progress:
            progress(done, total)
    return report


def _rolled_back(result: RowResult) -> RowResult:
    if result.outcome not in CHANGING:
        return result
    return RowResult(
        result.number,
        "skipped",
        "ROLLED_BACK",
        f"not applied: another row failed and --atomic rolled the file back "
        f"(it would have been {result.outcome})",
    )


def _batches(rows: list[CsvRow], size: int) -> Iterator[list[CsvRow]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def cell(row: CsvRow, name: str) -> str:
    """A cell trimmed and with a formula guard removed ("" when absent)."""
    return unguard_formula(row.get(name).strip())


def skipped(row: CsvRow) -> RowResult:
    return RowResult(row.number, "skipped", "", "blank operation: the row is skipped")


def failed(row: CsvRow, error: RowError) -> RowResult:
    return RowResult(row.number, "failed", error.code, error.message)
