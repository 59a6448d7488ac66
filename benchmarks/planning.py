"""How fast the worker's planner drains an event backlog, against writing that backlog.

Issue 15: after a 100,000-row CSV import into an organization with no provisioning
integration, a new user elsewhere waited over 12 minutes. One command measures, per
backend, in one run and on one fresh database::

    python3 benchmarks/planning.py [--events 100000] [--wanted 20000]
                                   [--backends sqlite,postgresql] [--repeat 3]

* **insert** (the baseline): ``--events`` unplanned user events of an organization
  without integrations, written with one executemany in one transaction, as a CSV
  import's outbox writes them;
* **set aside**: ``ProvisioningStore.plan()`` called until it returns 0, which marks
  them planned in bulk (``scimcore.storage.sql.planning``);
* **row by row**: the same events made unplanned again and drained by fair batches of
  500 alone (what planning did before the set-aside step: each event read and
  planned in Python);
* **wanted**: ``--wanted`` events of an organization with a provisioning integration,
  planned into as many jobs (the rate counts only them, though the same drain also
  sets the first backlog aside again: it waits too, for the next measurement);
* **fresh event**: with both backlogs waiting, how many ``plan()`` calls it takes
  until a new user's event in a third organization has its job (the guarantee: 1).

Rates are events per second; the ratios divide by the insert rate of the same
repetition; figures are medians over ``--repeat``. Results: a Markdown table on
stdout and in ``benchmarks/results/planning.md``, numbers in ``planning.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# First: it re-runs this script under the project's virtualenv when needed.
from benchmarks.csv_import import RESULTS, Database, load

# isort: split
import sqlalchemy as sa

from scimcore.accounts import IntegrationSettings
from scimcore.storage.sql import SqlAccountStore, SqlStore, make_engine
from scimcore.storage.sql.planning import plan_events
from scimcore.storage.sql.provisioning import (
    SqlProvisioningStore,
    set_provisioning,
)
from scimcore.storage.sql.tables import events, jobs


def _events(org_id: str, count: int, tag: str) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        {
            "organization_id": org_id,
            "type": "scim.user.updated",
            "resource_type": "User",
            "resource_id": f"{tag}-{n}",
            "data": {},
            "source": "csv",
            "created": now,
            "planned": False,
        }
        for n in range(count)
    ]


def _timed(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _drain(prov: SqlProvisioningStore) -> int:
    calls = 0
    while prov.plan():
        calls += 1
    return calls


def _drain_row_by_row(engine: sa.Engine) -> None:
    """Every event read and planned in Python, 500 at a time, as before the set-aside."""
    e = events.c
    while True:
        with engine.begin() as conn:
            ids = list(
                conn.execute(
                    sa.select(e.id).where(sa.not_(e.planned)).order_by(e.id).limit(500)
                ).scalars()
            )
            if not plan_events(conn, ids, {}):
                return


def _organization(store: SqlStore, name: str, *, provisioning: bool) -> str:
    org = store.create_organization(name, name)
    if provisioning:
        with SqlAccountStore(store.engine).accounts(org.id) as session:
            integration = session.create_integration("Wiki", "manual", IntegrationSettings())
        SqlProvisioningStore(store.engine).bind(org.id, integration.id, "manual", {})
        set_provisioning(store.engine, org.id, integration.id, True, manual=True)
    return org.id


def bench(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    with Database(backend, args.postgres_url, workdir) as db:
        engine = make_engine(db.url)
        store, prov = SqlStore(engine), SqlProvisioningStore(engine)
        quiet = _organization(store, "quiet", provisioning=False)
        busy = _organization(store, "busy", provisioning=True)
        for run in range(args.repeat):
            with engine.begin() as conn:
                for table in (jobs, events):
                    conn.execute(sa.delete(table))
            backlog = _events(quiet, args.events, f"q{run}")

            def insert(rows: list[dict[str, Any]] = backlog) -> None:
                with engine.begin() as conn:
                    conn.execute(sa.insert(events), rows)

            before = load()
            insert_s = _timed(insert)
            set_aside_s = _timed(lambda: _drain(prov))
            with engine.begin() as conn:
                conn.execute(sa.update(events).values(planned=False))
            row_by_row_s = _timed(lambda: _drain_row_by_row(engine))
            with engine.begin() as conn:
                conn.execute(sa.update(events).values(planned=False))
                conn.execute(sa.insert(events), _events(busy, args.wanted, f"b{run}"))
            fresh_org = _organization(store, f"fresh-{run}", provisioning=True)
            with engine.begin() as conn:
                conn.execute(sa.insert(events), _events(fresh_org, 1, "fresh"))
            calls = 0
            while True:
                calls += 1
                prov.plan()
                with engine.connect() as conn:
                    found = conn.execute(
                        sa.select(sa.func.count())
                        .select_from(jobs)
                        .where(jobs.c.organization_id == fresh_org)
                    ).scalar_one()
                if found:
                    break
            wanted_s = _timed(lambda: _drain(prov))
            runs.append(
                {
                    "insert_per_s": args.events / insert_s,
                    "set_aside_per_s": args.events / set_aside_s,
                    "row_by_row_per_s": args.events / row_by_row_s,
                    "wanted_per_s": args.wanted / wanted_s,
                    "fresh_event_calls": calls,
                    "load": [before, load()],
                }
            )
            print(f"[{backend}] run {run + 1}: {runs[-1]}", flush=True)
        engine.dispose()

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    return {
        "backend": backend,
        "events": args.events,
        "wanted": args.wanted,
        "runs": runs,
        "insert_per_s": median("insert_per_s"),
        "set_aside_per_s": median("set_aside_per_s"),
        "row_by_row_per_s": median("row_by_row_per_s"),
        "wanted_per_s": median("wanted_per_s"),
        "set_aside_vs_insert": statistics.median(
            r["set_aside_per_s"] / r["insert_per_s"] for r in runs
        ),
        "row_by_row_vs_insert": statistics.median(
            r["row_by_row_per_s"] / r["insert_per_s"] for r in runs
        ),
        "fresh_event_calls": max(r["fresh_event_calls"] for r in runs),
    }


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| backend | insert (baseline) | set aside | ÷ insert | row by row | ÷ insert "
        "| wanted → jobs | plan() calls to a fresh event |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['backend']} | {r['insert_per_s']:,.0f}/s | {r['set_aside_per_s']:,.0f}/s "
            f"| **{r['set_aside_vs_insert']:.2f}** | {r['row_by_row_per_s']:,.0f}/s "
            f"| {r['row_by_row_vs_insert']:.2f} | {r['wanted_per_s']:,.0f}/s "
            f"| {r['fresh_event_calls']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--wanted", type=int, default=20_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "SCIMSERVER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            results.append(bench(backend.strip(), args, Path(tmp)))
    table = markdown(results)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "planning.md").write_text(table)
    (RESULTS / "planning.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
