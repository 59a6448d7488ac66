#!/usr/bin/env python3
"""The two quick-start commands; each bootstraps its own virtual environment in .venv.

    python3 run.py serve   # start the service on SQLite; prints the tenant URL, and the
                           # secret token on the first start (later starts keep it)
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
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

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
    print(prepare(), flush=True)
    args = argv if "--port" in argv else ["--port", port, *argv]  # given once, not twice
    os.execv(str(BIN / "scimserver"), [str(BIN / "scimserver"), "serve", *args])


def prepare() -> str:
    """Ready the database and the ``default`` organization; return the banner.

    A token is generated only when the organization has never had one: generating
    replaces the previous token, so doing it on every start would silently break an
    IdP already provisioning with it. Later starts say that a token is set and how to
    rotate it.
    """
    keys_line = local_key_ring()
    cli("db", "upgrade")
    orgs = json.loads(cli("orgs", "list", "--json", capture=True))
    org = next((o for o in orgs if o["slug"] == "default"), None)
    if org is None:
        org = json.loads(cli("orgs", "create", "default", "--json", capture=True))
    issued = None
    if not org.get("token"):
        issued = json.loads(cli("token", "generate", "default", "--json", capture=True))
    has_admin = bool(json.loads(cli("admins", "list", "--json", capture=True)))
    console_url = os.environ["SCIMSERVER_PUBLIC_URL"].rstrip("/") + "/admin/"
    return banner(org, issued, console_url, has_admin, keys_line)


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
    org: dict[str, Any],
    issued: dict[str, str] | None,
    console_url: str,
    has_admin: bool,
    keys_line: str | None = None,
    now: datetime | None = None,
) -> str:
    """What ``serve`` prints: the IdP's two values, a request to try, and the console.

    ``org`` is a row of ``orgs list --json`` (its ``token`` the current one's prefix,
    status and creation time, never the secret); ``issued`` is ``token generate
    --json``'s answer when this start made the first token. The CLI is not on PATH in
    a fresh clone, so the administrator commands name .venv's copy.
    """
    scimserver = os.path.relpath(BIN / "scimserver")
    tenant_url = org["tenant_url"]
    lines = ["", "  SCIM tenant URL (Okta 'Base URL'):  " + tenant_url]
    if issued is not None:
        secret = issued["token"]
        lines += [
            "  Secret token   (Okta 'API Token'):  " + secret,
            "  (shown once: copy it now; later starts keep it and do not show it again)",
        ]
    else:
        secret = "<the token>"
        lines += token_state(org, now or datetime.now(timezone.utc))  # noqa: UP017
    lines += [
        "",
        f"  try: curl -H 'Authorization: Bearer {secret}' {tenant_url}/Users",
        "",
        "  Admin console:  " + console_url,
    ]
    if keys_line:
        lines.append(keys_line)
    if not has_admin:
        lines.append(
            f"  sign in after creating an administrator (asks for a password):\n"
            f"    {scimserver} admins create you@example.com --org default"
        )
    return "\n".join(lines) + "\n"


def token_state(org: dict[str, Any], now: datetime) -> list[str]:
    """The banner's lines about a token made before this start (its secret is not
    stored, so it cannot be shown again): its prefix and age, whether SCIM access is
    on, and the command that makes a new one."""
    token = org["token"]
    scimserver = os.path.relpath(BIN / "scimserver")
    created = datetime.fromisoformat(token["created"])
    if created.tzinfo is None:  # SQLite keeps naive UTC times
        created = created.replace(tzinfo=timezone.utc)  # noqa: UP017
    described = f"{token['prefix']}…, made {age(now - created)} ago"
    if token["status"] != "active":
        return [
            f"  Secret token   (Okta 'API Token'):  revoked ({described})",
            "  SCIM access is off: the IdP's requests are refused. Make a new token with",
            f"    {scimserver} token generate default   (or Generate in the admin console)",
        ]
    lines = [f"  Secret token   (Okta 'API Token'):  set ({described}); kept as it is"]
    if not org.get("scim_enabled", True):
        lines.append(
            f"  SCIM access is off (orgs disable): turn it on with {scimserver} orgs enable default"
        )
    lines += [
        "  rotate it (the old one stops working at once; paste the new one into the IdP):",
        f"    {scimserver} token generate default   (or Generate in the admin console)",
    ]
    return lines


def age(delta: timedelta) -> str:
    """``delta`` in the largest whole unit: "3 days", "1 hour", "less than a minute"."""
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "less than a minute"


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
