"""SQL storage of the credential vault and the OAuth flow, and key rotation.

:class:`SqlCredentialStore` keeps one ``credentials`` row per integration (deleting
the integration deletes it: foreign key cascade) and the integration's ``status``;
:class:`SqlFlowStore` keeps the single-use steps of OAuth flows. Neither ever sees a
key or a plaintext secret.

:func:`reencrypt_secrets` is what ``scimserver keys rotate`` runs: every stored
ciphertext (credentials, service passwords, the write-only ``password`` of SCIM
resources) is re-encrypted under the first key of the ring, in chunks, each row
locked while it is rewritten. Rows already under the first key are skipped, so a
rotation that was interrupted can simply be run again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from ...accounts.keyring import KeyRing, KeyRingError
from ...accounts.models import IntegrationStatus
from ...accounts.vault_store import (
    FlowPurpose,
    FlowRecord,
    NewCredential,
    Spent,
    StoredCredential,
)
from ...errors import NotFound
from .engine import transaction
from .resource_rows import fold
from .tables import credentials, integrations, oauth_flows, resources, service_accounts

#: Rows re-encrypted per transaction by :func:`reencrypt_secrets`.
ROTATION_CHUNK = 200


class _Transactions:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"

    def _begin(self, *, write: bool = True) -> AbstractContextManager[Connection]:
        """A transaction; on SQLite a writing one takes the write lock up front."""
        return transaction(self.engine, write=write)


def _stored(row: RowMapping) -> StoredCredential:
    return StoredCredential(
        integration_id=row["integration_id"],
        organization_id=row["organization_id"],
        kind=row["kind"],
        public_params=row["public_params"] or {},
        secret_ciphertext=row["secret_ciphertext"],
        key_id=row["key_id"],
        access_token_expires_at=row["access_token_expires_at"],
        created=row["created"],
        updated=row["updated"],
    )


class _SqlWriter:
    def __init__(
        self, conn: Connection, integration_id: int, organization_id: str, current: Any
    ) -> None:
        self.conn = conn
        self.integration_id = integration_id
        self._org = organization_id
        self._current: StoredCredential | None = current

    @property
    def organization_id(self) -> str:
        return self._org

    @property
    def current(self) -> StoredCredential | None:
        return self._current

    def save(self, new: NewCredential, now: datetime) -> StoredCredential:
        values = {
            "kind": new.kind,
            "public_params": dict(new.public_params),
            "secret_ciphertext": new.secret_ciphertext,
            "key_id": new.key_id,
            "access_token_expires_at": new.access_token_expires_at,
            "updated": now,
        }
        c = credentials.c
        if self._current is None:
            self.conn.execute(
                sa.insert(credentials).values(
                    organization_id=self._org,
                    integration_id=self.integration_id,
                    created=now,
                    **values,
                )
            )
        else:
            self.conn.execute(
                sa.update(credentials)
                .where(c.integration_id == self.integration_id)
                .values(**values)
            )
        row = self.conn.execute(
            sa.select(credentials).where(c.integration_id == self.integration_id)
        ).mappings()
        self._current = _stored(row.one())
        return self._current


class SqlCredentialStore(_Transactions):
    """:class:`~scimcore.accounts.vault_store.CredentialStore` on a :class:`SqlStore`'s engine."""

    def load(self, integration_id: int) -> StoredCredential | None:
        with self._begin(write=False) as conn:
            row = (
                conn.execute(
                    sa.select(credentials).where(credentials.c.integration_id == integration_id)
                )
                .mappings()
                .first()
            )
            return _stored(row) if row is not None else None

    @contextmanager
    def locked(self, integration_id: int) -> Iterator[_SqlWriter]:
        """The integration row and its credential row, locked for this transaction."""
        with self._begin() as conn:
            org = conn.execute(
                sa.select(integrations.c.organization_id)
                .where(integrations.c.id == integration_id)
                .with_for_update()
            ).scalar()
            if org is None:
                raise NotFound(f"integration {integration_id} does not exist")
            row = (
                conn.execute(
                    sa.select(credentials)
                    .where(credentials.c.integration_id == integration_id)
                    .with_for_update()
                )
                .mappings()
                .first()
            )
            yield _SqlWriter(conn, integration_id, org, _stored(row) if row else None)

    def delete(self, integration_id: int) -> bool:
        with self._begin() as conn:
            result = conn.execute(
                sa.delete(credentials).where(credentials.c.integration_id == integration_id)
            )
            return bool(result.rowcount)

    def set_status(
        self,
        integration_id: int,
        status: IntegrationStatus,
        *,
        only_from: tuple[IntegrationStatus, ...] | None = None,
    ) -> bool:
        i = integrations.c
        query = sa.update(integrations).where(i.id == integration_id)
        if only_from is not None:
            query = query.where(i.status.in_(only_from))
        with self._begin() as conn:
            return bool(conn.execute(query.values(status=status)).rowcount)

    def status(self, integration_id: int) -> IntegrationStatus | None:
        with self._begin(write=False) as conn:
            value: IntegrationStatus | None = conn.execute(
                sa.select(integrations.c.status).where(integrations.c.id == integration_id)
            ).scalar()
            return value


