#!/usr/bin/env python3
"""The two quick-start commands; each bootstraps its own virtual environment in .venv.

    python3 run.py serve   # start the service on SQLite; prints a tenant URL and a fresh token
    python3 run.py test    # lint, type-check and run the whole test suite

Only the Python standard library is used here, so this works on a fresh clone.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def ensure_env(extras: str) -> None:
    """Create .venv and install the project (editable) unless already current."""
    stamp = VENV / f".installed-{extras or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and PY.exists():
        return
    if not PY.exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    target = f".[{extras}]" if extras else "."
    print(f"installing {target} into .venv ...", flush=True)
    subprocess.run([str(PY), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(PY), "-m", "pip", "install", "-q", "-e", target], check=True, cwd=ROOT)
    stamp.write_text(digest)


def cli(*args: str, capture: bool = False) -> str:
    result = subprocess.run(
        [str(BIN / "scimserver"), *args],
        check=True,
        cwd=ROOT,
        stdout=subprocess.PIPE if capture else None,
        text=True,
    )
    return result.stdout or ""


def serve(argv: list[str]) -> int:
    ensure_env("")
    port = "8000"
    if "--port" in argv:
        port = argv[argv.index("--port") + 1]
    os.environ.setdefault("SCIMSERVER_PUBLIC_URL", f"http://127.0.0.1:{port}")
    keys_line = local_key_ring()
    cli("db", "upgrade")
    orgs = json.loads(cli("orgs", "list", "--json", capture=True))
    if not any(o["slug"] == "default" for o in orgs):
        cli("orgs", "create", "default", "--json", capture=True)
    issued = json.loads(cli("token", "generate", "default", "--json", capture=True))
    has_admin = bool(json.loads(cli("admins", "list", "--json", capture=True)))
    console_url = os.environ["SCIMSERVER_PUBLIC_URL"].rstrip("/") + "/admin/"
    print(banner(issued, console_url, has_admin, keys_line), flush=True)
    os.execv(str(BIN / "scimserver"), [str(BIN / "scimserver"), "serve", "--port", port, *argv])


def local_key_ring() -> str | None:
    """The quick start's key ring, as Django's startproject makes a SECRET_KEY.

    With neither SCIMSERVER_SECRET_KEYS nor SCIMSERVER_SECRET_KEYS_FILE set and the
    default SQLite database, ``scimserver keys local`` makes a key file beside the
    database once (mode 0600) and finds it on later starts; every command started from
    here, and the server, read it through SCIMSERVER_SECRET_KEYS_FILE. Another database
    gets no key it was not given. Returns the line to print, if any.
    """
    if os.environ.get("SCIMSERVER_SECRET_KEYS") or os.environ.get("SCIMSERVER_SECRET_KEYS_FILE"):
        return None
    url = os.environ.get("SCIMSERVER_DATABASE_URL", "")
    if url and not url.startswith("sqlite:///"):
        return "  No SCIMSERVER_SECRET_KEYS: credentials cannot be stored until it is set."
    found = json.loads(cli("keys", "local", "--json", capture=True))
    os.environ["SCIMSERVER_SECRET_KEYS_FILE"] = found["path"]
    made = "made now" if found["created"] else "made on the first start"
    return (
        f"  Secret key ring: {os.path.relpath(found['path'])} ({made}; it decrypts stored "
        "credentials: keep it; in production set SCIMSERVER_SECRET_KEYS)"
    )


def banner(
    issued: dict[str, str], console_url: str, has_admin: bool, keys_line: str | None = None
) -> str:
    """What ``serve`` prints: the IdP's two values, a request to try, and the console.

    The CLI is not on PATH in a fresh clone, so the administrator command names
    .venv's copy.
    """
    lines = [
        "",
        "  SCIM tenant URL (Okta 'Base URL'):  " + issued["tenant_url"],
        "  Secret token   (Okta 'API Token'):  " + issued["token"],
        "  (a new token was generated; any previous one has stopped working)",
        "",
        f"  try: curl -H 'Authorization: Bearer {issued['token']}' {issued['tenant_url']}/Users",
        "",
        "  Admin console:  " + console_url,
    ]
    if keys_line:
        lines.append(keys_line)
    if not has_admin:
        scimserver = os.path.relpath(BIN / "scimserver")
        lines.append(
            f"  sign in after creating an administrator (asks for a password):\n"
            f"    {scimserver} admins create you@example.com --org default"
        )
    return "\n".join(lines) + "\n"


def test(argv: list[str]) -> int:
    ensure_env("test")
    steps = [
        [str(BIN / "ruff"), "check", "scimcore", "scimserver", "tests", "examples", "run.py"],
        [str(BIN / "ruff"), "format", "--check", "scimcore", "scimserver", "tests", "examples"],
        [str(BIN / "mypy"), "scimcore", "scimserver"],
        [str(PY), "-m", "pytest", *argv],
    ]
    for step in steps:
        print(
            "$",
            " ".join(Path(step[0]).name if i == 0 else a for i, a in enumerate(step)),
            flush=True,
        )
        code = subprocess.run(step, cwd=ROOT).returncode
        if code:
            return code
    return 0


def main() -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs before the venv exists
        print("Python 3.11 or newer is required", file=sys.stderr)
        return 2
    commands = {"serve": serve, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
