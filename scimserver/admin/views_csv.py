"""CSV: upload, dry-run preview with per-row problems, start, result, export.

The upload is checked at once with a dry run (every row, against the database, in a
transaction that is rolled back), so the preview shows exactly what "Start" will do.
Between the two steps the file is kept only as Fernet ciphertext under a fresh key
that is sent to the browser in the preview form and never stored: the database
alone cannot reveal an uploaded password. When the job starts, the ciphertext is
dropped; the file's SHA-256, the counts and the secret-free result CSV remain.

"Start" runs the import outside the request (:mod:`.csv_jobs`); the job's page shows
its progress from the database and polls ``status.json`` (``admin.js``) until it ends.
"""

from __future__ import annotations

import codecs
import hashlib
import io
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from flask import Response, abort, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue

from scimcore import Organization, ScimError
from scimcore.adapters.csv import (
    CHANGING,
    FORMATS,
    OUTCOMES,
    CsvFileError,
    ImportOptions,
    export_service_accounts,
    export_users,
)
from scimcore.storage.sql.admins import CsvJob

from . import csv_jobs
from .blueprint import audit, bp, console, login_required, organization, page, signed_in

KIND_LABELS = {"service-accounts": "Service accounts", "users": "Users"}


def would_change(preview: dict[str, Any] | None) -> int:
    """How many rows of a previewed file Start would write (0: every row failed or
    would be skipped, so Start is not offered)."""
    counts = (preview or {}).get("counts") or {}
    return sum(int(counts.get(outcome) or 0) for outcome in CHANGING)


def _csv_page(org: Organization, status: int = 200, **extra: Any) -> Response:
    return page(
        "csv.html",
        status=status,
        org=org,
        section="csv",
        kinds=KIND_LABELS,
        jobs=console().admins.jobs(org.id),
        keyring=console().keyring is not None,
        **extra,
    )


@bp.get("/o/<slug>/csv")
@login_required
def csv_home(slug: str) -> ResponseReturnValue:
    return _csv_page(organization(slug))


@bp.post("/o/<slug>/csv/upload")
@login_required
def csv_upload(slug: str) -> ResponseReturnValue:
    org = organization(slug)
    kind = request.form.get("kind", "")
    upload = request.files.get("file")
    if kind not in FORMATS:
        return _csv_page(org, 400, problems=["Choose what the file contains."])
    if upload is None or not upload.filename:
        return _csv_page(org, 400, problems=["Choose a CSV file to upload."], kind=kind)
    data = upload.read()
    atomic = request.form.get("atomic") == "1"
    try:
        options = ImportOptions(dry_run=True, atomic=atomic)
        report = csv_jobs.importer(console(), org.id, kind, options, profile=org.profile).run(data)
    except CsvFileError as exc:
        return _csv_page(
            org, 422, problems=exc.problems, warnings=exc.warnings, kind=kind, file=upload.filename
        )
    except ScimError as exc:
        return _csv_page(org, 422, problems=[exc.detail], kind=kind)
    key = Fernet.generate_key()
    job = console().admins.create_job(
        org.id,
        signed_in().admin.email,
        kind,
        upload.filename,
        hashlib.sha256(data).hexdigest(),
        atomic=atomic,
        file_ciphertext=Fernet(key).encrypt(data).decode(),
        preview=csv_jobs.report_data(report),
    )
    audit(org, "csv.previewed", job.file_name, kind=kind, sha256=job.file_sha256)
    return page(
        "csv_job.html",
        org=org,
        section="csv",
        job=job,
        data=job.preview,
        preview=True,
        would_change=would_change(job.preview),
        job_key=key.decode(),
        kinds=KIND_LABELS,
        outcomes=OUTCOMES,
    )


