"""The admin console's Users and Groups lists at 10k and 1M users (issue 7, item 3).

Times whole console pages (``GET /admin/o/<slug>/users?...`` through the Flask test
client, signed in as an administrator: the view, the store query, the template) for
the list with no search, each sort key ascending and descending, plain-word searches,
a SCIM filter, a page deep into the list (a cursor built for a row 90 % of the way
in) and the Groups list. Run it with::

    python3 benchmarks/console_lists.py [--users 10000,1000000]
                                        [--backends sqlite,postgresql]
                                        [--postgres-url postgresql+psycopg://...]
                                        [--workdir /tmp/console-bench] [--repeat 5]
                                        [--keep] [--drop]

Per backend and size: a database (``WORKDIR/console_N.db``; on PostgreSQL a database
``console_bench_N`` next to ``--postgres-url``) migrated to head, seeded with N users
by ``benchmarks/seeding.py`` and N/100 groups. With ``--keep`` an existing seeded
database is reused (it is migrated to head first, which also times a new migration
on a big table) and kept afterwards; ``--drop`` only drops the databases. Each case
runs ``--repeat`` times after one warm-up; the median is printed in ms. The
``COUNT(*)`` column is the unfiltered count alone, which every unfiltered page still
runs until the maintained per-organization count replaces it.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
if Path(sys.executable).resolve() != VENV_PYTHON.resolve() and VENV_PYTHON.exists():
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402

from benchmarks.seeding import GROUP_SCHEMA, DataSet, seed_ours, user_name  # noqa: E402
from scimcore.pagination import encode_cursor, query_fingerprint  # noqa: E402
from scimcore.schema.core import GROUP_RESOURCE  # noqa: E402
from scimcore.schema.serializers import load_resource  # noqa: E402
from scimcore.storage.base import Keyset  # noqa: E402
from scimcore.storage.migrate import upgrade  # noqa: E402
from scimcore.storage.sql import SqlStore, make_engine  # noqa: E402
from scimcore.storage.sql.resource_rows import row_values  # noqa: E402
from scimcore.storage.sql.tables import resources  # noqa: E402

ORG = "console-bench"
PASSWORD = "console bench password"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_TOTAL = re.compile(r"<p>((?:More than )?[\d,]+) (?:user|group)s? match")


class Database:
    def __init__(self, backend: str, users: int, postgres_url: str, workdir: Path) -> None:
        self.backend, self._admin = backend, postgres_url
        if backend == "sqlite":
            self.path = workdir / f"console_{users}.db"
            self.url = f"sqlite:///{self.path}"
        else:
            self.name = f"console_bench_{users}"
            self.url = postgres_url.rsplit("/", 1)[0] + "/" + self.name

    def _pg(self, sql: str) -> Any:
        admin = sa.create_engine(self._admin, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                result = conn.exec_driver_sql(sql)
                return result.all() if sql.startswith("SELECT") else None
        finally:
            admin.dispose()

    def exists(self) -> bool:
        if self.backend == "sqlite":
            return self.path.exists()
        return bool(self._pg(f"SELECT 1 FROM pg_database WHERE datname = '{self.name}'"))

    def create(self) -> None:
        if self.backend == "sqlite":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        else:
            self._pg(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        if self.backend == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
        else:
            self._pg(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def seed(db: Database, users: int) -> None:
    store = SqlStore(make_engine(db.url))
    org = store.create_organization(ORG, "Console benchmark")
    t = time.perf_counter()
    seed_ours(db.url, ORG, DataSet.make(users))
    rows = []
    for i in range(users // 100):
        body = {"schemas": [GROUP_SCHEMA], "displayName": f"Team {i:06d}"}
        data = load_resource(GROUP_RESOURCE, body)
        stamp = f"2026-01-13T00:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:06d}Z"
        data.update(
            id=f"group-{i:07d}",
            meta={
                "resourceType": "Group",
                "created": stamp,
                "lastModified": stamp,
                "version": 'W/"1"',
            },
        )
        row = row_values("Group", data, store.names)[0]
        rows.append({"organization_id": org.id, "resource_type": "Group", **row})
    with store.engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(sa.insert(resources), rows[start : start + 5000])
    analyze(store.engine)
    print(f"  seeded {users} users in {time.perf_counter() - t:.0f} s", flush=True)
    store.engine.dispose()


def analyze(engine: sa.Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE resources")
            conn.exec_driver_sql("VACUUM ANALYZE resource_emails")


def signed_in_client(url: str) -> tuple[Any, Any]:
    from scimserver import Settings, create_app
    from scimserver.admin import passwords

    app = create_app(
        Settings(
            database_url=url,
            public_url="https://scim.example.com",
            secret_keys=(Fernet.generate_key().decode(),),
        )
    )
    store = app.extensions["scimcore"]["store"]
    org = store.get_organization(ORG)
    email = f"bench-{time.time_ns()}@example.com"
    app.extensions["scimserver_admin"].admins.create_admin(
        email, passwords.hash_password(PASSWORD), [org.id]
    )
    client = app.test_client()
    html = client.get("/admin/login").get_data(as_text=True)
    token = _CSRF.search(html)
    assert token, "no CSRF token on the sign-in page"
    response = client.post(
        "/admin/login", data={"csrf_token": token.group(1), "email": email, "password": PASSWORD}
    )
    assert response.status_code == 302, response.status_code
    return app, client


def deep_cursor(engine: sa.Engine, org_id: str, users: int, q: str, sort: str) -> str:
    """The cursor of the console's list positioned 90 % of the way in."""
    i = users * 9 // 10
    name = user_name(i)
    with engine.connect() as conn:
        id = conn.execute(
            sa.select(resources.c.id).where(
                resources.c.organization_id == org_id, resources.c.name_key == name
            )
        ).scalar_one()
        if not sort:
            id = conn.execute(
                sa.select(resources.c.id)
                .where(resources.c.organization_id == org_id, resources.c.resource_type == "User")
                .order_by(resources.c.id)
                .offset(i)
                .limit(1)
            ).scalar_one()
    key = name if sort == "userName" else None
    fingerprint = query_fingerprint("admin", "User", q, sort, "asc")
    return encode_cursor(Keyset(key, id), fingerprint)


