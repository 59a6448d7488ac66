"""The dependency rules of the architecture, checked on the source (see docs/architecture)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "scimcore"

# Each third-party library enters scimcore through one doorway.
DOORWAYS = {
    "sqlalchemy": ("scimcore/storage/sql/", "scimcore/storage/migrate.py", "scimcore/testing.py"),
    "alembic": ("scimcore/storage/migrate.py", "scimcore/storage/sql/"),
    "marshmallow": ("scimcore/schema/serializers.py",),
    "scim2_filter_parser": ("scimcore/filters/lexer.py",),
    "sly": ("scimcore/filters/lexer.py",),
    "jwt": ("scimcore/auth.py",),
    "cryptography": ("scimcore/accounts/keyring.py",),
}
FORBIDDEN = ("flask", "werkzeug", "click", "gunicorn", "scimserver")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_scimcore_never_imports_a_web_framework_or_scimserver() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & set(FORBIDDEN)) for p in CORE.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_each_library_enters_the_core_through_one_doorway() -> None:
    wrong = []
    for path in CORE.rglob("*.py"):
        rel = str(path.relative_to(ROOT))
        for lib in _imports(path) & set(DOORWAYS):
            if not rel.startswith(DOORWAYS[lib]):
                wrong.append(f"{rel} imports {lib}")
    assert wrong == []


def test_importing_scimcore_loads_no_web_framework() -> None:
    code = (
        "import sys, scimcore, scimcore.storage.memory;"
        f"print(sorted(m for m in {FORBIDDEN!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_api_is_sorted_and_importable() -> None:
    import scimcore

    assert list(scimcore.__all__) == sorted(scimcore.__all__, key=lambda n: (not n.isupper(), n))
    for name in scimcore.__all__:
        assert hasattr(scimcore, name), name
