"""SCIM and CSV changes write provisioning events in the transaction of the change."""

from __future__ import annotations

from scimcore import ScimService
from scimcore.accounts import IntegrationSettings
from scimcore.adapters.csv import ServiceAccountImporter, UserImporter
from scimcore.messages import ScimRequest
from scimcore.storage.memory import MemoryStore

from .conftest import Env, scim_auth
from .fakes import FakeScim


def _types(env: Env) -> list[str]:
    return [e.type for e in env.prov.events(env.org.id)]


def test_scim_writes_record_created_updated_deactivated_reactivated_deleted(any_env: Env) -> None:
    env = any_env
    uid = env.create_user("ev@example.com")
    env.scim(
        "PATCH",
        f"/Users/{uid}",
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Eve"}],
        },
    )
    env.set_active(uid, False)
    env.set_active(uid, True)
    env.scim("DELETE", f"/Users/{uid}")
    assert _types(env) == [
        "scim.user.created",
        "scim.user.updated",
        "scim.user.deactivated",
        "scim.user.reactivated",
        "scim.user.deleted",
    ]
    events = env.prov.events(env.org.id)
    assert {e.resource_id for e in events} == {uid}
    assert events[0].data["userName"] == "ev@example.com"


def test_event_payloads_never_hold_the_password(env: Env) -> None:
    env.create_user("pw@example.com", password="Secret-Passw0rd!")
    (event,) = env.prov.events(env.org.id)
    assert "password" not in event.data
    assert "Secret-Passw0rd!" not in repr(event.data)


def test_a_failed_write_records_no_event(env: Env) -> None:
    env.create_user("dup@example.com")
    resp = env.service.handle(
        env.org,
        "https://x/scim/v2/organizations/x",
        ScimRequest(
            "POST",
            "/Users",
            {},
            b'{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"DUP@example.com"}',
            "application/scim+json",
        ),
    )
    assert resp.status == 409
    assert _types(env) == ["scim.user.created"]


def test_a_put_that_changes_nothing_records_no_event(env: Env) -> None:
    uid = env.create_user("same@example.com")
    current = env.scim("GET", f"/Users/{uid}")
    current.pop("meta")
    env.scim("PUT", f"/Users/{uid}", current)
    assert _types(env) == ["scim.user.created"]


def test_csv_user_rows_record_the_same_events_as_scim(env: Env) -> None:
    data = (
        b"operation,userName,lastName,firstName,emails,active\n"
        b"CREATE,csv@example.com,Yamada,Hanako,csv@example.com,TRUE\n"
        b"UPDATE,csv@example.com,,,,FALSE\n"
        b"DELETE,csv@example.com,,,,\n"
    )
    report = UserImporter(env.store, env.org.id).run(data)
    assert report.counts["failed"] == 0, report.results
    events = env.prov.events(env.org.id)
    assert [e.type for e in events] == [
        "scim.user.created",
        "scim.user.deactivated",
        "scim.user.deleted",
    ]
    assert {e.source for e in events} == {"csv"}


def test_csv_dry_run_records_nothing(env: Env) -> None:
    from scimcore.adapters.csv import ImportOptions

    data = b"operation,userName\nCREATE,dry@example.com\n"
    UserImporter(env.store, env.org.id, options=ImportOptions(dry_run=True)).run(data)
    assert _types(env) == []


def test_csv_service_account_rows_record_link_events(env: Env) -> None:
    uid = env.create_user("sa@example.com")
    with env.accounts.accounts(env.org.id) as session:
        session.create_integration("Wiki", "manual", IntegrationSettings())
    rows = "operation,serviceDisplayName,userId,accountId\nCREATE,Wiki,sa@example.com,sa-wiki\n"
    report = ServiceAccountImporter(env.accounts, env.org.id).run(rows.encode())
    assert report.counts["created"] == 1, report.results
    delete = "operation,serviceDisplayName,userId,accountId\nDELETE,Wiki,sa@example.com,sa-wiki\n"
    ServiceAccountImporter(env.accounts, env.org.id).run(delete.encode())
    events = [e for e in env.prov.events(env.org.id) if e.resource_type == "ServiceAccount"]
    assert [e.type for e in events] == ["account.linked", "account.unlinked"]
    assert events[0].data["user_id"] == uid and events[0].data["account_id"] == "sa-wiki"
    assert events[1].data["links"][0]["account_id"] == "sa-wiki"


def test_memory_store_keeps_events_of_committed_sessions_only() -> None:
    store = MemoryStore()
    org = store.create_organization("mem", "Mem")
    service = ScimService(store)
    body = b'{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"m@example.com"}'
    request = ScimRequest("POST", "/Users", {}, body, "application/scim+json")
    assert service.handle(org, "https://x", request).status == 201
    assert service.handle(org, "https://x", request).status == 409
    assert [e.type for e in store.recorded_events(org.id)] == ["scim.user.created"]


def test_deleting_a_user_keeps_their_links_in_the_event(env: Env, fake_scim: FakeScim) -> None:
    integration = env.integration("scim2", {"base_url": fake_scim.url}, auth=scim_auth(fake_scim))
    uid = env.create_user("gone@example.com")
    env.worker().run(until_idle=True)
    env.scim("DELETE", f"/Users/{uid}")
    deleted = next(e for e in env.prov.events(env.org.id) if e.type == "scim.user.deleted")
    assert deleted.data["links"][0]["integration_id"] == integration
    assert deleted.data["links"][0]["account_id"] == "gone@example.com"