def cases(users: int) -> list[tuple[str, str]]:
    word = user_name(users * 3 // 10)[: len("bench.user") + 5]  # 100 users at 1M
    cases = [("no search", "users")]
    for key in ("userName", "displayName", "created", "modified"):
        for order in ("asc", "desc"):
            cases.append((f"sort {key} {order}", f"users?sort={key}&order={order}"))
    cases += [
        (f"word {word!r}", f"users?q={word}"),
        ("word 'bench' (every user)", "users?q=bench"),
        ("word 'bench', sort userName desc", "users?q=bench&sort=userName&order=desc"),
        (f"word {word[6:]!r} (inside userName)", f"users?q={word[6:]}"),
        ("word 'nobody'", "users?q=nobody"),
        ('filter userName co "user0000123"', 'users?q=userName co "user0000123"'),
        ("filter active eq true", "users?q=active eq true"),
        ("deep page (no sort)", "DEEP:"),
        ("deep page (sort userName)", "DEEP:userName"),
        ("groups: no search", "groups"),
        ("groups: sort displayName desc", "groups?sort=displayName&order=desc"),
        ("groups: word 'team 00001'", "groups?q=team 00001"),
    ]
    return cases


def measure(db: Database, users: int, repeat: int) -> list[dict[str, Any]]:
    app, client = signed_in_client(db.url)
    store = app.extensions["scimcore"]["store"]
    org = store.get_organization(ORG)
    engine = store.engine
    results = []
    for label, path in cases(users):
        if path.startswith("DEEP:"):
            sort = path[5:]
            after = deep_cursor(engine, org.id, users, "", sort)
            path = "users?" + (f"sort={sort}&order=asc&" if sort else "") + f"after={after}"
        url = f"/admin/o/{ORG}/{path}"
        times = []
        body = ""
        for run in range(repeat + 1):
            t = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - t) * 1000
            assert response.status_code == 200, (url, response.status_code)
            body = response.get_data(as_text=True)
            if run:
                times.append(elapsed)
        total = _TOTAL.search(body)
        rows = body.count("<tr><td><a href=")
        results.append(
            {
                "case": label,
                "ms": round(statistics.median(times), 1),
                "total": total.group(1) if total else "-",
                "rows": rows,
            }
        )
        print(f"  {label:45} {results[-1]['ms']:9.1f} ms  total {results[-1]['total']}", flush=True)
    with engine.connect() as conn:
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            conn.execute(
                sa.select(sa.func.count())
                .select_from(resources)
                .where(resources.c.organization_id == org.id, resources.c.resource_type == "User")
            ).scalar_one()
            times.append((time.perf_counter() - t) * 1000)
    results.append({"case": "unfiltered COUNT(*) alone", "ms": round(statistics.median(times), 1)})
    print(f"  {'unfiltered COUNT(*) alone':45} {results[-1]['ms']:9.1f} ms", flush=True)
    engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", default="10000,1000000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "SCIMSERVER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--workdir", default="/tmp/console-bench")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="reuse and keep seeded databases")
    parser.add_argument("--drop", action="store_true", help="only drop the databases")
    args = parser.parse_args()
    sizes = [int(n) for n in args.users.split(",")]
    table: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for backend in args.backends.split(","):
        for users in sizes:
            db = Database(backend, users, args.postgres_url, Path(args.workdir))
            if args.drop:
                db.drop()
                continue
            print(f"[{backend} {users}]", flush=True)
            if not (args.keep and db.exists()):
                db.drop()
                db.create()
                upgrade(db.url)
                seed(db, users)
            else:
                t = time.perf_counter()
                upgrade(db.url)
                print(f"  migrated to head in {time.perf_counter() - t:.1f} s", flush=True)
                analyze(make_engine(db.url))
            try:
                table[backend, users] = measure(db, users, args.repeat)
            finally:
                if not args.keep:
                    db.drop()
    if table:
        print("\n| case | " + " | ".join(f"{b} {n:,} (ms)" for b, n in table) + " |")
        print("|---|" + "---:|" * len(table))
        for i, row in enumerate(next(iter(table.values()))):
            cells = [str(results[i]["ms"]) for results in table.values()]
            print(f"| {row['case']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
