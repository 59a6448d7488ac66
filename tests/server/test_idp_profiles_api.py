"""IdP profiles over HTTP, on SQLite and PostgreSQL: per-organization selection, each
rule's documented request (docs/idp-profiles.md), the ``?aadOptscim062020``
switch, Bulk, and the CLI."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner

from scimcore import issue_token
from scimserver.cli import main
from tests.conftest import ScimClient
from tests.server.test_users_api import ENTERPRISE, PATCH, USER, assert_error

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
MANAGER = f"{ENTERPRISE}:manager"
FLAG = "?aadOptscim062020"


def client(app: Any, profile: str = "auto") -> ScimClient:
    """A client for a new organization created with ``profile``."""
    store = app.extensions["scimcore"]["store"]
    org = store.create_organization(f"org-{uuid.uuid4().hex[:10]}", "Test org", profile)
    return ScimClient(app.test_client(), org.slug, issue_token(store, org).token)


def set_profile(app: Any, scim: ScimClient, profile: str) -> None:
    store = app.extensions["scimcore"]["store"]
    store.set_organization_profile(store.get_organization(scim.slug).id, profile)


def new_user(scim: ScimClient, **attrs: Any) -> dict[str, Any]:
    body = {
        "schemas": [USER, ENTERPRISE],
        "userName": f"u{uuid.uuid4().hex[:8]}@contoso.com",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": "babs@home.example", "type": "home", "primary": True}],
        "active": True,
        **attrs,
    }
    response = scim.post("/Users", body)
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def new_group(scim: ScimClient, members: Sequence[str] = ()) -> dict[str, Any]:
    body = {
        "schemas": [GROUP],
        "displayName": f"g{uuid.uuid4().hex[:8]}",
        "members": [{"value": m} for m in members],
    }
    response = scim.post("/Groups", body)
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def ops(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(operations)}


def read(scim: ScimClient, path: str) -> dict[str, Any]:
    response = scim.get(path)
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


@dataclass(frozen=True)
class Flow:
    """One rule's documented request over HTTP: ``run`` sends it and returns
    (response, a reader of the resulting resource)."""

    rule: str
    profile: str
    run: Callable[[ScimClient], tuple[Any, Callable[[], dict[str, Any]]]]
    accepted: Callable[[dict[str, Any]], bool]
    status: int
    scim_type: str | None


def _user_patch(
    body: dict[str, Any], **attrs: Any
) -> Callable[[ScimClient], tuple[Any, Callable[[], dict[str, Any]]]]:
    def run(scim: ScimClient) -> tuple[Any, Callable[[], dict[str, Any]]]:
        uid = new_user(scim, **attrs)["id"]
        return scim.patch(f"/Users/{uid}", body), lambda: read(scim, f"/Users/{uid}")

    return run


def _group_patch(
    make_body: Callable[[dict[str, Any], str], dict[str, Any]],
) -> Callable[[ScimClient], tuple[Any, Callable[[], dict[str, Any]]]]:
    def run(scim: ScimClient) -> tuple[Any, Callable[[], dict[str, Any]]]:
        member = new_user(scim)["id"]
        group = new_group(scim, [member])
        gid = group["id"]
        response = scim.patch(f"/Groups/{gid}", make_body(group, member))
        return response, lambda: {**read(scim, f"/Groups/{gid}"), "_member": member}

    return run


FLOWS = [
    Flow(
        "entra.op-case",
        "entra",
        _user_patch(ops({"op": "Replace", "path": "name.familyName", "value": "Smith"})),
        lambda r: r["name"]["familyName"] == "Smith",
        400,
        "invalidSyntax",
    ),
    Flow(
        "okta.patch-without-schemas",
        "okta",
        _group_patch(
            lambda g, m: {"Operations": [{"op": "replace", "value": {"displayName": "Renamed"}}]}
        ),
        lambda r: r["displayName"] == "Renamed",
        400,
        "invalidSyntax",
    ),
    Flow(
        "okta.read-only-in-patch-value",
        "okta",
        _group_patch(
            lambda g, m: ops({"op": "replace", "value": {"id": g["id"], "displayName": "Renamed"}})
        ),
        lambda r: r["displayName"] == "Renamed",
        400,
        "mutability",
    ),
    Flow(
        "entra.boolean-strings",
        "entra",
        _user_patch(ops({"op": "replace", "path": "active", "value": "False"})),
        lambda r: r["active"] is False,
        400,
        "invalidValue",
    ),
    Flow(
        "entra.dotted-patch-keys",
        "entra-aadOptscim062020",
        _user_patch(
            ops(
                {
                    "op": "replace",
                    "value": {
                        "displayName": "Babs",
                        "name.givenName": "Babs",
                        f"{ENTERPRISE}:employeeNumber": "42",
                    },
                }
            )
        ),
        lambda r: (
            r["name"]["givenName"] == "Babs" and r.get(ENTERPRISE, {}).get("employeeNumber") == "42"
        ),
        400,
        "invalidPath",
    ),
    Flow(
        "entra.remove-with-value",
        "entra",
        _group_patch(
            lambda g, m: ops(
                {"op": "remove", "path": "members", "value": [{"$ref": None, "value": m}]}
            )
        ),
        lambda r: not r.get("members"),
        400,
        "invalidValue",
    ),
    Flow(
        "entra.manager-bare-string",
        "entra-aadOptscim062020",
        _user_patch(ops({"op": "add", "path": MANAGER, "value": "m-26118915"})),
        lambda r: r.get(ENTERPRISE, {}).get("manager") == {"value": "m-26118915"},
        400,
        "invalidValue",
    ),
    Flow(
        "entra.empty-string-unassigns",
        "entra",
        _user_patch(
            ops({"op": "replace", "path": MANAGER, "value": {"value": ""}}),
            **{ENTERPRISE: {"manager": {"value": "m1"}, "department": "Tours"}},
        ),
        lambda r: "manager" not in r[ENTERPRISE],
        200,  # RFC 7643 2.5: "" is a value, stored as given
        None,
    ),
    Flow(
        "entra.create-missing-typed-value",
        "entra-aadOptscim062020",
        _user_patch(
            ops(
                {
                    "op": "replace",
                    "path": 'emails[type eq "work"].value',
                    "value": "babs@contoso.com",
                }
            )
        ),
        lambda r: {"type": "work", "value": "babs@contoso.com"} in r["emails"],
        400,
        "noTarget",
    ),
]


def test_every_rule_has_an_http_flow() -> None:
    from scimcore.compat import RULES

    assert {f.rule for f in FLOWS} == {r.id for r in RULES}


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.rule)
def test_rule_accepted_under_its_profile(app: Any, flow: Flow) -> None:
    for profile in (flow.profile, "auto"):
        response, reader = flow.run(client(app, profile))
        assert response.status_code in (200, 204), response.get_data(as_text=True)
        assert flow.accepted(reader()), profile


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.rule)
def test_rule_answered_per_rfc_under_rfc(app: Any, flow: Flow) -> None:
    response, reader = flow.run(client(app, "rfc"))
    if flow.status == 400:
        assert_error(response, 400, flow.scim_type)
        assert not flow.accepted(reader())  # nothing was written
    else:
        assert response.status_code == flow.status


def test_rfc_stores_empty_manager_value_as_given(app: Any) -> None:
    scim = client(app, "rfc")
    uid = new_user(scim, **{ENTERPRISE: {"manager": {"value": "m1"}}})["id"]
    response = scim.patch(f"/Users/{uid}", ops({"op": "replace", "path": "title", "value": ""}))
    assert response.status_code == 200
    assert response.get_json()["title"] == ""


def test_remove_with_value_under_rfc_keeps_every_member(app: Any) -> None:
    """Ignoring the value would remove all members; rfc rejects the request instead."""
    scim = client(app, "rfc")
    a, b = new_user(scim)["id"], new_user(scim)["id"]
    gid = new_group(scim, [a, b])["id"]
    response = scim.patch(
        f"/Groups/{gid}", ops({"op": "remove", "path": "members", "value": [{"value": a}]})
    )
    assert_error(response, 400, "invalidValue")
    assert {m["value"] for m in read(scim, f"/Groups/{gid}")["members"]} == {a, b}
    fine = scim.patch(f"/Groups/{gid}", ops({"op": "remove", "path": f'members[value eq "{a}"]'}))
    assert fine.status_code == 204
    assert [m["value"] for m in read(scim, f"/Groups/{gid}")["members"]] == [b]


def test_boolean_strings_in_post_and_filter(app: Any) -> None:
    entra, strict = client(app, "entra"), client(app, "rfc")
    created = new_user(entra, active="False")
    assert created["active"] is False
    found = entra.get('/Users?filter=active eq "False"').get_json()
    assert [u["id"] for u in found["Resources"]] == [created["id"]]
    body = {"schemas": [USER], "userName": "strict@contoso.com", "active": "False"}
    assert_error(strict.post("/Users", body), 400, "invalidValue")
    assert_error(strict.get('/Users?filter=active eq "False"'), 400, "invalidFilter")
    assert strict.get("/Users?filter=active eq false").status_code == 200


# -- per-organization selection -----------------------------------------------------------


def test_profile_is_per_organization_and_takes_effect_on_the_next_request(app: Any) -> None:
    entra, strict = client(app, "entra"), client(app, "rfc")
    disable = ops({"op": "Replace", "path": "active", "value": "False"})
    entra_user, strict_user = new_user(entra)["id"], new_user(strict)["id"]
    assert entra.patch(f"/Users/{entra_user}", disable).status_code == 200
    assert_error(strict.patch(f"/Users/{strict_user}", disable), 400, "invalidSyntax")
    set_profile(app, strict, "entra@1")
    assert strict.patch(f"/Users/{strict_user}", disable).status_code == 200
    set_profile(app, entra, "rfc")
    assert_error(entra.patch(f"/Users/{entra_user}", disable), 400, "invalidSyntax")


def test_default_profile_is_auto(app: Any) -> None:
    store = app.extensions["scimcore"]["store"]
    org = store.create_organization(f"org-{uuid.uuid4().hex[:10]}", "Default")
    assert org.profile == "auto"
    assert store.get_organization(org.slug).profile == "auto"


def test_unknown_profile_is_a_clear_error(app: Any) -> None:
    from scimcore.errors import InvalidValue

    store = app.extensions["scimcore"]["store"]
    scim = client(app)
    org = store.get_organization(scim.slug)
    with pytest.raises(InvalidValue) as err:
        store.set_organization_profile(org.id, "azure")
    assert "'azure'" in err.value.detail and "entra-aadOptscim062020" in err.value.detail
    assert store.get_organization(scim.slug).profile == "auto"


# -- Entra ID's ?aadOptscim062020 flag ----------------------------------------------------


@pytest.mark.parametrize("profile", ["entra", "auto"])
def test_flag_selects_the_compliant_entra_profile_for_the_request(app: Any, profile: str) -> None:
    scim = client(app, profile)
    uid = new_user(scim)["id"]
    legacy = ops({"op": "Replace", "path": "active", "value": "False"})
    assert_error(scim.patch(f"/Users/{uid}{FLAG}", legacy), 400, "invalidSyntax")
    assert read(scim, f"/Users/{uid}")["active"] is True
    compliant = ops(
        {"op": "replace", "path": "active", "value": False},
        {"op": "replace", "value": {"name.givenName": "Babs"}},
    )
    response = scim.patch(f"/Users/{uid}{FLAG}", compliant)
    assert response.status_code == 200
    assert response.get_json()["active"] is False
    assert response.get_json()["name"]["givenName"] == "Babs"
    # Without the flag, the organization's own profile answers again.
    assert scim.patch(f"/Users/{uid}", legacy).status_code == 200


def test_flag_on_a_list_request_with_a_filter(app: Any) -> None:
    scim = client(app, "entra")
    user = new_user(scim)
    response = scim.get(f'/Users{FLAG}&filter=userName eq "{user["userName"]}"')
    assert response.status_code == 200
    assert response.get_json()["totalResults"] == 1
    assert_error(scim.get(f'/Users{FLAG}&filter=active eq "True"'), 400, "invalidFilter")


@pytest.mark.parametrize("profile", ["rfc", "okta"])
def test_flag_does_not_change_other_profiles(app: Any, profile: str) -> None:
    scim = client(app, profile)
    uid = new_user(scim)["id"]
    dotted = ops({"op": "replace", "value": {"name.givenName": "Babs"}})
    assert_error(scim.patch(f"/Users/{uid}{FLAG}", dotted), 400, "invalidPath")


# -- Bulk ---------------------------------------------------------------------------------


def test_bulk_operations_use_the_request_profile(app: Any) -> None:
    def bulk(scim: ScimClient, uid: str, suffix: str = "") -> dict[str, Any]:
        op = {
            "method": "PATCH",
            "path": f"/Users/{uid}",
            "data": ops({"op": "Replace", "path": "active", "value": "False"}),
        }
        response = scim.post(f"/Bulk{suffix}", {"schemas": [BULK], "Operations": [op]})
        assert response.status_code == 200
        result: dict[str, Any] = response.get_json()["Operations"][0]
        return result

    strict, entra = client(app, "rfc"), client(app, "entra")
    assert bulk(strict, new_user(strict)["id"])["status"] == "400"
    assert bulk(entra, new_user(entra)["id"])["status"] == "200"
    assert bulk(entra, new_user(entra)["id"], FLAG)["status"] == "400"


# -- CLI ----------------------------------------------------------------------------------


def test_cli_create_set_and_list_profiles(app: Any, database_url: str) -> None:
    runner = CliRunner(env={"SCIMSERVER_DATABASE_URL": database_url})

    def cli(*args: str, code: int = 0) -> Any:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == code, (result.stdout, result.stderr)
        return result

    name = f"Acme {uuid.uuid4().hex[:8]}"
    created = json.loads(cli("orgs", "create", name, "--profile", "OKTA", "--json").stdout)
    assert created["profile"] == "okta"
    assert {"id", "slug", "name", "tenant_url", "created"} <= set(created)
    text = cli("orgs", "create", f"{name} two").stdout
    assert "IdP profile: auto" in text

    updated = json.loads(cli("orgs", "set-profile", name, "rfc@1", "--json").stdout)
    assert updated["profile"] == "rfc@1" and updated["slug"] == created["slug"]
    assert "entra" in cli("orgs", "set-profile", created["slug"], "entra").stdout

    rows = json.loads(cli("orgs", "list", "--json").stdout)
    mine = {r["slug"]: r for r in rows}
    assert mine[created["slug"]]["profile"] == "entra"
    assert "token" in mine[created["slug"]]
    assert "profile entra" in cli("orgs", "list").stdout

    bad = cli("orgs", "set-profile", name, "azure", code=1)
    assert "Unknown IdP profile 'azure'" in bad.stderr and "rfc" in bad.stderr
    bad = cli("orgs", "create", f"{name} three", "--profile", "nope", code=1)
    assert "Unknown IdP profile" in bad.stderr
    cli("orgs", "set-profile", "no-such-org", "rfc", code=1)

    # The profile chosen on the CLI is what the service applies.
    token = json.loads(cli("token", "generate", created["slug"], "--json").stdout)["token"]
    scim = ScimClient(app.test_client(), created["slug"], token)
    uid = new_user(scim)["id"]
    disable = ops({"op": "Replace", "path": "active", "value": "False"})
    assert scim.patch(f"/Users/{uid}", disable).status_code == 200
    cli("orgs", "set-profile", created["slug"], "rfc")
    assert_error(scim.patch(f"/Users/{uid}", disable), 400, "invalidSyntax")