class SqlFlowStore(_Transactions):
    """:class:`~scimcore.accounts.vault_store.FlowStore`: single-use, expiring flow steps."""

    def organization_of(self, integration_id: int) -> str | None:
        with self._begin(write=False) as conn:
            org: str | None = conn.execute(
                sa.select(integrations.c.organization_id).where(integrations.c.id == integration_id)
            ).scalar()
            return org

    def add(self, id_hash: str, record: FlowRecord, now: datetime) -> None:
        with self._begin() as conn:
            conn.execute(
                sa.insert(oauth_flows).values(
                    id_hash=id_hash,
                    purpose=record.purpose,
                    organization_id=record.organization_id,
                    integration_id=record.integration_id,
                    code_verifier_ciphertext=record.code_verifier_ciphertext,
                    browser_hash=record.browser_hash,
                    redirect_uri=record.redirect_uri,
                    created=now,
                    expires_at=record.expires_at,
                )
            )

    def spend(
        self, id_hash: str, purpose: FlowPurpose, now: datetime
    ) -> tuple[Spent, FlowRecord | None]:
        f = oauth_flows.c
        with self._begin() as conn:
            # The conditional UPDATE is the single-use guarantee: of two concurrent
            # callbacks with the same state, exactly one changes the row.
            won = conn.execute(
                sa.update(oauth_flows)
                .where(f.id_hash == id_hash, f.purpose == purpose, f.used_at.is_(None))
                .values(used_at=now)
            ).rowcount
            row = (
                conn.execute(
                    sa.select(oauth_flows).where(f.id_hash == id_hash, f.purpose == purpose)
                )
                .mappings()
                .first()
            )
        if row is None:
            return "unknown", None
        record = FlowRecord(
            purpose=row["purpose"],
            organization_id=row["organization_id"],
            integration_id=row["integration_id"],
            expires_at=row["expires_at"],
            code_verifier_ciphertext=row["code_verifier_ciphertext"],
            browser_hash=row["browser_hash"],
            redirect_uri=row["redirect_uri"],
        )
        if not won:
            return "used", record
        return ("expired" if record.expires_at <= now else "ok"), record

    def purge(self, before: datetime) -> int:
        with self._begin() as conn:
            return int(
                conn.execute(
                    sa.delete(oauth_flows).where(oauth_flows.c.expires_at < before)
                ).rowcount
            )


@dataclass
class RotationReport:
    """What :func:`reencrypt_secrets` did, per kind of secret. ``failed`` names rows
    (never values) that none of the ring's keys could decrypt; they were left as is."""

    rotated: dict[str, int] = field(
        default_factory=lambda: {"credentials": 0, "service_passwords": 0, "resource_passwords": 0}
    )
    failed: list[str] = field(default_factory=list)


