"""The service-account CSV rules (tests/csv_rules.py) through the console's upload:
preview, Start, the job's result CSV and the console's export, on both databases."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from scimcore.storage.sql.tables import events

from .. import csv_rules
from .admin_support import (
    Tenant,
    create_service,
    create_user,
    result_rows,
    start_import,
    upload_csv,
)


def _account_events(app: Any, tenant: Tenant) -> int:
    engine = app.extensions["scimserver_admin"].store.engine
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(events)
                .where(
                    events.c.organization_id == tenant.id,
                    events.c.resource_type == "ServiceAccount",
                )
            ).scalar_one()
        )


def _import(client: Any, tenant: Tenant, data: bytes) -> list[dict[str, str]]:
    preview = upload_csv(client, tenant, data, "service-accounts")
    assert preview.status_code == 200, preview.get_data(as_text=True)
    html = preview.get_data(as_text=True)
    if "Nothing to start" in html:  # every row fails or changes nothing: read the preview
        return _preview_rows(html)
    return result_rows(client, start_import(client, html).get_data(as_text=True))


def _preview_rows(html: str) -> list[dict[str, str]]:
    """The preview's table of rows with problems (row, result, code, message)."""
    import re
    from html import unescape

    found = re.findall(
        r'<tr class="row-(\w+)"><td>(\d+)</td><td>\w+</td><td>([^<]*)</td><td>([^<]*)</td></tr>',
        html,
    )
    return [
        {"result": result, "errorCode": code, "message": unescape(message)}
        for result, _, code, message in found
    ]


@pytest.mark.parametrize("case", csv_rules.CASES, ids=lambda case: case.id)
def test_service_account_rule_through_the_console(
    client: Any, console_app: Any, tenant: Tenant, case: csv_rules.Case
) -> None:
    scim = console_app.test_client()
    for user in csv_rules.USERS:
        create_user(scim, tenant, user)
    for name, kind, profiles in csv_rules.SERVICES:
        create_service(console_app, tenant, name, kind, *profiles)
    if case.setup:
        setup = _import(client, tenant, csv_rules.csv_bytes(case.setup))
        assert all(r["result"] == "created" for r in setup), setup
    export = f"/admin/o/{tenant.slug}/csv/export?kind=service-accounts"
    immutable = csv_rules.immutable_id(client.get(export).get_data(as_text=True))
    before = _account_events(console_app, tenant)
    results = _import(client, tenant, csv_rules.csv_bytes(case.rows, immutable))
    exported = client.get(export).get_data(as_text=True)
    after = _account_events(console_app, tenant)
    csv_rules.check(case, results, exported, after - before, immutable)
