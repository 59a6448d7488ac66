"""What the console's integration pages read: each integration's connector state, its
last discovery run, and its accounts (counted per classification, keyset-paged)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ...provisioning.store import SyncRun
from .engine import transaction
from .tables import integration_connectors, resources, service_accounts, sync_runs


@dataclass(frozen=True)
class ConnectorState:
    """An integration's connector and what its last runs left."""

    connector: str
    last_sync_started: datetime | None
    last_sync_finished: datetime | None
    last_successful_sync: datetime | None
    last_error: str | None
    account_count: int | None


@dataclass(frozen=True)
class AccountRow:
    """One account of an integration as its page lists it, with its user."""

    id: int
    user_id: str | None
    account_id: str
    link_status: str
    link_method: str | None
    classification: str | None
    remote_status: str | None
    remote_email: str | None
    last_seen: datetime | None
    last_access_time: datetime | None
    user_name: str | None
    user_active: bool | None


def _owner_join() -> Any:
    c, r = service_accounts.c, resources.c
    return service_accounts.outerjoin(
        resources, sa.and_(r.organization_id == c.organization_id, r.id == c.user_id)
    )


def unobserved_classification() -> Any:
    """The classification of an account discovery has not seen (linked by a CSV file,
    by hand, or on a service without an API), by the rule discovery applies: nobody's
    is ``unknown``, a deactivated person's ``retired`` (nothing says the account is
    not active), anyone else's ``managed``. Computed when read, so deactivating the
    person shows at once, with no sync to wait for. Needs :func:`_owner_join`."""
    c, r = service_accounts.c, resources.c
    return sa.case(
        (c.user_id.is_(None), "unknown"),
        (r.active.is_(False), "retired"),
        else_="managed",
    )


def effective_classification() -> Any:
    """An account's classification: discovery's, else :func:`unobserved_classification`.
    Needs :func:`_owner_join` (or the same outer join to the owner)."""
    return sa.func.coalesce(service_accounts.c.classification, unobserved_classification())


def effectively_active() -> Any:
    """Whether the account is active at the service as far as we know: what discovery
    saw, or, never seen, active (nothing says otherwise)."""
    return sa.func.coalesce(service_accounts.c.remote_status, "active") == "active"


def account_counts_query(organization_id: str, integration_id: int) -> sa.Select[Any]:
    """Accounts per classification: those discovery classified read from
    ``ix_service_accounts_classification`` alone, the others (:func:`unobserved_classification`)
    joined to their owners."""
    c = service_accounts.c
    mine = (c.organization_id == organization_id, c.integration_id == integration_id)
    observed = (
        sa.select(c.classification.label("classification"), sa.func.count().label("n"))
        .where(*mine, c.classification.is_not(None))
        .group_by(c.classification)
    )
    derived = unobserved_classification()
    unobserved = (
        sa.select(derived.label("classification"), sa.func.count().label("n"))
        .select_from(_owner_join())
        .where(*mine, c.classification.is_(None))
        .group_by(derived)
    )
    both = sa.union_all(observed, unobserved).subquery("counts")
    return sa.select(both.c.classification, sa.func.sum(both.c.n)).group_by(both.c.classification)


