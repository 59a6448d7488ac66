"""CSV: upload, dry-run preview with per-row problems, start, result, export.

The upload is checked at once with a dry run (every row, against the database, in a
transaction that is rolled back), so the preview shows exactly what "Start" will do.
Between the two steps the file is kept only as Fernet ciphertext under a fresh key
that is sent to the browser in the preview form and never stored: the database
alone cannot reveal an uploaded password. When the job has run, the ciphertext is
dropped; the file's SHA-256, the counts and the secret-free result CSV remain.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from flask import Response, abort, redirect, request, url_for
from flask.typing import ResponseReturnValue

from scimcore import Organization, ScimError
from scimcore.adapters.csv import (
    FORMATS,
    CsvFileError,
    ImportOptions,
    ImportReport,
    ServiceAccountImporter,
    UserImporter,
    export_service_accounts,
    export_users,
)

from .blueprint import audit, bp, console, login_required, organization, page, signed_in

#: Rows listed on the preview and result pages; the result CSV has every row.
SHOWN_ROWS = 500
KIND_LABELS = {"service-accounts": "Service accounts", "users": "Users"}


def _importer(org: Organization, kind: str, options: ImportOptions) -> Any:
    c = console()
    if kind == "users":
        return UserImporter(c.store, org.id, keyring=c.keyring, options=options)
    return ServiceAccountImporter(c.accounts, org.id, keyring=c.keyring, options=options)


def _report_data(report: ImportReport) -> dict[str, Any]:
    problems = [r for r in report.results if r.outcome == "failed"]
    return {
        "counts": report.counts,
        "warnings": list(report.warnings),
        "rows": len(report.results),
        "rolled_back": report.rolled_back,
        "results": [
            {"row": r.number, "outcome": r.outcome, "code": r.error_code, "message": r.message}
            for r in report.results[:SHOWN_ROWS]
        ],
        "problems": [
            {"row": r.number, "code": r.error_code, "message": r.message}
            for r in problems[:SHOWN_ROWS]
        ],
        "problem_count": len(problems),
    }


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
        report = _importer(org, kind, ImportOptions(dry_run=True, atomic=atomic)).run(data)
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
        preview=_report_data(report),
    )
    audit(org, "csv.previewed", job.file_name, kind=kind, sha256=job.file_sha256)
    return page(
        "csv_job.html",
        org=org,
        section="csv",
        job=job,
        data=job.preview,
        preview=True,
        job_key=key.decode(),
        kinds=KIND_LABELS,
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
    try:
        data = Fernet(request.form.get("job_key", "").encode()).decrypt(job.file_ciphertext)
    except (InvalidToken, ValueError):
        abort(400, description="This preview can no longer be started; upload the file again.")
    if not c.admins.claim_job(org.id, job.id):
        return redirect(url_for("admin.csv_job", slug=org.slug, job_id=job.id))
    try:
        report = _importer(org, job.kind, ImportOptions(atomic=job.atomic)).run(data)
    except (CsvFileError, ScimError) as exc:
        detail = exc.detail if isinstance(exc, ScimError) else "; ".join(exc.problems)
        c.admins.finish_job(
            org.id, job.id, status="failed", summary={"error": detail}, result_csv=None
        )
        audit(org, "csv.failed", job.file_name, kind=job.kind, error=detail)
        return redirect(url_for("admin.csv_job", slug=org.slug, job_id=job.id))
    out = io.BytesIO()
    report.write_result_csv(out, FORMATS[job.kind])
    summary = _report_data(report)
    summary["text"] = report.summary()
    c.admins.finish_job(org.id, job.id, status="done", summary=summary, result_csv=out.getvalue())
    audit(org, "csv.imported", job.file_name, kind=job.kind, counts=report.counts)
    return redirect(url_for("admin.csv_job", slug=org.slug, job_id=job.id))


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
        data=job.summary or job.preview or {},
        preview=False,
        kinds=KIND_LABELS,
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
