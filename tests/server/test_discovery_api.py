"""Discovery endpoints (RFC 7644 4) tell the truth about what is supported."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ScimClient

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def test_service_provider_config_advertises_what_works(scim: ScimClient) -> None:
    spc = scim.get("/ServiceProviderConfig").get_json()
    assert spc["patch"]["supported"] is True
    assert spc["filter"] == {"supported": True, "maxResults": 50}
    assert spc["sort"]["supported"] is True
    assert spc["bulk"]["supported"] is True
    assert spc["etag"]["supported"] is True
    assert spc["authenticationSchemes"][0]["type"] == "oauthbearertoken"


def test_bulk_is_served_as_advertised(scim: ScimClient) -> None:
    response = scim.post(
        "/Bulk", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"]}
    )
    assert response.status_code == 400  # an empty BulkRequest, not 501


def test_resource_types_list_and_get_by_id(scim: ScimClient) -> None:
    listed = scim.get("/ResourceTypes").get_json()
    assert {r["id"] for r in listed["Resources"]} == {"User", "Group"}
    user = scim.get("/ResourceTypes/User").get_json()
    assert user["endpoint"] == "/Users"
    assert user["schemaExtensions"] == [{"schema": ENTERPRISE, "required": False}]


def test_schemas_list_includes_group_and_enterprise_user(scim: ScimClient) -> None:
    ids = {s["id"] for s in scim.get("/Schemas").get_json()["Resources"]}
    assert {
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:core:2.0:Group",
        ENTERPRISE,
    } <= ids


def test_schema_by_id_describes_attribute_characteristics(scim: ScimClient) -> None:
    schema = scim.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").get_json()
    attrs = {a["name"]: a for a in schema["attributes"]}
    assert attrs["userName"]["uniqueness"] == "server" and attrs["userName"]["required"]
    assert attrs["password"]["returned"] == "never"
    assert attrs["groups"]["mutability"] == "readOnly"


def test_unknown_schema_is_404(scim: ScimClient) -> None:
    assert scim.get("/Schemas/urn:nope").status_code == 404


def test_other_http_errors_keep_their_status_in_the_scim_error_body(app: Any) -> None:
    """A Werkzeug error other than 404/405/413 renders as an RFC 7644 3.12 error with its
    own status, in the header and in the body's ``status``."""
    from werkzeug.exceptions import abort

    app.add_url_rule("/scim/v2/teapot", "teapot", lambda: abort(418))
    response = app.test_client().get("/scim/v2/teapot")
    assert response.status_code == 418
    assert response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["status"] == "418"
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/scim/v2/openapi.json"])
def test_options_on_the_unauthenticated_endpoints_is_a_scim_405_listing_get(
    app: Any, path: str
) -> None:
    response = app.test_client().options(path)
    assert response.status_code == 405
    assert response.mimetype == "application/scim+json"
    assert "GET" in response.headers["Allow"]
    assert app.test_client().get(path).status_code == 200
