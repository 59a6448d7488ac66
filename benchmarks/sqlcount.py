"""Count the SQL statements (and their time) each benchmarked request runs in scimserver.

    benchmarks/.venv/bin/python benchmarks/sqlcount.py [--users 2000] [--database-url URL]
                                                       [--show]

Builds the real app (``scimserver.app.create_app``) on an engine with a
``before_cursor_execute`` listener, seeds it like the benchmark, and sends each
workload's request through Flask's test client (no network), printing per request
the number of statements, the time spent in them, and (with ``--show``) the SQL.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--show", action="store_true", help="print each statement")
    parser.add_argument("--repeat", type=int, default=20, help="requests timed per workload")
    args = parser.parse_args()

    import seeding
    import sqlalchemy as sa

    from scimcore import issue_token
    from scimcore.storage.migrate import upgrade
    from scimcore.storage.sql import SqlStore, make_engine
    from scimserver.app import create_app
    from scimserver.config import Settings

    tmp = tempfile.mkdtemp(prefix="sqlcount-")
    url = args.database_url or f"sqlite:///{tmp}/count.db"
    os.environ["SCIMSERVER_DATABASE_URL"] = url
    upgrade(url)
    engine = make_engine(url)
    store = SqlStore(engine)
    org = store.create_organization("bench", "bench")
    token = issue_token(store, org).token
    ds = seeding.DataSet.make(args.users)
    seeding.seed_ours(url, "bench", ds)

    log: list[tuple[str, float]] = []
    started: dict[int, float] = {}

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        started[id(cursor)] = time.perf_counter()

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        log.append((statement, time.perf_counter() - started.pop(id(cursor), time.perf_counter())))

    app = create_app(Settings.from_env(), store=store)
    client = app.test_client()
    base = "/scim/v2/organizations/bench"
    h = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    patch_op = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    total = len(ds.ids)
    state = {"n": 0}

    def member_patch(group: str) -> tuple[str, str, Any]:
        k = state["n"] = state["n"] + 1
        add, rem = ds.spares[k % len(ds.spares)], ds.spares[(k - 1) % len(ds.spares)]
        return ("PATCH", f"{base}/Groups/{group}", {"schemas": [patch_op], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": add, "type": "User"}]},
            {"op": "remove", "path": f'members[value eq "{rem}"]'}]})

    def put() -> tuple[str, str, Any]:
        i = state["n"] = state["n"] + 1
        return ("PUT", f"{base}/Users/{ds.ids[i]}", seeding.user_body(i))

    def post() -> tuple[str, str, Any]:
        i = state["n"] = state["n"] + 1
        return ("POST", f"{base}/Users", seeding.user_body(i, f"sqlcount{i}@example.com"))

    cursor_last = None
    workloads = {
        "get_user": lambda: ("GET", f"{base}/Users/{ds.ids[7]}", None),
        "filter_username": lambda: (
            "GET", f'{base}/Users?filter=userName eq "{seeding.user_name(7)}"', None),
        "post_user": post,
        "put_user": put,
        "patch_user": lambda: ("PATCH", f"{base}/Users/{ds.ids[9]}", {
            "schemas": [patch_op], "Operations": [{"op": "replace", "value": {"active": False}}]}),
        "list_start": lambda: ("GET", f"{base}/Users?startIndex=1&count=100", None),
        "list_end": lambda: ("GET", f"{base}/Users?startIndex={total - 99}&count=100", None),
        "cursor_start": lambda: ("GET", f"{base}/Users?cursor=&count=100", None),
        "cursor_end": lambda: ("GET", f"{base}/Users?cursor={cursor_last}&count=100", None),
        "group_get": lambda: (
            "GET", f"{base}/Groups/{ds.big_group}?excludedAttributes=members", None),
        "group_members_big": lambda: member_patch(ds.big_group),
        "group_members_small": lambda: member_patch(ds.small_group),
    }
    # The cursor of the last page, walked like run.py does.
    cursor, seen = "", 0
    while total - seen > 100:
        step = min(1000, total - seen - 100)
        page = client.get(f"{base}/Users?cursor={cursor}&count={step}&attributes=id",
                          headers=h).get_json()
        cursor, seen = page["nextCursor"], seen + len(page["Resources"])
    cursor_last = cursor

    print(f"{args.users:,} users ({engine.dialect.name}); per request: statements, "
          f"time in SQL, total time (Flask test client, median of {args.repeat})")
    report: dict[str, Any] = {}
    for name, make in workloads.items():
        counts, sql_ms, total_ms, last = [], [], [], []
        for _ in range(args.repeat):
            method, path, body = make()
            log.clear()
            t0 = time.perf_counter()
            r = client.open(path, method=method, headers=h,
                            data=json.dumps(body) if body is not None else None)
            total_ms.append((time.perf_counter() - t0) * 1000)
            assert r.status_code < 300, (name, r.status_code, r.get_data(as_text=True)[:300])
            counts.append(len(log))
            sql_ms.append(sum(t for _, t in log) * 1000)
            last = list(log)
        med = sorted(total_ms)[len(total_ms) // 2]
        sql = sorted(sql_ms)[len(sql_ms) // 2]
        report[name] = {"statements": max(counts), "sql_ms": round(sql, 2),
                        "total_ms": round(med, 2)}
        print(f"  {name:20s} {max(counts):3d} statements  SQL {sql:7.2f} ms  "
              f"total {med:7.2f} ms  (SQL {sql / med:4.0%})")
        if args.show:
            for stmt, t in last:
                print(f"      {t * 1000:7.2f} ms  {' '.join(stmt.split())[:220]}")
    (Path(tmp) / "sqlcount.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
