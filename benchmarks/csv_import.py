"""Service-account CSV import and export against a plain SQLAlchemy bulk insert.

Issue 5's targets: importing 100,000 service-account rows runs at no less than half
the speed of a plain bulk insert of the same rows through SQLAlchemy, on SQLite and
PostgreSQL; exporting 1M rows keeps memory flat. One command measures both, side by
side, in the same run and on the same database::

    python3 benchmarks/csv_import.py [--rows 100000] [--backends sqlite,postgresql]
                                     [--repeat 3] [--export-rows 1000000]
                                     [--batch-size 10000] [--profile]

Per backend: a fresh database (a temporary SQLite file; on PostgreSQL a database with
a random name at ``--postgres-url``, dropped afterwards), migrated, with ``N`` users
(``benchmarks/seeding.py``'s bulk seeder) and one Google Workspace integration. An
``N``-row CREATE CSV is generated (``mailProxyActive`` set on every row), then each
repetition measures, back to back:

* **bulk insert**: the same ``service_accounts`` rows (same columns and values the
  importer writes, dicts built beforehand, not timed) with one Core
  ``insert(service_accounts)`` executemany in one transaction;
* **bulk insert + events**: the same, plus the ``events`` (outbox) rows the importer
  writes with them, one executemany each in one transaction: the same writes as the
  import, without its checks and lookups;
* **batched insert + events**: the same rows again, ``--batch-size`` rows of each table
  per transaction, as the importer commits them in normal mode (a failed batch must not
  undo the others): the write pattern of the import without any of its work;
* **import**: ``ServiceAccountImporter.run(csv_bytes)``, i.e. what
  ``scimserver csv import ORG FILE --kind service-accounts`` does after reading the
  file: parse and check the file, look up users and accounts, plan, write the
  accounts and their provisioning events, in batches of ``--batch-size``.

The rows (and the events) are deleted between measurements (not timed). The ratio is
import rows/s divided by bulk-insert rows/s for the same repetition; the reported
figure is the median over ``--repeat`` repetitions. The load average is recorded with
every figure: the machine may be shared.

Export: ``export_service_accounts`` into a byte-counting sink, run in a fresh child
process per size so the peak RSS (``VmHWM`` of that process; not ``ru_maxrss``, which
Linux carries over fork + exec from the parent) belongs to that export alone: once at
``N`` rows (the imported accounts) and, with ``--export-rows M``, once at ``M`` rows
(extra integrations over the same users, bulk-inserted). A second child per size
reports the ``tracemalloc`` peak of the Python heap. Flat memory means both figures
stay about the same while the row count grows tenfold.

Results: a Markdown table on stdout and in ``benchmarks/results/csv_import.md``, all
numbers in ``benchmarks/results/csv_import.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
SERVICE = "Bench Google Workspace"
HEADER = (
    "operation,serviceDisplayName,userId,accountId,lastAccessTime,mailProxyActive,"
    "licenseProfile,immutableId,scimUserResourceId,servicePassword\r\n"
)


def _ensure_venv() -> None:
    """Re-run under the project's virtualenv when started with another interpreter."""
    if Path(sys.prefix).resolve() == (ROOT / ".venv").resolve():
        return
    try:
        import sqlalchemy  # noqa: F401

        import scimcore  # noqa: F401
    except ImportError:
        if VENV_PYTHON.exists():
            os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])
        raise


_ensure_venv()
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from benchmarks.seeding import DataSet, seed_ours, user_name  # noqa: E402
from scimcore.accounts import IntegrationSettings  # noqa: E402
from scimcore.adapters.csv import (  # noqa: E402
    ImportOptions,
    ServiceAccountImporter,
    export_service_accounts,
)
from scimcore.storage.migrate import upgrade  # noqa: E402
from scimcore.storage.sql import SqlAccountStore, SqlStore, make_engine  # noqa: E402
from scimcore.storage.sql.tables import events, service_accounts  # noqa: E402


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def account_id(i: int, integration: int = 0) -> str:
    return f"acct{i:07d}.{integration}@example.com"


def make_csv(rows: int) -> bytes:
    lines = [HEADER]
    lines.extend(
        f"CREATE,{SERVICE},{user_name(i)},{account_id(i)},,TRUE,,,,\r\n" for i in range(rows)
    )
    return "".join(lines).encode()


