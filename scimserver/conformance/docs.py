"""Render docs/conformance.md's result tables from JSON reports of ``scimserver check``.

``python -m scimserver.conformance.docs LABEL=report.json [LABEL=report.json …]`` prints a
Markdown table with one row per check and one result column per report, so our service
and a peer server can be shown side by side.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

_MARK = {"pass": "pass", "fail": "**FAIL**", "skip": "skip"}


def _cell(check: dict[str, Any] | None) -> str:
    if check is None:
        return "n/a"
    return _MARK.get(str(check["status"]), str(check["status"]))


def _escape(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def comparison(reports: list[tuple[str, dict[str, Any]]]) -> str:
    """One row per check id (in the first report's order), one column per report."""
    order: list[str] = []
    info: dict[str, dict[str, Any]] = {}
    by_label: dict[str, dict[str, dict[str, Any]]] = {}
    for label, data in reports:
        by_label[label] = {c["id"]: c for c in data["checks"]}
        for c in data["checks"]:
            if c["id"] not in info:
                order.append(c["id"])
                info[c["id"]] = c
    labels = [label for label, _ in reports]
    lines = [
        "| area | id | check | RFC | " + " | ".join(labels) + " |",
        "|---|---|---|---|" + "---|" * len(labels),
    ]
    for cid in order:
        c = info[cid]
        cells = " | ".join(_cell(by_label[label].get(cid)) for label in labels)
        lines.append(f"| {c['area']} | `{cid}` | {_escape(c['title'])} | {c['rfc']} | {cells} |")
    totals = []
    for label, data in reports:
        s = data["summary"]
        totals.append(
            f"- **{label}**: {s['total']} checks, {s['passed']} passed, "
            f"{s['failed']} failed, {s['skipped']} skipped"
        )
    return "\n".join([*totals, "", *lines]) + "\n"


def failures(label: str, data: dict[str, Any]) -> str:
    """The failed checks of one report with request, expected and actual."""
    out = []
    for c in data["checks"]:
        if c["status"] != "fail":
            continue
        req = c.get("request") or {}
        body = json.dumps(req.get("body")) if req.get("body") is not None else ""
        out += [
            f"- `{c['id']}` ({c['rfc']}) on {label}",
            f"  - request: `{req.get('method')} {req.get('path')}`"
            + (f" `{body}`" if body else ""),
            f"  - expected: {_escape(c['expected'])}",
            f"  - actual: {_escape(c['actual'])[:400]}",
        ]
    return "\n".join(out) + ("\n" if out else "")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    reports = []
    for arg in args:
        label, _, path = arg.partition("=")
        reports.append((label, json.loads(Path(path).read_text())))
    sys.stdout.write(comparison(reports))
    for label, data in reports:
        sys.stdout.write(failures(label, data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
