"""User CSV: SCIM Users created, updated and deleted through the same Store as the API."""

from __future__ import annotations

import json

import pytest

from scimcore import ScimRequest, ScimService
from scimcore.schema.core import ENTERPRISE_USER_SCHEMA

from .conftest import Org

HEADER = "operation,userName,lastName,firstName,displayName,emails,active,department,password\r\n"


def csv(*rows: str) -> bytes:
    return (HEADER + "".join(r + "\r\n" for r in rows)).encode()


def test_created_user_is_served_by_the_scim_api(org: Org) -> None:
    report = org.import_users(
        csv(
            "CREATE,new@example.com,山田,太郎,山田 太郎,"
            "new@example.com;alt@example.com,TRUE,開発部,"
        )
    )
    assert [r.outcome for r in report.results] == ["created"]
    org_ = next(o for o in org.store.list_organizations() if o.id == org.id)
    uid = org.user_ids()["new@example.com"]
    response = ScimService(org.store).handle(org_, "https://x", ScimRequest("GET", f"/Users/{uid}"))
    body = json.loads(json.dumps(response.body))
    assert response.status == 200
    assert body["name"] == {"familyName": "山田", "givenName": "太郎"}
    assert body["emails"][0] == {"value": "new@example.com", "type": "work", "primary": True}
    assert body[ENTERPRISE_USER_SCHEMA]["department"] == "開発部"
    assert body["meta"]["version"] == 'W/"1"'


def test_update_changes_only_non_empty_cells_and_bumps_the_version(org: Org) -> None:
    org.import_users(csv("CREATE,new@example.com,山田,太郎,山田 太郎,new@example.com,TRUE,開発部,"))
    report = org.import_users(csv("update,NEW@example.com,,,,,FALSE,営業部,"))
    assert [r.outcome for r in report.results] == ["updated"]
    user = org.user("new@example.com")
    assert user is not None
    assert user["active"] is False
    assert user["name"] == {"familyName": "山田", "givenName": "太郎"}
    assert user[ENTERPRISE_USER_SCHEMA] == {"department": "営業部"}  # type: ignore[index]
    assert user["meta"]["version"] == 'W/"2"'  # type: ignore[index]


def test_delete_removes_the_user(org: Org) -> None:
    report = org.import_users(csv("DELETE,other@example.com,,,,,,,"))
    assert [r.outcome for r in report.results] == ["deleted"]
    assert org.user("other@example.com") is None


def test_bad_user_rows_fail_alone(org: Org) -> None:
    report = org.import_users(
        csv(
            "CREATE,test@example.com,,,,,,,",
            "UPDATE,nobody@example.com,,,,,,,",
            "CREATE,new@example.com,,,,,maybe,,",
            "CREATE,new@example.com,,,,new@example.com,,,",
            ",ignored@example.com,,,,,,,",
        )
    )
    assert [(r.outcome, r.error_code) for r in report.results] == [
        ("failed", "ALREADY_EXISTS"),
        ("failed", "UNKNOWN_USER"),
        ("failed", "INVALID_VALUE"),
        ("created", ""),
        ("skipped", ""),
    ]


def test_password_is_write_only_and_stored_encrypted(org: Org) -> None:
    org.import_users(csv("CREATE,new@example.com,,,,,,,S3cret!"))
    user = org.user("new@example.com")
    assert user is not None
    assert user["password"] != "S3cret!"
    assert org.keyring.decrypt(str(user["password"])) == "S3cret!"
    assert "S3cret" not in org.export_users()


def test_user_export_round_trips_non_ascii_text(org: Org) -> None:
    org.import_users(csv("CREATE,new@example.com,山田,花子,山田 花子,new@example.com,TRUE,開発部,"))
    exported = org.export_users()
    assert '"","new@example.com","","山田","花子","","山田 花子"' in exported
    edited = exported.replace('""', "UPDATE", 1)
    lines = [line for line in edited.split("\r\n") if line]
    report = org.import_users(("\r\n".join(lines) + "\r\n").encode())
    assert report.failed == []
    assert org.export_users() == exported


MANAGER_HEADER = "operation,userName,displayName,manager\r\n"


def manager_csv(*rows: str) -> bytes:
    return (MANAGER_HEADER + "".join(r + "\r\n" for r in rows)).encode()


