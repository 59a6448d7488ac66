"""File-level problems reject the whole file, list every problem, and change nothing."""

from __future__ import annotations

import codecs

import pytest

from scimcore.adapters.csv import SERVICE_ACCOUNTS, CsvFileError, read_csv

from .conftest import Org, sample

HEADER = "operation,serviceDisplayName,userId,accountId,mailProxyActive"
ROW = "CREATE,Google Workspace,hanako.yamada@example.com,hanako,TRUE"
SHIFT_JIS = "operation,serviceDisplayName,userId,accountId\r\nCREATE,社内ポータル,a,b\r\n"

BAD_FILES = {
    "shift_jis": (SHIFT_JIS.encode("shift_jis"), "not valid UTF-8 (line 2"),
    "utf16_with_bom": ((HEADER + "\r\n" + ROW).encode("utf-16"), "UTF-16"),
    "utf16_without_bom": ((HEADER + "\r\n" + ROW).encode("utf-16-le"), "UTF-16"),
    "semicolon": ((HEADER + "\r\n" + ROW).replace(",", ";").encode(), "separated by a semicolon"),
    "tab": ((HEADER + "\r\n" + ROW).replace(",", "\t").encode(), "separated by a tab"),
    "quoted_semicolon": (
        ";".join(f'"{h}"' for h in HEADER.split(",")).encode() + b"\r\n",
        "separated by a semicolon",
    ),
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "it is a PNG image"),
    "xlsx": (b"PK\x03\x04\x14\x00\x06\x00" + bytes(64), "an Excel workbook (.xlsx)"),
    "binary": (b"\x01\x02\x00\x9a\x00\x00\xfe\x10" * 40, "contains binary data"),
    "duplicate_header": (
        f"{HEADER},USERID\r\n{ROW},x\r\n".encode(),
        "'USERID' appears twice (columns 3 and 6)",
    ),
    "missing_required_column": (
        b"operation,serviceDisplayName,userId\r\nDELETE,Google Workspace,a\r\n",
        "no 'accountId' column; it is required by DELETE rows (2)",
    ),
    "missing_operation_column": (
        b"serviceDisplayName,userId,accountId\r\nGoogle Workspace,a,b\r\n",
        "no 'operation' column",
    ),
    "unbalanced_quote": (
        f'{HEADER}\r\n{ROW}\r\nCREATE,"Google Workspace,a,b,TRUE\r\n{ROW}\r\n'.encode(),
        "opened in row 3 (line 3) is never closed",
    ),
    "text_after_closing_quote": (
        f'{HEADER}\r\nCREATE,"Google" Workspace,a,b,TRUE\r\n'.encode(),
        "must be doubled",
    ),
    "empty": (b"", "The file is empty"),
    "only_bom_and_blank_lines": (codecs.BOM_UTF8 + b"\r\n\r\n", "The file is empty"),
    "fifty_megabytes": (
        (HEADER + "\r\n" + (ROW + "\r\n") * (50 * 1024 * 1024 // (len(ROW) + 2))).encode(),
        "larger than the limit of 32 MiB",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_bad_file_is_rejected_with_a_clear_message_and_nothing_changes(
    org: Org, name: str
) -> None:
    org.import_accounts(sample("service-accounts.csv"))
    before = org.export_accounts()
    data, message = BAD_FILES[name]
    with pytest.raises(CsvFileError) as exc:
        org.import_accounts(data)
    assert any(message in p for p in exc.value.problems), exc.value.problems
    assert org.export_accounts() == before


def test_every_file_problem_is_listed_at_once() -> None:
    data = b"userId,USERID,,accountId\r\nCREATE,a,b,c\r\n"
    with pytest.raises(CsvFileError) as exc:
        read_csv(data, SERVICE_ACCOUNTS)
    problems = exc.value.problems
    assert len(problems) == 3
    assert "appears twice" in problems[0]
    assert "Header column 3 is empty" in problems[1]
    assert "no 'operation' column" in problems[2]


def test_header_only_file_is_a_no_op_with_a_warning(org: Org) -> None:
    report = org.import_accounts((HEADER + "\r\n").encode())
    assert report.results == []
    assert report.warnings == ["The file has a header but no data rows: nothing to do."]


def test_bom_that_excels_csv_utf8_writes_is_accepted_without_a_warning(org: Org) -> None:
    report = org.import_accounts(codecs.BOM_UTF8 + sample("service-accounts.csv"))
    assert report.counts["created"] == 6
    assert report.warnings == []


def test_lf_line_ends_and_case_insensitive_headers_are_accepted(org: Org) -> None:
    data = f"{HEADER.upper()}\n{ROW.lower().replace('google workspace', 'Google Workspace')}\n"
    report = org.import_accounts(data.encode())
    assert [r.outcome for r in report.results] == ["created"]


def test_unknown_columns_are_ignored_with_a_warning(org: Org) -> None:
    report = org.import_accounts(f"{HEADER},note\r\n{ROW},hello\r\n".encode())
    assert [r.outcome for r in report.results] == ["created"]
    assert "'note' is not part of the service-account CSV format" in report.warnings[0]


def test_quoted_cells_keep_commas_quotes_and_line_breaks() -> None:
    data = (
        b"operation,serviceDisplayName,userId,accountId,servicePassword\r\n"
        b'CREATE,S,"a,b","x""y","line1\nline2"\r\n'
    )
    row = read_csv(data, SERVICE_ACCOUNTS).rows[0]
    assert (row.get("userId"), row.get("accountId"), row.get("servicePassword")) == (
        "a,b",
        'x"y',
        "line1\nline2",
    )
