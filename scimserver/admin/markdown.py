"""The subset of Markdown our guides use, rendered to HTML for the console.

The guides (docs/okta.md, docs/entra.md …) are written for people following them in
the console as much as on a code host, so they are shown as pages, not as source. They
use headings, paragraphs, ordered and unordered lists, tables, fenced code, inline
code, bold, italics and links; this module renders exactly that. Every piece of text is
HTML-escaped before any markup is added, and a link is kept only when it is relative
(another guide, shown at ``/admin/docs/<name>``) or http(s), so a guide cannot inject
markup or scripts whatever it holds. A Markdown library would be a dependency for
seven constructs.
"""

from __future__ import annotations

import re
from html import escape, unescape

from markupsafe import Markup

_HEADING = re.compile(r"(#{1,6})\s+(.*)")
_ORDERED = re.compile(r"\d+\.\s+(.*)")
_UNORDERED = re.compile(r"[-*]\s+(.*)")
_TABLE_RULE = re.compile(r"\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?")
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_GUIDE = re.compile(r"([a-z0-9][a-z0-9-]{0,63})\.md(#[\w-]+)?")


def render(text: str) -> Markup:
    """``text`` (our guides' Markdown) as safe HTML."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
        elif stripped.startswith("```"):
            i, html = _fence(lines, i)
            out.append(html)
        elif heading := _HEADING.fullmatch(stripped):
            level = len(heading.group(1))
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
            i += 1
        elif stripped.startswith("|"):
            i, html = _table(lines, i)
            out.append(html)
        elif _ORDERED.fullmatch(stripped) or _UNORDERED.fullmatch(stripped):
            i, html = _list(lines, i)
            out.append(html)
        else:
            i, html = _paragraph(lines, i)
            out.append(html)
    return Markup("\n".join(out))


def _fence(lines: list[str], i: int) -> tuple[int, str]:
    body: list[str] = []
    i += 1
    while i < len(lines) and not lines[i].strip().startswith("```"):
        body.append(lines[i])
        i += 1
    return i + 1, f"<pre><code>{escape(chr(10).join(body))}</code></pre>"


def _cells(line: str) -> list[str]:
    inner = line.strip().removeprefix("|").removesuffix("|")
    # A pipe inside inline code (`a|b`) belongs to the cell.
    cells, current, in_code = [], "", False
    for char in inner:
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append(current.strip())
            current = ""
        else:
            current += char
    cells.append(current.strip())
    return cells


def _table(lines: list[str], i: int) -> tuple[int, str]:
    rows: list[list[str]] = []
    header: list[str] | None = None
    while i < len(lines) and lines[i].strip().startswith("|"):
        if _TABLE_RULE.fullmatch(lines[i].strip()) and rows and header is None:
            header = rows.pop()
        else:
            rows.append(_cells(lines[i]))
        i += 1
    html = ['<div class="table-wrap"><table>']
    if header is not None:
        cells = "".join(f'<th scope="col">{_inline(c)}</th>' for c in header)
        html.append(f"<thead><tr>{cells}</tr></thead>")
    html.append("<tbody>")
    for row in rows:
        html.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>")
    html.append("</tbody></table></div>")
    return i, "".join(html)


def _list(lines: list[str], i: int) -> tuple[int, str]:
    ordered = _ORDERED.fullmatch(lines[i].strip()) is not None
    pattern = _ORDERED if ordered else _UNORDERED
    items: list[str] = []
    while i < len(lines) and lines[i].strip():
        item = pattern.fullmatch(lines[i].strip())
        if item is not None:
            items.append(item.group(1))
        elif items and lines[i].startswith((" ", "\t")):
            items[-1] += " " + lines[i].strip()  # a wrapped item continues
        else:
            break
        i += 1
    tag = "ol" if ordered else "ul"
    body = "".join(f"<li>{_inline(item)}</li>" for item in items)
    return i, f"<{tag}>{body}</{tag}>"


def _paragraph(lines: list[str], i: int) -> tuple[int, str]:
    parts: list[str] = []
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith(("```", "|", "#")):
            break
        if parts and (_ORDERED.fullmatch(stripped) or _UNORDERED.fullmatch(stripped)):
            break
        parts.append(stripped)
        i += 1
    return i, f"<p>{_inline(' '.join(parts))}</p>"


def _inline(text: str) -> str:
    """Escaped text with code, bold, italics and safe links; code is left as typed."""
    pieces = _CODE.split(text)
    out: list[str] = []
    for index, piece in enumerate(pieces):
        if index % 2:
            out.append(f"<code>{escape(piece)}</code>")
            continue
        html = escape(piece, quote=False)
        html = _LINK.sub(_link, html)
        html = _BOLD.sub(r"<strong>\1</strong>", html)
        html = _ITALIC.sub(r"<em>\1</em>", html)
        out.append(html)
    return "".join(out)


def _link(match: re.Match[str]) -> str:
    label, target = match.group(1), unescape(match.group(2))
    guide = _GUIDE.fullmatch(target)
    if guide is not None:
        href = f"/admin/docs/{guide.group(1)}{guide.group(2) or ''}"
    elif target.startswith(("https://", "http://")):
        href = target
    else:
        return label  # anything else (javascript:, data:, ../) stays plain text
    return f'<a href="{escape(href)}">{label}</a>'