def test_manager_user_name_is_stored_as_the_managers_id(org: Org) -> None:
    report = org.import_users(manager_csv("CREATE,new@example.com,New,TEST@Example.com"))
    assert [r.outcome for r in report.results] == ["created"]
    ids = org.user_ids()
    org_ = next(o for o in org.store.list_organizations() if o.id == org.id)
    response = ScimService(org.store).handle(
        org_, "https://x", ScimRequest("GET", f"/Users/{ids['new@example.com']}")
    )
    body = json.loads(json.dumps(response.body))
    assert response.status == 200
    assert body[ENTERPRISE_USER_SCHEMA]["manager"]["value"] == ids["test@example.com"]
    assert ENTERPRISE_USER_SCHEMA in body["schemas"]


@pytest.mark.parametrize("batch_size", [None, 1])
def test_manager_created_by_an_earlier_row_of_the_file(org: Org, batch_size: int | None) -> None:
    report = org.import_users(
        manager_csv(
            "CREATE,boss@example.com,Boss,",
            "CREATE,new@example.com,New,boss@example.com",
        ),
        batch_size=batch_size,
    )
    assert [r.outcome for r in report.results] == ["created", "created"]
    user = org.user("new@example.com")
    boss = org.user("boss@example.com")
    assert user is not None and boss is not None
    assert user[ENTERPRISE_USER_SCHEMA] == {"manager": {"value": boss["id"]}}


def test_unknown_manager_fails_only_its_row(org: Org) -> None:
    report = org.import_users(
        manager_csv(
            "CREATE,new@example.com,New,nobody@example.com",
            "CREATE,boss@example.com,Boss,test@example.com",
            "DELETE,other@example.com,,",
            "UPDATE,test@example.com,,other@example.com",
        )
    )
    assert [(r.number, r.outcome, r.error_code) for r in report.results] == [
        (2, "failed", "UNKNOWN_USER"),
        (3, "created", ""),
        (4, "deleted", ""),
        (5, "failed", "UNKNOWN_USER"),
    ]
    assert report.results[0].message.startswith(
        "manager: no user with userName 'nobody@example.com'; expected the userName of an "
        "existing user"
    )
    assert org.user("new@example.com") is None
    assert org.user("boss@example.com") is not None


def test_blank_manager_on_update_leaves_it_unchanged(org: Org) -> None:
    org.import_users(manager_csv("CREATE,new@example.com,New,test@example.com"))
    report = org.import_users(manager_csv("UPDATE,new@example.com,Renamed,"))
    assert [r.outcome for r in report.results] == ["updated"]
    user = org.user("new@example.com")
    assert user is not None
    assert user["displayName"] == "Renamed"
    manager = user[ENTERPRISE_USER_SCHEMA]["manager"]  # type: ignore[index]
    assert manager == {"value": org.user_ids()["test@example.com"]}


def test_user_export_writes_the_managers_user_name_and_round_trips(org: Org) -> None:
    org.import_users(
        manager_csv(
            "CREATE,new@example.com,New,test@example.com",
            "UPDATE,hanako.yamada@example.com,,new@example.com",
            "UPDATE,test@example.com,,other@example.com",
        )
    )
    exported = org.export_users()
    header, *rows = [line for line in exported.split("\r\n") if line]
    column = header.split(",").index('"manager"')
    managers = {row.split(",")[1].strip('"'): row.split(",")[column].strip('"') for row in rows}
    assert managers == {
        "test@example.com": "other@example.com",
        "hanako.yamada@example.com": "new@example.com",
        "other@example.com": "",
        "new@example.com": "test@example.com",
    }
    report = org.import_users(exported.replace('""', "UPDATE", 1).encode())
    assert report.failed == []
    assert org.export_users() == exported

    org.import_users(manager_csv("DELETE,other@example.com,,"))
    assert '"test@example.com"' in org.export_users()
    assert '"other@example.com"' not in org.export_users()