@bp.post("/o/<slug>/csv/jobs/<job_id>/start")
@login_required
def csv_start(slug: str, job_id: str) -> ResponseReturnValue:
    org = organization(slug)
    c = console()
    job = c.admins.get_job(org.id, job_id)
    if job is None:
        abort(404)
    if job.status != "pending" or job.file_ciphertext is None:
        return redirect(url_for("admin.csv_job", slug=org.slug, job_id=job.id))
    if not would_change(job.preview):
        abort(400, description="No row of this file would change anything; nothing to start.")
    try:
        data = Fernet(request.form.get("job_key", "").encode()).decrypt(job.file_ciphertext)
    except (InvalidToken, ValueError):
        abort(400, description="This preview can no longer be started; upload the file again.")
    rows = int((job.preview or {}).get("rows") or 0)
    lease = csv_jobs.lease_for(c, job.atomic, rows)
    if not c.admins.claim_job(org.id, job.id, lease=lease, rows_total=rows):
        return redirect(url_for("admin.csv_job", slug=org.slug, job_id=job.id))
    started = csv_jobs.StartedJob(
        organization_id=org.id,
        job_id=job.id,
        kind=job.kind,
        file_name=job.file_name,
        atomic=job.atomic,
        actor=signed_in().admin.email,
        profile=org.profile,
    )
    csv_jobs.start(c, started, data)
    return redirect(url_for("admin.csv_job", slug=org.slug, job_id=job.id))


def _page_data(job: CsvJob) -> dict[str, Any]:
    """What the job page lists: the result once it ended, else what the preview knew
    (its warnings and row count, never its dry-run counts as if they were results)."""
    if job.summary:
        return job.summary
    preview = job.preview or {}
    if job.status == "pending":
        return preview
    return {"rows": job.rows_total or preview.get("rows"), "warnings": preview.get("warnings")}


@bp.get("/o/<slug>/csv/jobs/<job_id>")
@login_required
def csv_job(slug: str, job_id: str) -> ResponseReturnValue:
    org = organization(slug)
    job = console().admins.get_job(org.id, job_id)
    if job is None:
        abort(404)
    return page(
        "csv_job.html",
        org=org,
        section="csv",
        job=job,
        data=_page_data(job),
        preview=False,
        kinds=KIND_LABELS,
        outcomes=OUTCOMES,
    )


@bp.get("/o/<slug>/csv/jobs/<job_id>/status.json")
@login_required
def csv_job_status(slug: str, job_id: str) -> ResponseReturnValue:
    """The job's state and progress, polled by the job page while it runs."""
    org = organization(slug)
    job = console().admins.get_job(org.id, job_id)
    if job is None:
        abort(404)
    return jsonify(
        {
            "status": job.status,
            "finished": job.finished_running,
            "rows_done": job.rows_done or 0,
            "rows_total": job.rows_total or 0,
            "counts": {outcome: job.counts.get(outcome, 0) for outcome in OUTCOMES},
            "result_url": url_for("admin.csv_result", slug=org.slug, job_id=job.id)
            if job.has_result
            else None,
        }
    )


@bp.get("/o/<slug>/csv/jobs/<job_id>/result.csv")
@login_required
def csv_result(slug: str, job_id: str) -> ResponseReturnValue:
    org = organization(slug)
    job = console().admins.get_job(org.id, job_id)
    result = console().admins.job_result(org.id, job_id) if job else None
    if job is None or result is None:
        abort(404)
    name = job.file_name.rsplit(".", 1)[0] or "import"
    if request.args.get("bom") == "1":  # for Excel, which reads UTF-8 only after a BOM
        result = codecs.BOM_UTF8 + result
    return _download(result, f"{_ascii(name)}-result.csv")


@bp.get("/o/<slug>/csv/export")
@login_required
def csv_export(slug: str) -> ResponseReturnValue:
    org = organization(slug)
    kind = request.args.get("kind", "")
    if kind not in FORMATS:
        abort(404)
    c = console()
    out = io.BytesIO()
    bom = request.args.get("bom") == "1"
    if kind == "users":
        count = export_users(c.store, org.id, out, bom=bom)
    else:
        count = export_service_accounts(c.accounts, org.id, out, bom=bom)
    audit(org, "csv.exported", kind, rows=count, bom=bom)
    return _download(out.getvalue(), f"{org.slug}-{kind}.csv")


def _ascii(name: str) -> str:
    cleaned = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in name)
    return cleaned[:100] or "import"


def _download(data: bytes, filename: str) -> Response:
    return Response(
        data,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{_ascii(filename)}"'},
    )
