"""Discovery's side of the provisioning store: the organization's domains, what a run
starts from (users, their e-mails, the stored accounts), and a run's record and its
results, written in one transaction (a failed run changes no account)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from ...provisioning.events import NewEvent
from ...provisioning.quarantine import QUARANTINED
from ...provisioning.store import DirectoryUser, DiscoveryState, Link, Observation, SyncRun
from .engine import transaction
from .outbox import insert_event
from .tables import (
    integration_connectors,
    integrations,
    organization_domains,
    resource_emails,
    resources,
    service_accounts,
    sync_runs,
)


def _now() -> datetime:
    return datetime.now(UTC)


class DiscoveryRuns:
    """Mixed into :class:`~.provisioning.SqlProvisioningStore`, over its engine."""

    engine: Engine

    def _begin(self, *, write: bool = True) -> AbstractContextManager[Connection]:
        return transaction(self.engine, write=write)

    def add_domain(self, organization_id: str, domain: str) -> None:
        d = organization_domains.c
        key = domain.strip().lower().lstrip("@")
        with self._begin() as conn:
            exists = conn.execute(
                sa.select(d.domain).where(d.organization_id == organization_id, d.domain == key)
            ).first()
            if not exists:
                conn.execute(
                    sa.insert(organization_domains).values(
                        organization_id=organization_id, domain=key
                    )
                )

    def domains(self, organization_id: str) -> list[str]:
        d = organization_domains.c
        with self._begin(write=False) as conn:
            return list(
                conn.execute(
                    sa.select(d.domain)
                    .where(d.organization_id == organization_id)
                    .order_by(d.domain)
                ).scalars()
            )

    def discovery_state(self, organization_id: str, integration_id: int) -> DiscoveryState:
        r, e, c = resources.c, resource_emails.c, service_accounts.c
        with self._begin(write=False) as conn:
            users = conn.execute(
                sa.select(r.id, r.name, r.active).where(
                    r.organization_id == organization_id, r.resource_type == "User"
                )
            ).all()
            emails: dict[str, list[str]] = {}
            for rid, value in conn.execute(
                sa.select(e.resource_id, e.value_key).where(e.organization_id == organization_id)
            ):
                emails.setdefault(rid, []).append(value)
            accounts = conn.execute(
                sa.select(service_accounts).where(
                    c.organization_id == organization_id, c.integration_id == integration_id
                )
            ).mappings()
            links = [link_from_row(row) for row in accounts]
            domains = frozenset(self.domains(organization_id))
        return DiscoveryState(
            users=[
                DirectoryUser(uid, str(name or ""), tuple(emails.get(uid, ())), active is not False)
                for uid, name, active in users
            ],
            accounts=links,
            domains=domains,
        )

    def start_run(self, organization_id: str, integration_id: int, kind: str) -> SyncRun:
        now = _now()
        with self._begin() as conn:
            run_id = conn.execute(
                sa.insert(sync_runs)
                .values(
                    organization_id=organization_id,
                    integration_id=integration_id,
                    kind=kind,
                    status="running",
                    started=now,
                    counts={},
                )
                .returning(sync_runs.c.id)
            ).scalar_one()
            self._sync_mark(conn, organization_id, integration_id, "syncing", started=now)
        return SyncRun(run_id, integration_id, kind, "running", now)

    def _sync_mark(
        self,
        conn: Connection,
        organization_id: str,
        integration_id: int,
        status: str,
        **stamps: Any,
    ) -> None:
        i, ic = integrations.c, integration_connectors.c
        conn.execute(
            sa.update(integrations)
            .where(
                i.organization_id == organization_id,
                i.id == integration_id,
                # Discovery never clears a parked or quarantined status (only
                # a refused credential overrides it).
                i.status.not_in(("needs_reauth", "disabled", QUARANTINED))
                if status != "needs_reauth"
                else sa.true(),
            )
            .values(status=status)
        )
        values = {
            f"last_sync_{k}" if k in ("started", "finished") else k: v for k, v in stamps.items()
        }
        if values:
            conn.execute(
                sa.update(integration_connectors)
                .where(ic.integration_id == integration_id)
                .values(**values)
            )

    def fail_run(
        self, organization_id: str, run: SyncRun, error: str, *, status: str = "sync_failed"
    ) -> SyncRun:
        now = _now()
        with self._begin() as conn:
            conn.execute(
                sa.update(sync_runs)
                .where(sync_runs.c.id == run.id)
                .values(status="failed", finished=now, error=error)
            )
            self._sync_mark(
                conn,
                organization_id,
                run.integration_id,
                status,
                finished=now,
                last_error=error,
                last_error_at=now,
            )
        return SyncRun(run.id, run.integration_id, run.kind, "failed", run.started, now, {}, error)

    def apply_discovery(
        self,
        organization_id: str,
        run: SyncRun,
        observations: Sequence[Observation],
        missing: Sequence[int],
        counts: Mapping[str, int],
        new_events: Sequence[NewEvent],
    ) -> SyncRun:
        c = service_accounts.c
        now = _now()
        with self._begin() as conn:
            for ob in observations:
                seen = {
                    "scim_user_resource_id": ob.remote_id,
                    "remote_status": ob.remote_status,
                    "remote_email": ob.remote_email,
                    "classification": ob.classification,
                    "last_seen": now,
                    "updated": now,
                }
                if ob.last_access_time is not None:  # a service that reports none keeps it
                    seen["last_access_time"] = ob.last_access_time
                if ob.link_id is not None:
                    if ob.newly_linked:
                        seen.update(
                            user_id=ob.user_id, link_status="linked", link_method="auto_matched"
                        )
                    conn.execute(
                        sa.update(service_accounts)
                        .where(c.organization_id == organization_id, c.id == ob.link_id)
                        .values(**seen)
                    )
                    continue
                conn.execute(
                    sa.insert(service_accounts).values(
                        organization_id=organization_id,
                        integration_id=run.integration_id,
                        user_id=ob.user_id,
                        account_id=ob.account_id,
                        link_status="linked" if ob.user_id else "unlinked",
                        link_method="auto_matched" if ob.user_id else None,
                        created=now,
                        first_seen=now,
                        **seen,
                    )
                )
            if missing:
                conn.execute(
                    sa.update(service_accounts)
                    .where(c.organization_id == organization_id, c.id.in_(list(missing)))
                    .values(remote_status="deleted", updated=now)
                )
            for event in new_events:
                insert_event(conn, organization_id, event)
            conn.execute(
                sa.update(sync_runs)
                .where(sync_runs.c.id == run.id)
                .values(status="succeeded", finished=now, counts=dict(counts))
            )
            self._sync_mark(
                conn,
                organization_id,
                run.integration_id,
                "synced",
                finished=now,
                last_successful_sync=now,
                account_count=counts.get("seen", 0),
            )
        return SyncRun(
            run.id, run.integration_id, run.kind, "succeeded", run.started, now, dict(counts)
        )


def link_from_row(row: RowMapping) -> Link:
    return Link(
        id=row["id"],
        user_id=row["user_id"],
        account_id=row["account_id"],
        remote_id=row["scim_user_resource_id"],
        remote_status=row["remote_status"],
        classification=row["classification"],
        link_method=row["link_method"],
        extras={
            key: row[key]
            for key in ("mail_proxy_active", "license_profile", "immutable_id")
            if key in row and row[key] is not None
        },
    )