def test_update_rows_that_change_nothing_are_unchanged_and_keep_the_version(org: Org) -> None:
    org.import_users(csv("CREATE,new@example.com,山田,太郎,山田 太郎,new@example.com,TRUE,開発部,"))
    exported = org.export_users()
    rows = [line.replace('""', '"UPDATE"', 1) for line in exported.split("\r\n")[1:] if line]
    report = org.import_users(("\r\n".join([exported.split("\r\n")[0], *rows]) + "\r\n").encode())
    assert report.failed == []
    assert {r.outcome for r in report.results} == {"unchanged"}
    report = org.import_users(csv("UPDATE,new@example.com,山田,,,,true,開発部,"))
    assert [r.outcome for r in report.results] == ["unchanged"]
    user = org.user("new@example.com")
    assert user is not None
    assert user["meta"]["version"] == 'W/"1"'  # type: ignore[index]  # no write: no new ETag
    report = org.import_users(csv("UPDATE,new@example.com,,,,,,,secret-1"))
    assert [r.outcome for r in report.results] == ["updated"]
    sealed = (org.user("new@example.com") or {})["password"]
    report = org.import_users(csv("UPDATE,new@example.com,,,,,,,secret-1"))
    assert [r.outcome for r in report.results] == ["unchanged"]  # the same password
    assert (org.user("new@example.com") or {})["password"] == sealed  # not sealed again
    report = org.import_users(csv("UPDATE,new@example.com,,,,,,,secret-2"))
    assert [r.outcome for r in report.results] == ["updated"]


def _patch_display_name(org: Org, user_id: str, name: str) -> None:
    org_ = next(o for o in org.store.list_organizations() if o.id == org.id)
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": name}],
    }
    response = ScimService(org.store).handle(
        org_,
        "https://x",
        ScimRequest(
            "PATCH",
            f"/Users/{user_id}",
            body=json.dumps(body).encode(),
            content_type="application/scim+json",
        ),
    )
    assert response.status == 200, response.body


def test_a_csv_update_records_the_event_a_scim_update_records(org: Org) -> None:
    from scimcore.storage.sql.provisioning import SqlProvisioningStore

    org.import_users(csv("CREATE,new@example.com,,,Before,,,,"))
    uid = org.user_ids()["new@example.com"]
    org.import_users(csv("UPDATE,new@example.com,,,By CSV,,,,"))
    _patch_display_name(org, uid, "By SCIM")
    by_csv, by_scim = SqlProvisioningStore(org.store.engine).events(org.id)[-2:]
    assert (by_csv.type, by_csv.source, by_scim.type, by_scim.source) == (
        "scim.user.updated",
        "csv",
        "scim.user.updated",
        "scim",
    )
    assert by_csv.data.keys() == by_scim.data.keys()
    assert (by_csv.data["displayName"], by_scim.data["displayName"]) == ("By CSV", "By SCIM")


def test_a_scim_write_between_the_csv_read_and_write_fails_the_row_not_the_scim_write(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch reads its users first; an IdP's PATCH that commits before the row is
    written makes the row a CONFLICT: the IdP's change is not overwritten."""
    if org.store.engine.dialect.name == "sqlite":
        pytest.skip("on SQLite the batch holds the write lock: the PATCH waits for it")
    from scimcore.writes import ResourceWriter

    org.import_users(csv("CREATE,new@example.com,,,Before,,,,", "CREATE,other@example.com,,,,,,,"))
    uid = org.user_ids()["new@example.com"]
    original = ResourceWriter.replace_if_changed
    raced: list[str] = []

    def racing(
        self: ResourceWriter, session: object, rt: object, current: dict, new: dict, **kw: object
    ):  # type: ignore[no-untyped-def]
        if current["id"] == uid and not raced:
            raced.append(uid)
            _patch_display_name(org, uid, "By the IdP")  # its own transaction, committed
        return original(self, session, rt, current, new, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(ResourceWriter, "replace_if_changed", racing)
    report = org.import_users(
        csv("UPDATE,new@example.com,,,By CSV,,,,", "UPDATE,other@example.com,,,Other,,,,")
    )
    assert [(r.outcome, r.error_code) for r in report.results] == [
        ("failed", "CONFLICT"),
        ("updated", ""),
    ]
    assert "changed by another writer" in report.results[0].message
    user = org.user("new@example.com")
    assert user is not None and user["displayName"] == "By the IdP"
    assert user["meta"]["version"] == 'W/"2"'  # type: ignore[index]
