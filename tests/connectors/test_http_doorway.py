"""An HTTP client enters scimcore only through scimcore/adapters/connectors/."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ("urllib.request", "http.client", "requests", "httpx", "urllib3", "aiohttp")


def _modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_only_the_connectors_package_imports_an_http_client() -> None:
    wrong = []
    for path in (ROOT / "scimcore").rglob("*.py"):
        rel = str(path.relative_to(ROOT))
        if rel.startswith("scimcore/adapters/connectors/"):
            continue
        hits = [m for m in _modules(path) if m.startswith(CLIENTS)]
        if hits:
            wrong.append(f"{rel}: {hits}")
    assert wrong == []


def test_the_core_never_imports_the_connectors() -> None:
    wrong = []
    for path in (ROOT / "scimcore").rglob("*.py"):
        rel = str(path.relative_to(ROOT))
        if rel.startswith("scimcore/adapters/"):
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.ImportFrom) and "adapters" in (node.module or "")) or (
                isinstance(node, ast.Import) and any("adapters" in a.name for a in node.names)
            ):
                wrong.append(rel)
    assert wrong == []
