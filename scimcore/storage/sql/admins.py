"""Storage for the admin console: administrators, sessions, throttling, audit, CSV jobs.

The console (``scimserver.admin``) keeps everything it must share between worker
processes here, so any number of workers or hosts serve the same console:

* **Administrators** belong to organizations (``admin_memberships``); every page the
  console serves for an organization first asks :meth:`SqlAdminStore.member_of`.
* **Sessions** are server-side: the cookie holds 256 random bits and only their
  SHA-256 is stored, so signing out (or deleting the row) ends the session at once
  everywhere, and a copy of the database cannot be used to ride a session.
* **Sign-in failures** are rows keyed by a hash the caller computes (email + client
  address); counting the recent ones is an index range scan.
* **Audit** rows record console actions (token generation, CSV jobs, sign-ins).
* **CSV jobs** hold an uploaded file only as ciphertext between the dry run and the
  start, then only its hash, the counts and the secret-free result CSV. A started job
  runs outside the request and writes its progress here with a lease it keeps
  renewing: a ``running`` job whose lease ran out belonged to a process that died,
  and the next read records it as ``interrupted``.

One module, though long: the console's own storage (administrators, sessions,
audit, CSV jobs), kept here beside the migrations that create its tables; the console
(``scimserver/admin``) is its only user.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ...errors import Uniqueness
from .engine import transaction
from .tables import (
    admin_accounts,
    admin_audit,
    admin_csv_jobs,
    admin_memberships,
    admin_sessions,
    admin_sign_in_failures,
    organizations,
)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AdminAccount:
    """A console administrator; ``password_hash`` never leaves the console's auth code."""

    id: str
    email: str
    password_hash: str = field(repr=False)
    created: datetime
    last_sign_in: datetime | None = None


@dataclass(frozen=True)
class AdminSession:
    """A signed-in browser: whose it is, its CSRF token and when it ends."""

    id_hash: str
    admin: AdminAccount
    csrf_token: str = field(repr=False)
    created: datetime
    last_seen: datetime
    expires_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    id: int
    organization_id: str | None
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any]


#: Job statuses after which nothing about the job changes any more.
FINISHED_JOB_STATUSES = frozenset({"done", "failed", "interrupted"})


@dataclass(frozen=True)
class CsvJob:
    """An uploaded CSV file through its life: previewed (``pending``), ``running``,
    then ``done``, ``failed`` or ``interrupted`` (its process died while running it).

    ``rows_done``/``rows_total`` and ``counts`` (rows per outcome) are the progress the
    running process last wrote; ``lease_until`` is when it must have written again.
    """

    id: str
    organization_id: str
    created_by: str
    kind: str
    file_name: str
    file_sha256: str
    status: str
    atomic: bool
    created: datetime
    file_ciphertext: str | None = field(default=None, repr=False)
    preview: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    finished: datetime | None = None
    has_result: bool = False
    started: datetime | None = None
    rows_total: int | None = None
    rows_done: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    lease_until: datetime | None = None

    @property
    def finished_running(self) -> bool:
        return self.status in FINISHED_JOB_STATUSES


