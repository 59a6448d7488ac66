"""The dependency rules of the architecture, checked on the source (README, "Layout")."""

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


SERVER = ROOT / "scimserver"
#: The one module of scimserver that builds the SQL parts.
WIRING = "scimserver/wiring.py"
#: The console's own storage (administrators, sessions, audit, CSV jobs) stays in
#: scimcore/storage/sql/admins.py, beside the migrations that create its tables; the
#: console (and only the console) uses its types directly.
CONSOLE_STORAGE = ("scimcore.storage.sql.admins", "scimserver/admin/")


def _modules(path: Path) -> set[str]:
    """Every module ``path`` imports, by its full dotted name (nested imports too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_only_the_wiring_point_of_scimserver_reaches_sql() -> None:
    """Views, CLI commands and jobs ask scimserver.wiring for stores; none builds one or
    writes SQL of its own."""
    wrong = []
    for path in SERVER.rglob("*.py"):
        rel = str(path.relative_to(ROOT))
        if rel == WIRING:
            continue
        for module in _modules(path):
            sql = module == "sqlalchemy" or module.startswith(
                ("sqlalchemy.", "scimcore.storage.sql")
            )
            allowed = module == CONSOLE_STORAGE[0] and rel.startswith(CONSOLE_STORAGE[1])
            if sql and not allowed:
                wrong.append(f"{rel} imports {module}")
    assert wrong == []


def test_provisioning_never_imports_the_adapters() -> None:
    """scimcore.provisioning says what must happen downstream; the connectors that do it
    depend on it, never the other way round."""
    wrong = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in (CORE / "provisioning").rglob("*.py")
        for module in _modules(path)
        if module.startswith("scimcore.adapters")
    ]
    relative = [
        str(path.relative_to(ROOT))
        for path in (CORE / "provisioning").rglob("*.py")
        if "from ..adapters" in path.read_text()
    ]
    assert wrong == relative == []


def test_the_cli_has_no_import_cycle() -> None:
    """Command modules share scimserver.cli.common; none imports the command group."""
    wrong = [
        str(path.relative_to(ROOT))
        for path in (SERVER / "cli").glob("*.py")
        if path.name not in ("main.py", "__init__.py")
        and any(
            isinstance(node, ast.ImportFrom) and node.level == 1 and node.module == "main"
            for node in ast.walk(ast.parse(path.read_text()))
        )
    ]
    assert wrong == []
