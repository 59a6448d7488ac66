"""Report writers: console table, JSON (schema in docs/conformance.md), JUnit XML, Markdown."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from .model import CheckResult, Report, Status

_MARK = {Status.PASS: "pass", Status.FAIL: "FAIL", Status.SKIP: "skip"}


def _one_line(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _request_line(result: CheckResult) -> str:
    if not result.request:
        return ""
    return f"{result.request['method']} {result.request['path']}"


def summary_line(report: Report) -> str:
    return (
        f"{len(report.results)} checks: {report.count(Status.PASS)} passed, "
        f"{report.count(Status.FAIL)} failed, {report.count(Status.SKIP)} skipped"
    )


def console(report: Report, *, verbose: bool = False) -> str:
    """A fixed-width table, failures detailed below it."""
    rows = [("status", "id", "RFC", "title")]
    for r in report.results:
        rows.append((_MARK[r.status], r.id, r.rfc, _one_line(r.title, 70)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        f"SCIM conformance: {report.target} (profile {report.profile}, run {report.run_id})",
        "",
    ]
    for row in rows:
        lines.append(
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        )
    failed = [r for r in report.results if r.status is Status.FAIL]
    if failed:
        lines += ["", "Failures:"]
        for r in failed:
            lines += [
                f"- {r.id} ({r.rfc}): {r.title}",
                f"    request:  {_request_line(r)}",
                *(
                    [f"    body:     {_one_line(json.dumps(r.request['body']), 400)}"]
                    if r.request and r.request.get("body") is not None
                    else []
                ),
                f"    expected: {_one_line(r.expected, 400)}",
                f"    actual:   {_one_line(r.actual, 600)}",
            ]
    skipped = [r for r in report.results if r.status is Status.SKIP]
    if skipped and verbose:
        lines += ["", "Skipped:"]
        lines += [f"- {r.id}: {r.reason}" for r in skipped]
    lines += ["", summary_line(report)]
    if report.cleanup.get("failed"):
        lines.append(f"cleanup left resources behind: {report.cleanup['failed']}")
    return "\n".join(lines)


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False, default=str)


def to_junit(report: Report) -> str:
    """JUnit XML: one ``testcase`` per check, ``classname`` = area, failures with details."""
    suite = ET.Element(
        "testsuite",
        {
            "name": f"scim-conformance {report.target}",
            "tests": str(len(report.results)),
            "failures": str(report.count(Status.FAIL)),
            "errors": "0",
            "skipped": str(report.count(Status.SKIP)),
            "timestamp": report.started,
        },
    )
    props = ET.SubElement(suite, "properties")
    for key, value in (("profile", report.profile), ("run_id", report.run_id)):
        ET.SubElement(props, "property", {"name": key, "value": value})
    for r in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"scim.{r.area}",
                "name": f"{r.id}: {r.title} [{r.rfc}]",
                "time": f"{r.duration_ms / 1000:.3f}",
            },
        )
        if r.status is Status.FAIL:
            failure = ET.SubElement(
                case,
                "failure",
                {"message": _one_line(f"expected {r.expected}; got {r.actual}", 500)},
            )
            body = ""
            if r.request and r.request.get("body") is not None:
                body = f"\nbody: {json.dumps(r.request['body'])}"
            failure.text = (
                f"RFC: {r.rfc}\nrequest: {_request_line(r)}{body}\n"
                f"expected: {r.expected}\nactual: {r.actual}"
            )
        elif r.status is Status.SKIP:
            ET.SubElement(case, "skipped", {"message": r.reason or ""})
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )


def _md(text: str, limit: int = 160) -> str:
    return _one_line(text, limit).replace("|", "\\|")


def to_markdown(report: Report) -> str:
    """The table used in docs/conformance.md: one row per check."""
    areas = Counter(r.area for r in report.results)
    lines = [
        f"**{summary_line(report)}** (profile `{report.profile}`, {report.started})",
        "",
        "| area | id | check | RFC | result | detail |",
        "|---|---|---|---|---|---|",
    ]
    for r in report.results:
        if r.status is Status.PASS:
            detail = ""
        elif r.status is Status.SKIP:
            detail = _md(r.reason or "")
        else:
            detail = _md(f"{_request_line(r)} — expected {r.expected}; got {r.actual}", 300)
        lines.append(
            f"| {r.area} | `{r.id}` | {_md(r.title)} | {r.rfc} | {_MARK[r.status]} | {detail} |"
        )
    lines += ["", "Checks per area: " + ", ".join(f"{a} {n}" for a, n in areas.items())]
    return "\n".join(lines) + "\n"


def write(path: str | Path, text: str) -> None:
    Path(path).write_text(text, encoding="utf-8")
