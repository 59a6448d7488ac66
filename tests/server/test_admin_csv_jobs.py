"""CSV imports started from the console run outside the request and report progress.

Driven through the console's HTTP endpoints with the Flask test client: upload, Start,
then ``status.json`` (what the job page polls) until the job ends.
"""

from __future__ import annotations

import csv
import io
import re
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scimcore.storage.sql.admins import SqlAdminStore
from scimcore.storage.sql.tables import events, resources
from scimserver.admin import csv_jobs

from .admin_support import (
    Tenant,
    admin_store,
    csrf_from,
    new_tenant,
    page_token,
    wait_for_job,
)

ROWS = 3000


def _text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def _users_csv(rows: int) -> bytes:
    lines = ["operation,userName,displayName"]
    lines += [f"CREATE,bulk{i:05d}@example.com,Bulk User {i}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def _preview(client: Any, tenant: Tenant, data: bytes, *, atomic: bool = False) -> str:
    form: dict[str, Any] = {
        "csrf_token": page_token(client, f"/admin/o/{tenant.slug}/csv"),
        "kind": "users",
        "file": (io.BytesIO(data), "bulk.csv"),
    }
    if atomic:
        form["atomic"] = "1"
    response = client.post(f"/admin/o/{tenant.slug}/csv/upload", data=form)
    assert response.status_code == 200, _text(response)
    return _text(response)


def _press_start(client: Any, preview_html: str) -> str:
    """Press Start on the preview; returns the job page it leads to."""
    action = re.search(r'action="([^"]+/start)"', preview_html)
    key = re.search(r'name="job_key" value="([^"]+)"', preview_html)
    assert action and key
    response = client.post(
        action.group(1), data={"csrf_token": csrf_from(preview_html), "job_key": key.group(1)}
    )
    assert response.status_code == 302
    return str(response.headers["Location"])


def _count(app: Any, table: sa.Table, *where: Any) -> int:
    engine = app.extensions["scimserver_admin"].store.engine
    with engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()
        )