class SqlAdminStore:
    """The console's tables on an engine from :func:`.engine.make_engine` (migrated)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sqlite = engine.dialect.name == "sqlite"

    def _begin(self, *, write: bool = True) -> AbstractContextManager[Connection]:
        return transaction(self.engine, write=write)

    # -- administrators -----------------------------------------------------------------

    def create_admin(
        self, email: str, password_hash: str, organization_ids: Sequence[str] = ()
    ) -> AdminAccount:
        """A new administrator; a taken email (case-insensitive) raises
        :class:`~scimcore.errors.Uniqueness`."""
        account = AdminAccount(str(uuid.uuid4()), email.strip().lower(), password_hash, _now())
        try:
            with self._begin() as conn:
                conn.execute(
                    sa.insert(admin_accounts).values(
                        id=account.id,
                        email=account.email,
                        password_hash=password_hash,
                        created=account.created,
                    )
                )
                for org_id in dict.fromkeys(organization_ids):
                    conn.execute(
                        sa.insert(admin_memberships).values(
                            admin_id=account.id, organization_id=org_id
                        )
                    )
        except sa.exc.IntegrityError:
            raise Uniqueness(f"An administrator with the email {account.email!r} exists.") from None
        return account

    def get_admin_by_email(self, email: str) -> AdminAccount | None:
        with self._begin(write=False) as conn:
            row = conn.execute(
                sa.select(admin_accounts).where(admin_accounts.c.email == email.strip().lower())
            ).first()
        return _admin(row) if row else None

    def list_admins(self) -> list[tuple[AdminAccount, list[str]]]:
        """Every administrator with the slugs of their organizations."""
        with self._begin(write=False) as conn:
            admins = [
                _admin(r)
                for r in conn.execute(sa.select(admin_accounts).order_by(admin_accounts.c.email))
            ]
            slugs: dict[str, list[str]] = {}
            for admin_id, slug in conn.execute(
                sa.select(admin_memberships.c.admin_id, organizations.c.slug)
                .join(organizations, organizations.c.id == admin_memberships.c.organization_id)
                .order_by(organizations.c.slug)
            ):
                slugs.setdefault(admin_id, []).append(slug)
        return [(a, slugs.get(a.id, [])) for a in admins]

    def set_password(self, admin_id: str, password_hash: str) -> None:
        """Store a new hash and end every session of the administrator."""
        with self._begin() as conn:
            conn.execute(
                sa.update(admin_accounts)
                .where(admin_accounts.c.id == admin_id)
                .values(password_hash=password_hash)
            )
            conn.execute(sa.delete(admin_sessions).where(admin_sessions.c.admin_id == admin_id))

    def add_membership(self, admin_id: str, organization_id: str) -> None:
        """Let the administrator see the organization (already a member: no change)."""
        with self._begin() as conn:
            exists = conn.execute(
                sa.select(sa.literal(1)).where(
                    admin_memberships.c.admin_id == admin_id,
                    admin_memberships.c.organization_id == organization_id,
                )
            ).first()
            if exists is None:
                conn.execute(
                    sa.insert(admin_memberships).values(
                        admin_id=admin_id, organization_id=organization_id
                    )
                )

    def organization_ids(self, admin_id: str) -> list[str]:
        with self._begin(write=False) as conn:
            return list(
                conn.execute(
                    sa.select(admin_memberships.c.organization_id).where(
                        admin_memberships.c.admin_id == admin_id
                    )
                ).scalars()
            )

    def member_of(self, admin_id: str, organization_id: str) -> bool:
        with self._begin(write=False) as conn:
            return (
                conn.execute(
                    sa.select(sa.literal(1)).where(
                        admin_memberships.c.admin_id == admin_id,
                        admin_memberships.c.organization_id == organization_id,
                    )
                ).first()
                is not None
            )

    # -- sessions -----------------------------------------------------------------------

    def create_session(
        self, id_hash: str, admin_id: str, csrf_token: str, expires_at: datetime
    ) -> None:
        """Open a session; also records the sign-in time and drops expired sessions."""
        now = _now()
        with self._begin() as conn:
            conn.execute(sa.delete(admin_sessions).where(admin_sessions.c.expires_at < now))
            conn.execute(
                sa.insert(admin_sessions).values(
                    id_hash=id_hash,
                    admin_id=admin_id,
                    csrf_token=csrf_token,
                    created=now,
                    last_seen=now,
                    expires_at=expires_at,
                )
            )
            conn.execute(
                sa.update(admin_accounts)
                .where(admin_accounts.c.id == admin_id)
                .values(last_sign_in=now)
            )

    def get_session(self, id_hash: str) -> AdminSession | None:
        """The session with this hash and its administrator, expired ones included
        (the caller decides what idle and absolute limits mean)."""
        with self._begin(write=False) as conn:
            row = conn.execute(
                sa.select(admin_sessions, admin_accounts)
                .join(admin_accounts, admin_accounts.c.id == admin_sessions.c.admin_id)
                .where(admin_sessions.c.id_hash == id_hash)
            ).first()
        if row is None:
            return None
        m = row._mapping
        return AdminSession(
            id_hash=m[admin_sessions.c.id_hash],
            admin=AdminAccount(
                m[admin_accounts.c.id],
                m[admin_accounts.c.email],
                m[admin_accounts.c.password_hash],
                m[admin_accounts.c.created],
                m[admin_accounts.c.last_sign_in],
            ),
            csrf_token=m[admin_sessions.c.csrf_token],
            created=m[admin_sessions.c.created],
            last_seen=m[admin_sessions.c.last_seen],
            expires_at=m[admin_sessions.c.expires_at],
        )

    def touch_session(self, id_hash: str, at: datetime) -> None:
        with self._begin() as conn:
            conn.execute(
                sa.update(admin_sessions)
                .where(admin_sessions.c.id_hash == id_hash)
                .values(last_seen=at)
            )

    def delete_session(self, id_hash: str) -> None:
        with self._begin() as conn:
            conn.execute(sa.delete(admin_sessions).where(admin_sessions.c.id_hash == id_hash))

    # -- sign-in throttling -------------------------------------------------------------

    def record_failure(self, key_hash: str, at: datetime) -> None:
        with self._begin() as conn:
            conn.execute(sa.insert(admin_sign_in_failures).values(key_hash=key_hash, at=at))

    def count_failures(self, key_hash: str, since: datetime) -> int:
        with self._begin(write=False) as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(admin_sign_in_failures)
                    .where(
                        admin_sign_in_failures.c.key_hash == key_hash,
                        admin_sign_in_failures.c.at >= since,
                    )
                ).scalar_one()
            )

    def clear_failures(self, key_hash: str, older_than: datetime) -> None:
        """Forget this key's failures, and everyone's older than ``older_than``."""
        with self._begin() as conn:
            conn.execute(
                sa.delete(admin_sign_in_failures).where(
                    sa.or_(
                        admin_sign_in_failures.c.key_hash == key_hash,
                        admin_sign_in_failures.c.at < older_than,
                    )
                )
            )

    # -- audit --------------------------------------------------------------------------

    def record(
        self,
        organization_id: str | None,
        actor: str,
        action: str,
        target: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        with self._begin() as conn:
            conn.execute(
                sa.insert(admin_audit).values(
                    organization_id=organization_id,
                    at=_now(),
                    actor=actor,
                    action=action,
                    target=target,
                    detail=detail or {},
                )
            )

    def audit(
        self,
        organization_id: str,
        *,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 50,
        include_actors: Sequence[str] = (),
    ) -> list[AuditEntry]:
        """Newest first: the organization's rows, plus sign-ins of ``include_actors``
        (the organization's administrators), keyset-paged by ``before_id``."""
        a = admin_audit.c
        scope = a.organization_id == organization_id
        if include_actors:
            scope = sa.or_(scope, sa.and_(a.organization_id.is_(None), a.actor.in_(include_actors)))
        where: list[Any] = [scope]
        if actor:
            where.append(a.actor == actor.strip().lower())
        if since is not None:
            where.append(a.at >= since)
        if until is not None:
            where.append(a.at < until)
        if before_id is not None:
            where.append(a.id < before_id)
        with self._begin(write=False) as conn:
            rows = conn.execute(
                sa.select(admin_audit).where(*where).order_by(a.id.desc()).limit(limit)
            ).all()
        return [
            AuditEntry(r.id, r.organization_id, r.at, r.actor, r.action, r.target, dict(r.detail))
            for r in rows
        ]

    def organization_admin_emails(self, organization_id: str) -> list[str]:
        with self._begin(write=False) as conn:
            return list(
                conn.execute(
                    sa.select(admin_accounts.c.email)
                    .join(admin_memberships, admin_memberships.c.admin_id == admin_accounts.c.id)
                    .where(admin_memberships.c.organization_id == organization_id)
                ).scalars()
            )

    # -- CSV jobs -----------------------------------------------------------------------

    def create_job(
        self,
        organization_id: str,
        created_by: str,
        kind: str,
        file_name: str,
        file_sha256: str,
        *,
        atomic: bool,
        file_ciphertext: str,
        preview: dict[str, Any],
    ) -> CsvJob:
        job = CsvJob(
            id=str(uuid.uuid4()),
            organization_id=organization_id,
            created_by=created_by,
            kind=kind,
            file_name=file_name[:255],
            file_sha256=file_sha256,
            status="pending",
            atomic=atomic,
            created=_now(),
            file_ciphertext=file_ciphertext,
            preview=preview,
        )
        with self._begin() as conn:
            conn.execute(
                sa.insert(admin_csv_jobs).values(
                    id=job.id,
                    organization_id=organization_id,
                    created_by=created_by,
                    kind=kind,
                    file_name=job.file_name,
                    file_sha256=file_sha256,
                    status="pending",
                    atomic=atomic,
                    file_ciphertext=file_ciphertext,
                    preview=preview,
                    created=job.created,
                )
            )
        return job

    def get_job(self, organization_id: str, job_id: str) -> CsvJob | None:
        """The job, only if it belongs to the organization (a ``running`` job whose
        lease ran out is recorded as ``interrupted`` first)."""
        j = admin_csv_jobs.c
        query = sa.select(*_JOB_COLUMNS, j.file_ciphertext).where(
            j.id == job_id, j.organization_id == organization_id
        )
        with self._begin(write=False) as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        job = _job(row, with_file=True)
        if _stale(job, _now()):
            self.interrupt_stale_jobs(organization_id)
            with self._begin(write=False) as conn:
                row = conn.execute(query).first()
            job = _job(row, with_file=True)
        return job

    def jobs(self, organization_id: str, limit: int = 20) -> list[CsvJob]:
        """The newest jobs (stale ``running`` ones recorded as ``interrupted`` first)."""
        j = admin_csv_jobs.c
        query = (
            sa.select(*_JOB_COLUMNS)
            .where(j.organization_id == organization_id)
            .order_by(j.created.desc())
            .limit(limit)
        )
        with self._begin(write=False) as conn:
            found = [_job(r) for r in conn.execute(query)]
        now = _now()
        if any(_stale(job, now) for job in found):
            self.interrupt_stale_jobs(organization_id)
            with self._begin(write=False) as conn:
                found = [_job(r) for r in conn.execute(query)]
        return found

    def claim_job(
        self, organization_id: str, job_id: str, *, lease: timedelta, rows_total: int | None
    ) -> bool:
        """Move a ``pending`` job to ``running`` and drop the uploaded file's ciphertext
        (the caller has decrypted it); False if another request got there first.

        The caller must renew the lease (:meth:`report_progress`) before it runs out.
        """
        j = admin_csv_jobs.c
        now = _now()
        with self._begin() as conn:
            done = conn.execute(
                sa.update(admin_csv_jobs)
                .where(j.id == job_id, j.organization_id == organization_id, j.status == "pending")
                .values(
                    status="running",
                    file_ciphertext=None,
                    started=now,
                    lease_until=now + lease,
                    rows_total=rows_total,
                    rows_done=0,
                    counts={},
                )
            )
        return bool(done.rowcount)

    def report_progress(
        self,
        organization_id: str,
        job_id: str,
        *,
        rows_done: int,
        rows_total: int,
        counts: dict[str, int],
        lease: timedelta,
    ) -> bool:
        """Record a running job's progress and renew its lease; False when the job is
        no longer ``running`` (it was recorded as interrupted)."""
        j = admin_csv_jobs.c
        with self._begin() as conn:
            done = conn.execute(
                sa.update(admin_csv_jobs)
                .where(j.id == job_id, j.organization_id == organization_id, j.status == "running")
                .values(
                    rows_done=rows_done,
                    rows_total=rows_total,
                    counts=counts,
                    lease_until=_now() + lease,
                )
            )
        return bool(done.rowcount)

    def interrupt_stale_jobs(self, organization_id: str) -> int:
        """Record every ``running`` job of the organization whose lease ran out as
        ``interrupted``, each with a ``csv.interrupted`` activity record in the same
        transaction; returns how many there were."""
        j = admin_csv_jobs.c
        now = _now()
        with self._begin() as conn:
            stopped = conn.execute(
                sa.update(admin_csv_jobs)
                .where(
                    j.organization_id == organization_id,
                    j.status == "running",
                    sa.or_(j.lease_until.is_(None), j.lease_until < now),
                )
                .values(status="interrupted", finished=now, file_ciphertext=None)
                .returning(j.created_by, j.file_name, j.kind, j.rows_done, j.rows_total)
            ).all()
            if stopped:
                conn.execute(
                    sa.insert(admin_audit),
                    [
                        {
                            "organization_id": organization_id,
                            "at": now,
                            "actor": row.created_by,
                            "action": "csv.interrupted",
                            "target": row.file_name,
                            "detail": {
                                "kind": row.kind,
                                "rows_done": row.rows_done or 0,
                                "rows_total": row.rows_total or 0,
                            },
                        }
                        for row in stopped
                    ],
                )
        return len(stopped)

    def finish_job(
        self,
        organization_id: str,
        job_id: str,
        *,
        status: str,
        summary: dict[str, Any],
        result_csv: bytes | None,
        rows_done: int | None = None,
        counts: dict[str, int] | None = None,
        audit: tuple[str, str, dict[str, Any]] | None = None,
    ) -> None:
        """Record the outcome and drop the uploaded file (its ciphertext).

        ``audit`` (actor, action, detail) is the job's activity record, written in the
        same transaction: whoever sees the job finished sees it in the activity log, and
        neither is written without the other.

        A job recorded as interrupted that finished after all gets its outcome: the
        rows were applied, and the record should say so.
        """
        j = admin_csv_jobs.c
        values: dict[str, Any] = {
            "status": status,
            "summary": summary,
            "result_csv": result_csv,
            "file_ciphertext": None,
            "finished": _now(),
            "lease_until": None,
        }
        if rows_done is not None:
            values["rows_done"] = rows_done
        if counts is not None:
            values["counts"] = counts
        with self._begin() as conn:
            name = conn.execute(
                sa.update(admin_csv_jobs)
                .where(j.id == job_id, j.organization_id == organization_id)
                .values(**values)
                .returning(j.file_name)
            ).scalar_one_or_none()
            if audit is not None and name is not None:
                actor, action, detail = audit
                conn.execute(
                    sa.insert(admin_audit).values(
                        organization_id=organization_id,
                        at=values["finished"],
                        actor=actor,
                        action=action,
                        target=name,
                        detail=detail,
                    )
                )

    def job_result(self, organization_id: str, job_id: str) -> bytes | None:
        j = admin_csv_jobs.c
        with self._begin(write=False) as conn:
            value = conn.execute(
                sa.select(j.result_csv).where(j.id == job_id, j.organization_id == organization_id)
            ).scalar()
        return bytes(value) if value is not None else None


_JOB_COLUMNS = (
    admin_csv_jobs.c.id,
    admin_csv_jobs.c.organization_id,
    admin_csv_jobs.c.created_by,
    admin_csv_jobs.c.kind,
    admin_csv_jobs.c.file_name,
    admin_csv_jobs.c.file_sha256,
    admin_csv_jobs.c.status,
    admin_csv_jobs.c.atomic,
    admin_csv_jobs.c.created,
    admin_csv_jobs.c.preview,
    admin_csv_jobs.c.summary,
    admin_csv_jobs.c.finished,
    admin_csv_jobs.c.result_csv.isnot(None).label("has_result"),
    admin_csv_jobs.c.started,
    admin_csv_jobs.c.rows_total,
    admin_csv_jobs.c.rows_done,
    admin_csv_jobs.c.counts,
    admin_csv_jobs.c.lease_until,
)


def _admin(row: Any) -> AdminAccount:
    return AdminAccount(row.id, row.email, row.password_hash, row.created, row.last_sign_in)


def _job(row: Any, *, with_file: bool = False) -> CsvJob:
    return CsvJob(
        id=row.id,
        organization_id=row.organization_id,
        created_by=row.created_by,
        kind=row.kind,
        file_name=row.file_name,
        file_sha256=row.file_sha256,
        status=row.status,
        atomic=bool(row.atomic),
        created=row.created,
        file_ciphertext=row.file_ciphertext if with_file else None,
        preview=dict(row.preview) if row.preview is not None else None,
        summary=dict(row.summary) if row.summary is not None else None,
        finished=row.finished,
        has_result=bool(row.has_result),
        started=row.started,
        rows_total=row.rows_total,
        rows_done=row.rows_done,
        counts={str(k): int(v) for k, v in (row.counts or {}).items()},
        lease_until=row.lease_until,
    )


def _stale(job: CsvJob, now: datetime) -> bool:
    return job.status == "running" and (job.lease_until is None or job.lease_until < now)