def bulk_rows(org_id: str, integration_id: int, ds: DataSet, rows: int, tag: int = 0) -> list[dict]:
    """The ``service_accounts`` rows the importer writes for :func:`make_csv`."""
    now = datetime.now(UTC)
    return [
        {
            "organization_id": org_id,
            "integration_id": integration_id,
            "user_id": ds.ids[i],
            "account_id": account_id(i, tag),
            "link_status": "linked",
            "link_method": "csv",
            "last_access_time": None,
            "mail_proxy_active": True,
            "license_profile": None,
            "immutable_id": None,
            "scim_user_resource_id": None,
            "service_password_ciphertext": None,
            "created": now,
            "updated": now,
        }
        for i in range(rows)
    ]


def event_rows(accounts: list[dict]) -> list[dict]:
    """The outbox rows the importer writes with the accounts (one ``account.linked`` each)."""
    now = datetime.now(UTC)
    return [
        {
            "organization_id": a["organization_id"],
            "type": "account.linked",
            "resource_type": "ServiceAccount",
            "resource_id": f"{a['integration_id']}:{a['account_id']}",
            "data": {
                "integration_id": a["integration_id"],
                "user_id": a["user_id"],
                "account_id": a["account_id"],
                "remote_id": None,
                "method": "csv",
            },
            "source": "csv",
            "created": now,
            "planned": False,
        }
        for a in accounts
    ]


# -- databases ---------------------------------------------------------------------