class _HoldAfterFirstReport:
    """Hold the import after its first progress report until the test has seen it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.release = threading.Event()
        self.reports: list[int] = []
        original = SqlAdminStore.report_progress

        def report(store: SqlAdminStore, *args: Any, **kwargs: Any) -> bool:
            recorded = original(store, *args, **kwargs)
            self.reports.append(kwargs["rows_done"])
            if len(self.reports) == 1:
                self.release.wait(timeout=60)
            return recorded

        monkeypatch.setattr(SqlAdminStore, "report_progress", report)


def test_large_import_runs_in_the_background_shows_progress_and_writes_each_row_once(
    client: Any, console_app: Any, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold = _HoldAfterFirstReport(monkeypatch)
    preview = _preview(client, tenant, _users_csv(ROWS))
    assert f"<strong>{ROWS}</strong> created" in preview
    job_url = _press_start(client, preview)
    try:
        # Start answered while the import is still running: its progress is in the
        # database, for this or any other process to show.
        midway: dict[str, Any] = {}
        for _ in range(3000):
            midway = client.get(job_url + "/status.json").get_json()
            if midway["rows_done"] > 0:
                break
            time.sleep(0.02)
        assert midway["status"] == "running"
        assert 0 < midway["rows_done"] < ROWS and midway["rows_total"] == ROWS
        assert midway["counts"]["created"] == midway["rows_done"]
        assert midway["result_url"] is None
        page = _text(client.get(job_url))
        assert 'id="job-progress"' in page and "data-status-url=" in page
        assert f'<span id="job-rows-done">{midway["rows_done"]}</span>' in page
        assert '<meta http-equiv="refresh"' in page  # inside <noscript>
        # pressing Start again (another tab) starts nothing
        assert _press_start(client, preview) == job_url
    finally:
        hold.release.set()
    final = wait_for_job(client, job_url)
    assert final["status"] == "done"
    assert final["rows_done"] == final["rows_total"] == ROWS
    assert final["counts"]["created"] == ROWS and final["counts"]["failed"] == 0
    assert hold.reports == sorted(hold.reports) and hold.reports[-1] == ROWS
    assert len(hold.reports) > 1

    result = client.get(final["result_url"])
    assert result.status_code == 200 and result.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(result.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][-3:] == ["result", "errorCode", "message"]
    assert len(rows) == ROWS + 1 and {r[-3] for r in rows[1:]} == {"created"}

    page = _text(client.get(job_url))
    assert f"<strong>{ROWS}</strong> created" in page and "Download the result CSV" in page
    assert 'id="job-progress"' not in page
    org = resources.c.organization_id == tenant.id
    assert _count(console_app, resources, org, resources.c.resource_type == "User") == ROWS
    assert _count(console_app, events, events.c.organization_id == tenant.id) == ROWS
    audit = admin_store(console_app).audit(tenant.id)
    assert [e.action for e in audit].count("csv.imported") == 1


def test_all_or_nothing_import_in_the_background_rolls_back_when_a_row_fails(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    data = _users_csv(1200) + b"BOGUS,broken@example.com,Broken\n"
    job_url = _press_start(client, _preview(client, tenant, data, atomic=True))
    final = wait_for_job(client, job_url)
    assert final["status"] == "done" and final["counts"]["failed"] == 1
    assert "Rolled back" in _text(client.get(job_url))
    assert _count(console_app, resources, resources.c.organization_id == tenant.id) == 0


def test_a_running_job_whose_process_died_is_shown_as_interrupted(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    store = admin_store(console_app)
    job = store.create_job(
        tenant.id,
        "someone@example.com",
        "users",
        "big.csv",
        "0" * 64,
        atomic=False,
        file_ciphertext="ciphertext",
        preview={"rows": 10000},
    )
    # the process claimed it, reported once, then died: its lease runs out
    assert store.claim_job(tenant.id, job.id, lease=timedelta(minutes=2), rows_total=10000)
    assert store.get_job(tenant.id, job.id).file_ciphertext is None  # type: ignore[union-attr]
    assert store.report_progress(
        tenant.id,
        job.id,
        rows_done=500,
        rows_total=10000,
        counts={"created": 498, "failed": 2},
        lease=timedelta(seconds=-1),
    )
    job_url = f"/admin/o/{tenant.slug}/csv/jobs/{job.id}"
    status = client.get(job_url + "/status.json").get_json()
    assert status["status"] == "interrupted" and status["finished"]
    assert status["rows_done"] == 500 and status["counts"]["created"] == 498
    page = _text(client.get(job_url))
    assert "The import stopped before it finished" in page and "after 500 of 10000 rows" in page
    assert 'id="job-progress"' not in page
    listing = _text(client.get(f"/admin/o/{tenant.slug}/csv"))
    assert 'badge-interrupted">interrupted' in listing
    (stopped,) = [e for e in store.audit(tenant.id) if e.action == "csv.interrupted"]
    assert stopped.target == "big.csv" and stopped.actor == "someone@example.com"
    assert stopped.detail == {"kind": "users", "rows_done": 500, "rows_total": 10000}
    assert "csv interrupted" in _text(client.get(f"/admin/o/{tenant.slug}/activity"))
    # a late report from that process changes nothing
    assert not store.report_progress(
        tenant.id, job.id, rows_done=600, rows_total=10000, counts={}, lease=csv_jobs.LEASE
    )


def test_a_running_job_renewing_its_lease_is_not_interrupted(
    console_app: Any, tenant: Tenant
) -> None:
    store = admin_store(console_app)
    job = store.create_job(
        tenant.id,
        "someone@example.com",
        "users",
        "big.csv",
        "0" * 64,
        atomic=False,
        file_ciphertext="ciphertext",
        preview={"rows": 10},
    )
    assert store.claim_job(tenant.id, job.id, lease=csv_jobs.LEASE, rows_total=10)
    assert not store.claim_job(tenant.id, job.id, lease=csv_jobs.LEASE, rows_total=10)
    assert store.interrupt_stale_jobs(tenant.id) == 0
    assert [j.status for j in store.jobs(tenant.id)] == ["running"]


def test_job_status_of_another_organization_is_404(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    other = new_tenant(console_app)
    job = admin_store(console_app).create_job(
        other.id,
        "x@example.com",
        "users",
        "f.csv",
        "0" * 64,
        atomic=False,
        file_ciphertext="c",
        preview={},
    )
    assert client.get(f"/admin/o/{other.slug}/csv/jobs/{job.id}/status.json").status_code == 404
    assert client.get(f"/admin/o/{tenant.slug}/csv/jobs/{job.id}/status.json").status_code == 404


def test_a_job_whose_final_write_fails_once_still_ends_with_one_activity_record(
    client: Any, console_app: Any, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows are applied by then: a database hiccup at the end must not lose the
    job's outcome or its activity record, nor write the record twice."""
    store = admin_store(console_app)
    original = store.finish_job
    calls: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise sa.exc.OperationalError("UPDATE", {}, Exception("server closed the connection"))
        return original(*args, **kwargs)

    monkeypatch.setattr(store, "finish_job", flaky)
    status = wait_for_job(client, _press_start(client, _preview(client, tenant, _users_csv(2))))
    assert status["status"] == "done" and len(calls) == 2
    imported = [e for e in store.audit(tenant.id) if e.action == "csv.imported"]
    assert len(imported) == 1 and imported[0].detail["counts"]["created"] == 2


def test_a_job_that_cannot_record_its_end_is_never_shown_finished_without_a_record(
    console_app: Any, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    store = admin_store(console_app)
    job = store.create_job(
        tenant.id,
        "someone@example.com",
        "users",
        "lost.csv",
        "0" * 64,
        atomic=False,
        file_ciphertext="ciphertext",
        preview={"rows": 1},
    )
    assert store.claim_job(tenant.id, job.id, lease=timedelta(seconds=-1), rows_total=1)

    def down(*args: Any, **kwargs: Any) -> None:
        raise sa.exc.OperationalError("UPDATE", {}, Exception("database is gone"))

    monkeypatch.setattr(store, "finish_job", down)
    monkeypatch.setattr(csv_jobs, "FINISH_PATIENCE", timedelta(seconds=0.3))
    started = csv_jobs.StartedJob(tenant.id, job.id, "users", "lost.csv", False, "someone@x")
    csv_jobs.run(console_app.extensions["scimserver_admin"], started, b"operation,userName\n")
    assert "could not record the end of CSV import" in caplog.text
    monkeypatch.undo()
    seen = store.get_job(tenant.id, job.id)
    assert seen is not None and seen.status == "interrupted"
    assert [e.action for e in store.audit(tenant.id)] == ["csv.interrupted"]
