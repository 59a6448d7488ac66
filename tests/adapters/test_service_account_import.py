"""Service-account CSV import: per-row rules (docs/csv.md), isolation, atomic, dry run."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from scimcore.accounts import AccountStore, AccountValues
from scimcore.adapters.csv import ImportOptions, ServiceAccountImporter
from scimcore.errors import Uniqueness

from .conftest import Org, sample

HEADER = (
    "operation,serviceDisplayName,userId,accountId,lastAccessTime,mailProxyActive,"
    "licenseProfile,immutableId,scimUserResourceId,servicePassword\r\n"
)


def csv(*rows: str) -> bytes:
    return (HEADER + "".join(r + "\r\n" for r in rows)).encode()


def outcomes(report: object) -> list[tuple[str, str]]:
    return [(r.outcome, r.error_code) for r in report.results]  # type: ignore[attr-defined]


def test_sample_file_links_every_account_and_exports_it_back(org: Org) -> None:
    report = org.import_accounts(sample("service-accounts.csv"))
    assert report.counts == {
        "created": 6,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
        "skipped": 0,
        "failed": 0,
    }
    exported = org.export_accounts()
    lines = sample("service-accounts.csv").decode().split("\r\n")
    expected = [re.sub(r'^"CREATE"', '""', line) for line in lines]
    expected[5] = expected[5].replace('"p@ss,word ""quoted"" 1"', '""')
    got = exported.split("\r\n")
    immutable = re.search(r'"E3 標準","([^"]+)"', got[3])
    assert immutable and len(immutable.group(1)) == 24
    expected[3] = expected[3].replace('"E3 標準",""', f'"E3 標準","{immutable.group(1)}"')
    assert got == expected


def test_update_sample_applies_looser_forms_and_skips_blank_operation(org: Org) -> None:
    org.import_accounts(sample("service-accounts.csv"))
    report = org.import_accounts(sample("service-accounts-update.csv"))
    assert outcomes(report) == [("updated", ""), ("skipped", ""), ("deleted", "")]
    rows = org.export_accounts().split("\r\n")
    assert '"","Google Workspace","test@example.com","test@example.com","","FALSE"' in rows[1]
    assert '"hanako.yamada@example.com","hanako.yamada@example.com","","FALSE"' in rows[2]
    assert not any("cybozu.com" in row for row in rows)


def test_service_password_is_stored_encrypted_and_never_exported(org: Org) -> None:
    org.import_accounts(sample("service-accounts.csv"))
    stored = next(a for a in org.stored_accounts() if a["account_id"] == "test01")
    ciphertext = str(stored["service_password_ciphertext"])
    assert "p@ss" not in ciphertext
    assert org.keyring.decrypt(ciphertext) == 'p@ss,word "quoted" 1'
    assert "p@ss" not in org.export_accounts()


def test_form_based_password_without_a_key_fails_the_row_and_stores_nothing(org: Org) -> None:
    report = org.import_accounts(sample("service-accounts.csv"), keyring=None)
    assert outcomes(report)[4] == ("failed", "NO_ENCRYPTION_KEY")
    assert "SCIMSERVER_SECRET_KEYS" in report.results[4].message
    assert report.counts["created"] == 5
    assert not [a for a in org.stored_accounts() if a["account_id"] == "test01"]


@pytest.mark.parametrize(
    ("row", "code", "column"),
    [
        ("MERGE,Google Workspace,test@example.com,t,,,,,,", "INVALID_OPERATION", "operation"),
        ("CREATE,Google Workspace,nobody@example.com,t,,,,,,", "UNKNOWN_USER", "userId"),
        (
            "CREATE,google workspace,test@example.com,t,,,,,,",
            "UNKNOWN_SERVICE",
            "serviceDisplayName",
        ),
        ("CREATE,Google Workspace,test@example.com,,,,,,,", "MISSING_VALUE", "accountId"),
        ("CREATE,Google Workspace,test@example.com,t,,yes,,,,", "INVALID_VALUE", "mailProxyActive"),
        ("CREATE,cybozu.com,test@example.com,t,,TRUE,,,,", "NOT_APPLICABLE", "mailProxyActive"),
        (
            "CREATE,cybozu.com,test@example.com,t,,,E3 標準,,,",
            "UNKNOWN_LICENSE_PROFILE",
            "licenseProfile",
        ),
        ("CREATE,Microsoft 365,test@example.com,t,,,E5,abc,,", "INVALID_VALUE", "immutableId"),
        ("CREATE,社内ポータル,test@example.com,t,,,,,,", "MISSING_VALUE", "servicePassword"),
        ("CREATE,社内ポータル,test@example.com,t,,,,,," + "x" * 101, "TOO_LONG", "servicePassword"),
        (
            "CREATE,Google Workspace,test@example.com,t,,,,,,secret",
            "NOT_APPLICABLE",
            "servicePassword",
        ),
        ("CREATE,Google Workspace,test@example.com,t", "BAD_ROW", None),
    ],
)
def test_a_bad_row_fails_alone_with_its_column_and_the_fix(
    org: Org, row: str, code: str, column: str | None
) -> None:
    good = "CREATE,Google Workspace,hanako.yamada@example.com,hanako,,TRUE,,,,"
    report = org.import_accounts(
        csv(good, row, "CREATE,Slack,hanako.yamada@example.com,hanako,,,,,,")
    )
    assert outcomes(report) == [("created", ""), ("failed", code), ("created", "")]
    if column:
        assert report.results[1].message.startswith(f"{column}: ")
    assert [a["account_id"] for a in org.stored_accounts()] == ["hanako", "hanako"]


def test_password_of_exactly_100_characters_is_accepted(org: Org) -> None:
    report = org.import_accounts(csv("CREATE,社内ポータル,test@example.com,t,,,,,," + "x" * 100))
    assert outcomes(report) == [("created", "")]


def test_account_id_cannot_change_once_linked(org: Org) -> None:
    org.import_accounts(csv("CREATE,Google Workspace,test@example.com,old,,TRUE,,,,"))
    report = org.import_accounts(csv("UPDATE,Google Workspace,test@example.com,new,,FALSE,,,,"))
    assert outcomes(report) == [("failed", "IMMUTABLE")]
    assert "DELETE the link and CREATE" in report.results[0].message
    assert [(a["account_id"], a["mail_proxy_active"]) for a in org.stored_accounts()] == [
        ("old", True)
    ]


def test_account_id_linked_to_another_user_is_refused(org: Org) -> None:
    org.import_accounts(csv("CREATE,Google Workspace,test@example.com,shared,,,,,,"))
    report = org.import_accounts(
        csv("CREATE,Google Workspace,hanako.yamada@example.com,shared,,,,,,")
    )
    assert outcomes(report) == [("failed", "ALREADY_LINKED")]
    assert report.results[0].message.startswith("accountId: ")


def test_a_user_has_at_most_one_account_per_service(org: Org) -> None:
    report = org.import_accounts(
        csv(
            "CREATE,Google Workspace,test@example.com,one,,,,,,",
            "CREATE,Google Workspace,test@example.com,two,,,,,,",
        )
    )
    assert outcomes(report) == [("created", ""), ("failed", "ALREADY_LINKED")]


def test_rows_on_the_same_key_apply_in_file_order(org: Org) -> None:
    report = org.import_accounts(
        csv(
            "CREATE,Google Workspace,test@example.com,old,,TRUE,,,,",
            "UPDATE,Google Workspace,test@example.com,old,,FALSE,,,,",
            "DELETE,Google Workspace,test@example.com,old,,,,,,",
            "CREATE,Google Workspace,test@example.com,new,,,,,,",
            "CREATE,Google Workspace,hanako.yamada@example.com,old,,,,,,",
        )
    )
    assert [r.outcome for r in report.results] == [
        "created",
        "updated",
        "deleted",
        "created",
        "created",
    ]
    assert [a["account_id"] for a in org.stored_accounts()] == ["new", "old"]


@pytest.mark.parametrize("batch_size", [1, 2, 500])
def test_results_do_not_depend_on_the_batch_size(org: Org, batch_size: int) -> None:
    report = org.import_accounts(sample("service-accounts.csv"), batch_size=batch_size)
    assert report.counts["created"] == 6
    report = org.import_accounts(sample("service-accounts-update.csv"), batch_size=batch_size)
    assert outcomes(report) == [("updated", ""), ("skipped", ""), ("deleted", "")]


def test_empty_cell_on_update_leaves_the_value_unchanged(org: Org) -> None:
    org.import_accounts(csv("CREATE,Microsoft 365,test@example.com,t,,,E5,,,"))
    immutable = org.stored_accounts()[0]["immutable_id"]
    report = org.import_accounts(csv(f"UPDATE,Microsoft 365,test@example.com,t,,,,{immutable},,"))
    assert outcomes(report) == [("unchanged", "")]
    stored = org.stored_accounts()[0]
    assert (stored["license_profile"], stored["immutable_id"]) == ("E5", immutable)


def test_license_profile_can_be_updated_but_immutable_id_cannot(org: Org) -> None:
    org.import_accounts(csv("CREATE,Microsoft 365,test@example.com,t,,,E5,,,"))
    immutable = str(org.stored_accounts()[0]["immutable_id"])
    report = org.import_accounts(
        csv(
            f"UPDATE,Microsoft 365,test@example.com,t,,,E3 標準,{immutable},,",
            "UPDATE,Microsoft 365,test@example.com,t,,,E5,changed,,",
        )
    )
    assert outcomes(report) == [("updated", ""), ("failed", "IMMUTABLE")]
    assert org.stored_accounts()[0]["license_profile"] == "E3 標準"


def test_manual_mode_takes_the_scim_resource_id_and_then_keeps_it(org: Org) -> None:
    report = org.import_accounts(
        csv(
            "CREATE,Legacy SCIM,test@example.com,t,,,,,remote-1,",
            "UPDATE,Legacy SCIM,test@example.com,t,,,,,remote-1,",
            "UPDATE,Legacy SCIM,test@example.com,t,,,,,remote-2,",
        )
    )
    assert outcomes(report) == [("created", ""), ("unchanged", ""), ("failed", "IMMUTABLE")]
    assert org.stored_accounts()[0]["scim_user_resource_id"] == "remote-1"


def test_update_or_delete_of_an_unlinked_user_fails(org: Org) -> None:
    report = org.import_accounts(
        csv(
            "UPDATE,Google Workspace,test@example.com,t,,TRUE,,,,",
            "DELETE,Google Workspace,test@example.com,t,,,,,,",
        )
    )
    assert outcomes(report) == [("failed", "NOT_LINKED"), ("failed", "NOT_LINKED")]


def test_last_access_time_is_ignored_on_import(org: Org) -> None:
    report = org.import_accounts(
        csv("CREATE,Google Workspace,test@example.com,t,2026-01-01T00:00:00Z,,,,,")
    )
    assert outcomes(report) == [("created", "")]
    assert org.stored_accounts()[0]["last_access_time"] is None


def test_atomic_rolls_back_every_row_when_one_fails(org: Org) -> None:
    report = org.import_accounts(
        csv(
            "CREATE,Google Workspace,test@example.com,t,,,,,,",
            "CREATE,Google Workspace,nobody@example.com,n,,,,,,",
        ),
        atomic=True,
    )
    assert report.rolled_back
    assert outcomes(report) == [("skipped", "ROLLED_BACK"), ("failed", "UNKNOWN_USER")]
    assert org.stored_accounts() == []


def test_atomic_without_errors_applies_everything(org: Org) -> None:
    report = org.import_accounts(sample("service-accounts.csv"), atomic=True)
    assert not report.rolled_back
    assert len(org.stored_accounts()) == 6


def test_dry_run_reports_what_would_happen_and_writes_nothing(org: Org) -> None:
    report = org.import_accounts(
        csv(
            "CREATE,Google Workspace,test@example.com,t,,,,,,",
            "UPDATE,Google Workspace,test@example.com,t,,TRUE,,,,",
            "CREATE,Google Workspace,nobody@example.com,n,,,,,,",
        ),
        dry_run=True,
    )
    assert outcomes(report) == [("created", ""), ("updated", ""), ("failed", "UNKNOWN_USER")]
    assert report.summary().startswith("dry run, nothing was written")
    assert org.stored_accounts() == []


def test_deleting_a_user_through_the_store_removes_its_links(org: Org) -> None:
    org.import_accounts(sample("service-accounts.csv"))
    uid = org.user_ids()["hanako.yamada@example.com"]
    with org.store.session(org.id) as session:
        session.delete("User", uid)
    assert {a["user_id"] for a in org.stored_accounts()} == {org.user_ids()["test@example.com"]}


def test_result_csv_has_the_original_columns_without_secrets(org: Org) -> None:
    import io

    report = org.import_accounts(
        csv(
            "CREATE,社内ポータル,test@example.com,t,,,,,,hunter2",
            "CREATE,Google Workspace,nobody@example.com,n,,,,,,",
        )
    )
    out = io.BytesIO()
    report.write_result_csv(out, __import__("scimcore.adapters.csv").adapters.csv.SERVICE_ACCOUNTS)
    text = out.getvalue().decode()
    assert "hunter2" not in text and "servicePassword" not in text
    lines = text.split("\r\n")
    assert lines[0].endswith('"scimUserResourceId","result","errorCode","message"')
    assert lines[1].endswith('"created","",""')
    assert '"failed","UNKNOWN_USER","userId: no user with userName' in lines[2]


class _RacingStore:
    """Refuses the first multi-row write as a concurrent writer would (a unique violation)."""

    def __init__(self, inner: AccountStore) -> None:
        self.inner = inner
        self.refused = False

    def accounts(self, organization_id: str, *, readonly: bool = False):  # type: ignore[no-untyped-def]
        store = self

        class _Session:
            def __init__(self, inner: object) -> None:
                self._inner = inner

            def __getattr__(self, name: str) -> object:
                return getattr(self._inner, name)

            def apply(
                self,
                deletes: Sequence[int] = (),
                updates: Sequence[tuple[int, AccountValues]] = (),
                inserts: Sequence[AccountValues] = (),
                *,
                source: str = "csv",
            ) -> None:
                if len(inserts) > 1 and not store.refused:
                    store.refused = True
                    raise Uniqueness("That accountId is already linked in this service.")
                self._inner.apply(deletes, updates, inserts, source=source)  # type: ignore[attr-defined]

        from contextlib import contextmanager

        @contextmanager
        def session():  # type: ignore[no-untyped-def]
            with self.inner.accounts(organization_id, readonly=readonly) as inner:
                yield _Session(inner)

        return session()


def test_a_batch_the_database_refuses_is_replayed_row_by_row(org: Org) -> None:
    racing = _RacingStore(org.accounts)
    importer = ServiceAccountImporter(
        racing,  # type: ignore[arg-type]
        org.id,
        keyring=org.keyring,
        options=ImportOptions(),
    )
    report = importer.run(sample("service-accounts.csv"))
    assert racing.refused
    assert report.counts["created"] == 6
    assert len(org.stored_accounts()) == 6


def test_formula_guard_round_trips_through_import(org: Org) -> None:
    org.import_accounts(csv('CREATE,Google Workspace,test@example.com,"=HYPERLINK(1)",,,,,,'))
    guarded = org.export_accounts()
    assert '"\'=HYPERLINK(1)"' in guarded
    assert '"=HYPERLINK(1)"' in org.export_accounts(formula_guard=False)
    update = guarded.replace('""', "UPDATE", 1).split("\r\n")
    report = org.import_accounts("\r\n".join(update[:2]).encode())
    assert outcomes(report) == [("unchanged", "")]  # the guard is removed, the value matches


def test_a_create_only_batch_that_meets_stored_accounts_fails_only_those_rows(org: Org) -> None:
    # CREATE-only batches are written without looking up stored accounts first; the
    # unique indexes refuse the batch and it is planned again against them.
    org.import_accounts(csv("CREATE,Google Workspace,test@example.com,taken,,,,,,"))
    report = org.import_accounts(
        csv(
            "CREATE,Slack,test@example.com,t-slack,,,,,,",
            "CREATE,Google Workspace,test@example.com,second,,,,,,",
            "CREATE,Google Workspace,hanako.yamada@example.com,taken,,,,,,",
            "CREATE,Google Workspace,other@example.com,other,,TRUE,,,,",
        )
    )
    assert outcomes(report) == [
        ("created", ""),
        ("failed", "ALREADY_LINKED"),
        ("failed", "ALREADY_LINKED"),
        ("created", ""),
    ]
    assert report.results[1].message.startswith("userId: ")
    assert "already has account 'taken'" in report.results[1].message
    assert report.results[2].message.startswith("accountId: ")
    assert sorted(a["account_id"] for a in org.stored_accounts()) == ["other", "t-slack", "taken"]


def _account_events(org: Org) -> list[tuple[str, str]]:
    import sqlalchemy as sa

    from scimcore.storage.sql.tables import events

    e = events.c
    with org.store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(e.type, e.resource_id)
            .where(e.organization_id == org.id, e.resource_type == "ServiceAccount")
            .order_by(e.id)
        ).all()
    return [(r[0], r[1].split(":", 1)[1]) for r in rows]


def test_each_net_change_of_a_batch_is_one_event_and_refused_writes_leave_none(org: Org) -> None:
    org.import_accounts(csv("CREATE,Google Workspace,test@example.com,taken,,,,,,"))
    org.import_accounts(
        csv(
            "CREATE,Google Workspace,hanako.yamada@example.com,h,,,,,,",
            "CREATE,Google Workspace,other@example.com,taken,,,,,,",  # refused
            "UPDATE,Google Workspace,test@example.com,taken,,TRUE,,,,",
            "DELETE,Google Workspace,hanako.yamada@example.com,h,,,,,,",
            "CREATE,Slack,other@example.com,o,,,,,,",
        )
    )
    assert _account_events(org) == [
        ("account.linked", "taken"),
        ("account.updated", "taken"),
        ("account.linked", "o"),
    ]


def test_account_events_carry_the_payload_connectors_read(org: Org) -> None:
    import sqlalchemy as sa

    from scimcore.storage.sql.tables import events, integrations

    org.import_accounts(csv("CREATE,Legacy SCIM,test@example.com,日本語-1,,,,,,"))
    org.import_accounts(csv("UPDATE,Legacy SCIM,test@example.com,日本語-1,,,,,r-1,"))
    org.import_accounts(csv("DELETE,Legacy SCIM,test@example.com,日本語-1,,,,,,"))
    e = events.c
    with org.store.engine.connect() as conn:
        integration = conn.execute(
            sa.select(integrations.c.id).where(
                integrations.c.organization_id == org.id,
                integrations.c.display_name == "Legacy SCIM",
            )
        ).scalar_one()
        rows = conn.execute(
            sa.select(e.type, e.resource_id, e.data, e.source, e.planned)
            .where(e.organization_id == org.id, e.resource_type == "ServiceAccount")
            .order_by(e.id)
        ).all()
    account = {"integration_id": integration, "account_id": "日本語-1", "remote_id": "r-1"}
    data = {**account, "user_id": org.user_ids()["test@example.com"], "method": "csv"}
    resource_id = f"{integration}:日本語-1"
    assert [tuple(row) for row in rows] == [
        ("account.linked", resource_id, {**data, "remote_id": None}, "csv", False),
        ("account.updated", resource_id, data, "csv", False),
        ("account.unlinked", resource_id, {**data, "links": [account]}, "csv", False),
    ]


def test_lookups_split_into_chunks_give_the_same_results(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scimcore.storage.sql import accounts

    monkeypatch.setattr(accounts, "LOOKUP_CHUNK", 1)
    org.import_accounts(sample("service-accounts.csv"))
    report = org.import_accounts(sample("service-accounts-update.csv"))
    assert outcomes(report) == [("updated", ""), ("skipped", ""), ("deleted", "")]
    report = org.import_accounts(sample("service-accounts.csv"))  # the deleted one again
    assert report.counts["created"] == 1 and report.counts["failed"] == 5
    assert {r.error_code for r in report.failed} == {"ALREADY_LINKED"}


def test_an_account_id_of_the_longest_allowed_length_is_linked_with_its_event(org: Org) -> None:
    """accountId may have 256 characters; its event names it as integration:accountId."""
    long_id = "a" * 256
    report = org.import_accounts(csv(f"CREATE,Google Workspace,test@example.com,{long_id},,,,,,"))
    assert outcomes(report) == [("created", "")]
    assert long_id in org.export_accounts()
    assert _account_events(org) == [("account.linked", long_id)]


@pytest.mark.parametrize("op", ["UPDATE", "DELETE"])
def test_microsoft_365_update_and_delete_need_the_stored_immutable_id(org: Org, op: str) -> None:
    org.import_accounts(csv("CREATE,Microsoft 365,test@example.com,t,,,E5,,,"))
    immutable = str(org.stored_accounts()[0]["immutable_id"])
    report = org.import_accounts(
        csv(
            f"{op},Microsoft 365,test@example.com,t,,,E3 標準,,,",
            f"{op},Microsoft 365,test@example.com,t,,,E3 標準,wrong-{immutable},,",
        )
    )
    assert outcomes(report) == [("failed", "MISSING_VALUE"), ("failed", "IMMUTABLE")]
    assert all(r.message.startswith("immutableId: ") for r in report.results)
    assert immutable in report.results[0].message  # the fix: the value to give
    assert [a["license_profile"] for a in org.stored_accounts()] == ["E5"]  # still linked
    done = org.import_accounts(
        csv(f"{op},Microsoft 365,test@example.com,t,,,E3 標準,{immutable},,")
    )
    assert outcomes(done) == [("updated" if op == "UPDATE" else "deleted", "")]


def test_scim_resource_id_is_ignored_when_the_service_links_automatically(org: Org) -> None:
    # An export of an automatically linked account carries the remote id: the row
    # imports as it is, and the id is the service's to set.
    report = org.import_accounts(
        csv(
            "CREATE,Slack,test@example.com,t,,,,,remote-1,",
            "UPDATE,Slack,test@example.com,t,,,,,remote-2,",
        )
    )
    assert outcomes(report) == [("created", ""), ("unchanged", "")]
    assert org.stored_accounts()[0]["scim_user_resource_id"] is None


def test_a_delete_with_another_account_id_names_the_linked_one(org: Org) -> None:
    org.import_accounts(csv("CREATE,Google Workspace,test@example.com,linked,,,,,,"))
    report = org.import_accounts(csv("DELETE,Google Workspace,test@example.com,other,,,,,,"))
    assert outcomes(report) == [("failed", "NOT_LINKED")]
    message = report.results[0].message
    assert message.startswith("accountId: ")
    assert "'linked'" in message and "CREATE" not in message
    assert len(org.stored_accounts()) == 1


@pytest.mark.parametrize(
    ("row", "column", "limit"),
    [
        ("CREATE,Google Workspace,test@example.com,{v},,,,,,", "accountId", 256),
        ("CREATE,cybozu.com,test@example.com,t,,,{v},,,", "licenseProfile", 200),
        ("CREATE,Legacy SCIM,test@example.com,t,,,,,{v},", "scimUserResourceId", 256),
        ("UPDATE,Microsoft 365,test@example.com,t,,,,{v},,", "immutableId", 128),
        ("CREATE,{v},test@example.com,t,,,,,,", "serviceDisplayName", 200),
    ],
)
def test_a_value_longer_than_its_column_is_too_long_alike_on_both_databases(
    org: Org, row: str, column: str, limit: int
) -> None:
    # 312 characters of accountId were stored on SQLite and refused on PostgreSQL as
    # "CONFLICT: A value is too long for the database." without the column.
    report = org.import_accounts(csv(row.format(v="x" * (limit + 1))))
    assert outcomes(report) == [("failed", "TOO_LONG")]
    message = report.results[0].message
    assert message.startswith(f"{column}: ") and f"at most {limit}" in message
    assert org.stored_accounts() == []


def _as_updates(exported: str, password: str = "") -> bytes:
    """An export turned into UPDATE rows (the form-based row given ``password``)."""
    lines = exported.split("\r\n")
    rows = [lines[0]] + [line.replace('""', '"UPDATE"', 1) for line in lines[1:] if line]
    if password:
        rows = [
            row[: -len('""')] + f'"{password}"' if "社内ポータル" in row else row for row in rows
        ]
    return ("\r\n".join(rows) + "\r\n").encode()


def test_update_rows_that_change_nothing_are_unchanged_and_write_no_event(org: Org) -> None:
    org.import_accounts(sample("service-accounts.csv"))
    before = org.stored_accounts()
    events_before = _account_events(org)
    report = org.import_accounts(_as_updates(org.export_accounts(), password="new pass"))
    assert report.counts == {
        "created": 0,
        "updated": 1,  # a servicePassword is write-only: giving one always sets it
        "unchanged": 5,
        "deleted": 0,
        "skipped": 0,
        "failed": 0,
    }
    assert report.summary() == "0 created, 1 updated, 5 unchanged, 0 deleted, 0 skipped, 0 failed"
    assert _account_events(org) == [*events_before, ("account.updated", "test01")]
    after = org.stored_accounts()
    untouched = [a for a in after if a["account_id"] != "test01"]
    assert untouched == [a for a in before if a["account_id"] != "test01"]  # not even updated_at


def test_an_update_row_is_unchanged_only_when_every_given_cell_matches(org: Org) -> None:
    org.import_accounts(sample("service-accounts.csv"))
    report = org.import_accounts(
        csv(
            "UPDATE,Google Workspace,test@example.com,test@example.com,,TRUE,,,,",
            "UPDATE,Google Workspace,test@example.com,test@example.com,,false,,,,",
            "UPDATE,Google Workspace,test@example.com,test@example.com,,FALSE,,,,",
            "UPDATE,cybozu.com,hanako.yamada@example.com,hyamada,,,Garoon,,,",
        )
    )
    assert outcomes(report) == [
        ("unchanged", ""),
        ("updated", ""),
        ("unchanged", ""),  # the row before it already set FALSE
        ("unchanged", ""),
    ]
    assert _account_events(org)[-1] == ("account.updated", "test@example.com")
    assert len([e for e in _account_events(org) if e[0] == "account.updated"]) == 1


def test_last_access_time_on_upload_is_ignored(org: Org) -> None:
    report = org.import_accounts(
        csv("CREATE,Google Workspace,test@example.com,t,2026-01-02T03:04:05Z,,,,,")
    )
    assert outcomes(report) == [("created", "")]
    assert org.stored_accounts()[0]["last_access_time"] is None
    report = org.import_accounts(
        csv("UPDATE,Google Workspace,test@example.com,t,not a time at all,,,,,")
    )
    assert outcomes(report) == [("unchanged", "")]