class Database:
    def __init__(self, backend: str, postgres_url: str, workdir: Path) -> None:
        self.backend = backend
        self._admin = postgres_url
        if backend == "sqlite":
            self.url = f"sqlite:///{workdir / 'csv-bench.db'}"
        else:
            self.name = f"csv_bench_{uuid.uuid4().hex[:12]}"
            self.url = postgres_url.rsplit("/", 1)[0] + "/" + self.name

    def __enter__(self) -> Database:
        if self.backend == "postgresql":
            admin = sa.create_engine(self._admin, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
            admin.dispose()
        upgrade(self.url)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.backend == "postgresql":
            admin = sa.create_engine(self._admin, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            admin.dispose()


def reset(engine: sa.Engine, org_id: str) -> None:
    """Remove the accounts and events of ``org_id`` (untimed), and tidy up after it."""
    with engine.begin() as conn:
        conn.execute(sa.delete(events).where(events.c.organization_id == org_id))
        conn.execute(
            sa.delete(service_accounts).where(service_accounts.c.organization_id == org_id)
        )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE service_accounts")
            conn.exec_driver_sql("VACUUM ANALYZE events")
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def count_accounts(engine: sa.Engine, org_id: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(service_accounts.c.organization_id == org_id)
            ).scalar_one()
        )


# -- one backend -------------------------------------------------------------------


def bench_backend(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"backend": backend, "rows": args.rows, "runs": []}
    with Database(backend, args.postgres_url, workdir) as db:
        store = SqlStore(make_engine(db.url))
        org = store.create_organization("csv-bench", "CSV benchmark")
        ds = DataSet.make(args.rows)
        t = time.perf_counter()
        seed_ours(db.url, "csv-bench", ds)
        print(f"[{backend}] seeded {args.rows} users in {time.perf_counter() - t:.1f}s", flush=True)
        engine = store.engine
        accounts = SqlAccountStore(engine)
        with accounts.accounts(org.id) as session:
            integration = session.create_integration(
                SERVICE, "google_workspace", IntegrationSettings()
            )
        data = make_csv(args.rows)
        result["csv_bytes"] = len(data)
        rows = bulk_rows(org.id, integration.id, ds, args.rows)
        outbox = event_rows(rows)
        options = ImportOptions(batch_size=args.batch_size)

        for run in range(args.repeat):
            reset(engine, org.id)
            before = load()
            t = time.perf_counter()
            with engine.begin() as conn:
                conn.execute(sa.insert(service_accounts), rows)
            bulk_s = time.perf_counter() - t
            assert count_accounts(engine, org.id) == args.rows
            reset(engine, org.id)
            t = time.perf_counter()
            with engine.begin() as conn:
                conn.execute(sa.insert(service_accounts), rows)
                conn.execute(sa.insert(events), outbox)
            both_s = time.perf_counter() - t
            reset(engine, org.id)
            t = time.perf_counter()
            for start in range(0, args.rows, args.batch_size):
                with engine.begin() as conn:
                    conn.execute(sa.insert(service_accounts), rows[start : start + args.batch_size])
                    conn.execute(sa.insert(events), outbox[start : start + args.batch_size])
            batched_s = time.perf_counter() - t
            reset(engine, org.id)
            t = time.perf_counter()
            report = ServiceAccountImporter(accounts, org.id, options=options).run(data)
            import_s = time.perf_counter() - t
            after = load()
            counts = report.counts
            assert counts["created"] == args.rows, counts
            assert count_accounts(engine, org.id) == args.rows
            entry = {
                "bulk_s": round(bulk_s, 3),
                "import_s": round(import_s, 3),
                "bulk_rows_s": round(args.rows / bulk_s),
                "import_rows_s": round(args.rows / import_s),
                "ratio": round(bulk_s / import_s, 3),
                "bulk_with_events_s": round(both_s, 3),
                "bulk_with_events_rows_s": round(args.rows / both_s),
                "ratio_with_events": round(both_s / import_s, 3),
                "batched_with_events_s": round(batched_s, 3),
                "batched_with_events_rows_s": round(args.rows / batched_s),
                "ratio_batched": round(batched_s / import_s, 3),
                "load_before": before,
                "load_after": after,
            }
            result["runs"].append(entry)
            print(
                f"[{backend}] run {run + 1}: bulk {entry['bulk_rows_s']:,} rows/s, "
                f"bulk+events {entry['bulk_with_events_rows_s']:,} rows/s, batched "
                f"{entry['batched_with_events_rows_s']:,} rows/s, "
                f"import {entry['import_rows_s']:,} rows/s, ratio {entry['ratio']:.2f} "
                f"(vs bulk+events {entry['ratio_with_events']:.2f}, vs batched "
                f"{entry['ratio_batched']:.2f}) "
                f"(load {before[0]} -> {after[0]})",
                flush=True,
            )
        runs = result["runs"]
        result["median"] = {
            k: statistics.median(r[k] for r in runs)
            for k in (
                "bulk_rows_s",
                "bulk_with_events_rows_s",
                "import_rows_s",
                "ratio",
                "ratio_with_events",
                "batched_with_events_rows_s",
                "ratio_batched",
            )
        }
        if args.profile:
            reset(engine, org.id)
            result["profile"] = str(profile_import(backend, accounts, org.id, data, options))
            reset(engine, org.id)
            ServiceAccountImporter(accounts, org.id, options=options).run(data)

        result["export"] = bench_export(db.url, engine, org.id, ds, args)
        store.engine.dispose()
    return result


def profile_import(
    backend: str, accounts: SqlAccountStore, org_id: str, data: bytes, options: ImportOptions
) -> Path:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    ServiceAccountImporter(accounts, org_id, options=options).run(data)
    profiler.disable()
    path = RESULTS / f"csv_import-profile-{backend}.txt"
    with path.open("w") as f:
        stats = pstats.Stats(profiler, stream=f).strip_dirs().sort_stats("cumulative")
        stats.print_stats(40)
        stats.sort_stats("tottime").print_stats(30)
    print(f"[{backend}] profile written to {path.relative_to(ROOT)}", flush=True)
    return path.relative_to(ROOT)


# -- export ------------------------------------------------------------------------


def bench_export(
    url: str, engine: sa.Engine, org_id: str, ds: DataSet, args: argparse.Namespace
) -> list[dict[str, Any]]:
    sizes = [args.rows]
    if args.export_rows and args.export_rows > args.rows:
        sizes.append(args.export_rows)
    out = []
    for size in sizes:
        extra = size - count_accounts(engine, org_id)
        tag = 1
        while extra > 0:  # more integrations over the same users, bulk-inserted
            with SqlAccountStore(engine).accounts(org_id) as session:
                integration = session.create_integration(
                    f"Bench extra {tag}", "manual", IntegrationSettings()
                )
            n = min(extra, args.rows)
            for start in range(0, n, 50_000):
                chunk = bulk_rows(org_id, integration.id, ds, min(n, start + 50_000), tag)[start:]
                with engine.begin() as conn:
                    conn.execute(sa.insert(service_accounts), chunk)
            extra -= n
            tag += 1
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE service_accounts")
        entry: dict[str, Any] = {"rows": size, "load_before": load()}
        if engine.dialect.name == "sqlite":
            wal = Path(str(engine.url.database) + "-wal")
            entry["sqlite_wal_mib"] = round(wal.stat().st_size / 2**20, 1) if wal.exists() else 0
        entry.update(_export_child(url, org_id, size, tracemalloc=False))
        entry.update(_export_child(url, org_id, size, tracemalloc=True))
        entry["load_after"] = load()
        print(
            f"[{engine.dialect.name}] export {size:,} rows: {entry['rows_s']:,} rows/s, "
            f"peak RSS {entry['peak_rss_mib']} MiB (+{entry['rss_growth_mib']} MiB during "
            f"the export), tracemalloc peak {entry['tracemalloc_peak_mib']} MiB",
            flush=True,
        )
        out.append(entry)
    return out


def _export_child(url: str, org_id: str, rows: int, *, tracemalloc: bool) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--export-child", url, org_id, str(rows)]
    if tracemalloc:
        cmd.append("--tracemalloc")
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


class _CountingSink:
    """A binary stream that only counts what is written to it."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.bytes += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def export_child(url: str, org_id: str, rows: int, use_tracemalloc: bool) -> None:
    """Runs in a fresh process: one export, its time and memory as a JSON line."""
    import tracemalloc

    engine = make_engine(url)
    accounts = SqlAccountStore(engine)
    with engine.connect() as conn:  # connect and import everything before measuring
        conn.exec_driver_sql("SELECT 1")
    sink = _CountingSink()
    rss_before = _status_kib("VmRSS")
    if use_tracemalloc:
        tracemalloc.start()
    t = time.perf_counter()
    written = export_service_accounts(accounts, org_id, sink)  # type: ignore[arg-type]
    seconds = time.perf_counter() - t
    assert written == rows, (written, rows)
    if use_tracemalloc:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(json.dumps({"tracemalloc_peak_mib": round(peak / 2**20, 1)}))
        return
    # VmHWM, not getrusage().ru_maxrss: Linux carries ru_maxrss over fork + exec, so a
    # child started by a big parent would report the parent's size.
    peak_kib = _status_kib("VmHWM")
    print(
        json.dumps(
            {
                "seconds": round(seconds, 2),
                "rows_s": round(rows / seconds),
                "bytes": sink.bytes,
                "rss_before_mib": round(rss_before / 1024, 1),
                "peak_rss_mib": round(peak_kib / 1024, 1),
                "rss_growth_mib": round((peak_kib - rss_before) / 1024, 1),
                # After the export: anonymous (heap) memory vs. file pages mapped in.
                "rss_anon_mib": round(_status_kib("RssAnon") / 1024, 1),
                "rss_file_mib": round(_status_kib("RssFile") / 1024, 1),
                "rss_shmem_mib": round(_status_kib("RssShmem") / 1024, 1),
            }
        )
    )


# -- report ------------------------------------------------------------------------


def markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"CSV import/export benchmark, {meta['date']}, {meta['rows']:,} rows, batch size "
        f"{meta['batch_size']}, median of {meta['repeat']} runs, {meta['cpus']} CPUs.",
        "",
        "| backend | bulk insert rows/s | import rows/s | **import / bulk** | per run "
        "| bulk accounts+events rows/s | batched accounts+events rows/s "
        "| import / batched | load avg (1 min) per run |",
        "|---|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for r in results:
        m = r["median"]
        per_run = ", ".join(f"{x['ratio']:.2f}" for x in r["runs"])
        loads = ", ".join(f"{x['load_before'][0]:.1f}" for x in r["runs"])
        lines.append(
            f"| {r['backend']} | {m['bulk_rows_s']:,.0f} | {m['import_rows_s']:,.0f} | "
            f"**{m['ratio']:.2f}** | {per_run} | {m['bulk_with_events_rows_s']:,.0f} | "
            f"{m['batched_with_events_rows_s']:,.0f} | {m['ratio_batched']:.2f} | {loads} |"
        )
    lines += [
        "",
        "| backend | export rows | rows/s | peak RSS MiB | RSS growth MiB | tracemalloc peak MiB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for e in r.get("export", []):
            lines.append(
                f"| {r['backend']} | {e['rows']:,} | {e['rows_s']:,} | {e['peak_rss_mib']} | "
                f"{e['rss_growth_mib']} | {e['tracemalloc_peak_mib']} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=ServiceAccountImporter.default_batch_size)
    parser.add_argument(
        "--export-rows", type=int, default=0, help="also export this many rows (e.g. 1000000)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "SCIMSERVER_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
        help="an existing database to connect to; the benchmark uses a fresh one beside it",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile one import per backend")
    parser.add_argument("--tag", default="", help="suffix for the result file names")
    parser.add_argument("--export-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_child:
        url, org_id, rows = args.export_child
        export_child(url, org_id, int(rows), args.tracemalloc)
        return

    # Killed from outside: still leave through the ``with`` blocks (drop the database).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "rows": args.rows,
        "repeat": args.repeat,
        "batch_size": args.batch_size,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "sqlalchemy": sa.__version__,
        "load_start": load(),
    }
    results = []
    with tempfile.TemporaryDirectory(prefix="csv-bench-") as workdir:
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            results.append(bench_backend(backend, args, Path(workdir)))
    meta["load_end"] = load()
    text = markdown(results, meta)
    print()
    print(text)
    suffix = f"-{args.tag}" if args.tag else ""
    (RESULTS / f"csv_import{suffix}.md").write_text(text)
    (RESULTS / f"csv_import{suffix}.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