def reencrypt_secrets(engine: Engine, keyring: KeyRing) -> RotationReport:
    """Re-encrypt every stored secret under the first key of ``keyring``."""
    report = RotationReport()
    tx = _Transactions(engine)
    _rotate_credentials(tx, keyring, report)
    _rotate_column(
        tx,
        keyring,
        report,
        "service_passwords",
        service_accounts,
        service_accounts.c.service_password_ciphertext,
    )
    _rotate_resource_passwords(tx, keyring, report)
    return report


def _rotate_credentials(tx: _Transactions, keyring: KeyRing, report: RotationReport) -> None:
    c = credentials.c
    last = -1
    while True:
        with tx._begin() as conn:
            rows = conn.execute(
                sa.select(c.id, c.secret_ciphertext, c.key_id)
                .where(c.id > last, c.key_id != keyring.primary_key_id)
                .order_by(c.id)
                .limit(ROTATION_CHUNK)
                .with_for_update()
            ).all()
            for row_id, ciphertext, _ in rows:
                last = row_id
                try:
                    rotated = keyring.rotate(ciphertext)
                except KeyRingError:
                    report.failed.append(f"credentials id {row_id}")
                    continue
                conn.execute(
                    sa.update(credentials)
                    .where(c.id == row_id)
                    .values(secret_ciphertext=rotated, key_id=keyring.primary_key_id)
                )
                report.rotated["credentials"] += 1
        if len(rows) < ROTATION_CHUNK:
            return


def _rotate_column(
    tx: _Transactions,
    keyring: KeyRing,
    report: RotationReport,
    label: str,
    table: sa.Table,
    column: sa.Column[Any],
) -> None:
    """Fernet tokens in a plain text column (no key id stored: every row is rewritten)."""
    pk = table.c.id
    last = -1
    while True:
        with tx._begin() as conn:
            rows = conn.execute(
                sa.select(pk, column)
                .where(pk > last, column.is_not(None))
                .order_by(pk)
                .limit(ROTATION_CHUNK)
                .with_for_update()
            ).all()
            for row_id, ciphertext in rows:
                last = row_id
                try:
                    rotated = keyring.rotate(ciphertext)
                except KeyRingError:
                    report.failed.append(f"{table.name} id {row_id}")
                    continue
                conn.execute(sa.update(table).where(pk == row_id).values({column.name: rotated}))
                report.rotated[label] += 1
        if len(rows) < ROTATION_CHUNK:
            return


def _rotate_resource_passwords(tx: _Transactions, keyring: KeyRing, report: RotationReport) -> None:
    """The write-only ``password`` kept (encrypted) in a SCIM resource's document.

    Only ``data.password`` and its lowered copy in ``folded`` change; the resource's
    version and ``meta`` stay, since nothing a client can read has changed.
    """
    r = resources.c
    has_password = r.data["password"].as_string().is_not(None)
    last: tuple[str, str] = ("", "")
    while True:
        with tx._begin() as conn:
            rows = conn.execute(
                sa.select(r.organization_id, r.id, r.data, r.folded)
                .where(has_password, sa.tuple_(r.organization_id, r.id) > sa.tuple_(*last))
                .order_by(r.organization_id, r.id)
                .limit(ROTATION_CHUNK)
                .with_for_update()
            ).all()
            for org, rid, data, folded in rows:
                last = (org, rid)
                rotated = _rotated_document(keyring, data)
                if rotated is None:
                    report.failed.append(f"resources id {rid} (organization {org})")
                    continue
                new_folded = dict(folded or {})
                new_folded["password"] = fold(rotated["password"])
                conn.execute(
                    sa.update(resources)
                    .where(r.organization_id == org, r.id == rid)
                    .values(data=rotated, folded=new_folded)
                )
                report.rotated["resource_passwords"] += 1
        if len(rows) < ROTATION_CHUNK:
            return


def _rotated_document(keyring: KeyRing, data: Mapping[str, Any]) -> dict[str, Any] | None:
    value = data.get("password")
    if not isinstance(value, str):
        return None
    try:
        return {**data, "password": keyring.rotate(value)}
    except KeyRingError:
        return None


__all__ = ["RotationReport", "SqlCredentialStore", "SqlFlowStore", "reencrypt_secrets"]
