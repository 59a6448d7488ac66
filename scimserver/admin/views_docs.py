"""The project's guides (``docs/*.md``), read-only under ``/admin/docs/<name>``, so the
how-to beside Settings > SCIM can link to the full guide on an install with no access
to the project's repository. The Markdown is rendered by :mod:`.markdown` (the subset
the guides use, every text escaped), and links between guides stay in the console.
Only a file directly in ``docs/`` whose name is letters, digits and dashes is served.
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import abort
from flask.typing import ResponseReturnValue

from .blueprint import bp, login_required, page
from .markdown import render

#: ``docs/`` of a source checkout (``python3 run.py serve`` runs from one).
DOCS = Path(__file__).resolve().parents[2] / "docs"
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


@bp.get("/docs/<name>")
@login_required
def doc(name: str) -> ResponseReturnValue:
    if not _NAME.fullmatch(name):
        abort(404)
    path = DOCS / f"{name}.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        abort(404)
    return page("doc.html", name=name, html=render(text))