def account_page_query(
    organization_id: str,
    integration_id: int,
    *,
    classification: str = "all",
    link: str = "all",
    after: int = 0,
    limit: int = 201,
) -> sa.Select[Any]:
    """One page of accounts after the row id ``after``, in id order (keyset paging).

    The page's ids come from an index range scan that stops after ``limit`` entries
    (``ix_service_accounts_classification`` when filtered by classification, else
    ``ix_service_accounts_integration_id``; both carry ``link_status``); only those
    rows are read and joined to their users, so a page costs the same on an
    integration with 100,000 accounts as on one with 300.
    """
    c, r = service_accounts.c, resources.c
    where = [c.organization_id == organization_id, c.integration_id == integration_id]
    if link != "all":
        where.append(c.link_status == link)
    if after:
        where.append(c.id > after)
    page_ids: Any
    if classification == "all":
        page_ids = sa.select(c.id).where(*where).order_by(c.id).limit(limit).subquery("page")
    else:
        # Two range scans, each stopped at ``limit``: the accounts discovery classified
        # so, and those it never saw that the rule classifies so.
        observed = (
            sa.select(c.id)
            .where(*where, c.classification == classification)
            .order_by(c.id)
            .limit(limit)
        )
        unobserved = (
            sa.select(c.id)
            .select_from(_owner_join())
            .where(
                *where,
                c.classification.is_(None),
                unobserved_classification() == classification,
            )
            .order_by(c.id)
            .limit(limit)
        )
        ids = sa.union_all(
            sa.select(observed.subquery().c.id), sa.select(unobserved.subquery().c.id)
        ).subquery("ids")
        page_ids = sa.select(ids.c.id).order_by(ids.c.id).limit(limit).subquery("page")
    return (
        sa.select(
            c.id,
            c.user_id,
            c.account_id,
            c.link_status,
            c.link_method,
            sa.func.coalesce(c.classification, unobserved_classification()).label("classification"),
            c.remote_status,
            c.remote_email,
            c.last_seen,
            c.last_access_time,
            r.name.label("user_name"),
            r.active.label("user_active"),
        )
        .select_from(page_ids)
        .join(service_accounts, c.id == page_ids.c.id)
        .outerjoin(resources, sa.and_(r.organization_id == c.organization_id, r.id == c.user_id))
        .order_by(c.id)
    )


class SqlIntegrationViews:
    """The reads of the console's integration pages, over the SQL store's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def connector_states(self, organization_id: str) -> dict[int, ConnectorState]:
        ic = integration_connectors.c
        with transaction(self.engine, write=False) as conn:
            rows = conn.execute(
                sa.select(
                    ic.integration_id,
                    ic.connector,
                    ic.last_sync_started,
                    ic.last_sync_finished,
                    ic.last_successful_sync,
                    ic.last_error,
                    ic.account_count,
                ).where(ic.organization_id == organization_id)
            ).all()
        return {
            int(r.integration_id): ConnectorState(
                r.connector,
                r.last_sync_started,
                r.last_sync_finished,
                r.last_successful_sync,
                r.last_error,
                r.account_count,
            )
            for r in rows
        }

    def account_totals(self, organization_id: str) -> dict[int, int]:
        """Accounts per integration, however they were linked (discovery, a CSV file,
        the console): what the integrations list counts."""
        c = service_accounts.c
        with transaction(self.engine, write=False) as conn:
            rows = conn.execute(
                sa.select(c.integration_id, sa.func.count())
                .where(c.organization_id == organization_id)
                .group_by(c.integration_id)
            ).all()
        return {int(i): int(n) for i, n in rows}

    def last_run(self, organization_id: str, integration_id: int) -> SyncRun | None:
        s = sync_runs.c
        with transaction(self.engine, write=False) as conn:
            row = conn.execute(
                sa.select(sync_runs)
                .where(s.organization_id == organization_id, s.integration_id == integration_id)
                .order_by(s.id.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        return SyncRun(
            row.id,
            row.integration_id,
            row.kind,
            row.status,
            row.started,
            row.finished,
            dict(row.counts or {}),
            row.error,
        )

    def accounts(
        self,
        organization_id: str,
        integration_id: int,
        *,
        classification: str = "all",
        link: str = "all",
        after: int = 0,
        limit: int = 201,
    ) -> tuple[list[AccountRow], dict[str, int]]:
        """Up to ``limit`` accounts after ``after`` and the counts per classification."""
        with transaction(self.engine, write=False) as conn:
            counts = {
                str(k): int(n)
                for k, n in conn.execute(account_counts_query(organization_id, integration_id))
            }
            rows = conn.execute(
                account_page_query(
                    organization_id,
                    integration_id,
                    classification=classification,
                    link=link,
                    after=after,
                    limit=limit,
                )
            ).all()
        return [AccountRow(**row._mapping) for row in rows], counts
