"""Build hook: ship the top-level ``alembic/`` migrations inside the scimcore package.

The metadata lives in pyproject.toml. The migration scripts stay at the repository's
top (where the ``alembic`` command and contributors expect them); the wheel installs
them as ``scimcore/storage/migrations/``, where ``scimcore.storage.migrate`` looks
first. They are not a Python package: a top-level ``alembic`` package would shadow
the alembic library itself.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SOURCE = ROOT / "alembic"
TARGET = Path("scimcore", "storage", "migrations")


def _scripts() -> list[Path]:
    """The files alembic needs, relative to ``alembic/``: env.py, the template, versions."""
    found = [Path("env.py"), Path("script.py.mako")]
    found += sorted(p.relative_to(SOURCE) for p in (SOURCE / "versions").glob("*.py"))
    missing = [str(p) for p in found if not (SOURCE / p).is_file()]
    if missing:
        raise SystemExit(f"alembic/ is incomplete, missing: {', '.join(missing)}")
    return found


class BuildWithMigrations(build_py):
    """``build_py`` that also copies ``alembic/`` into the built scimcore package."""

    def run(self) -> None:
        super().run()
        self._migrations: list[str] = []
        if self.editable_mode:  # an editable install reads the checkout's alembic/
            return
        for relative in _scripts():
            target = Path(self.build_lib, TARGET, relative)
            self.mkpath(str(target.parent))
            self.copy_file(str(SOURCE / relative), str(target))
            self._migrations.append(str(target))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), *getattr(self, "_migrations", [])]


setup(cmdclass={"build_py": BuildWithMigrations})
