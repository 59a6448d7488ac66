"""A value stored before it would be refused never takes a page down.

Before the request boundary refused lone UTF-16 surrogates, SQLite kept one inside a
user's stored document (PostgreSQL's jsonb never could), and from then on every list
of the organization answered 500. A database upgraded from such a version still holds
the value: the lists, the user's GET and the console's pages must answer, showing the
value escaped, until someone fixes it.
"""

from __future__ import annotations

from typing import Any

from .admin_support import Tenant, create_user, make_app, new_admin, new_tenant, sign_in


def _plant_lone_surrogate(app: Any, user_id: str) -> None:
    """Write ``nickName: "\\ud800"`` into the stored document, as SQLite kept it."""
    engine = app.extensions["scimcore"]["store"].engine
    with engine.begin() as conn:
        select = "SELECT data FROM resources WHERE id = ?"
        text = conn.exec_driver_sql(select, (user_id,)).scalar()
        planted = text.replace('"nickName": "odd"', '"nickName": "\\ud800"')
        assert planted != text
        conn.exec_driver_sql("UPDATE resources SET data = ? WHERE id = ?", (planted, user_id))


def test_a_stored_lone_surrogate_is_shown_escaped_and_every_page_answers(
    tmp_path: Any,
) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'scim.db'}")
    tenant: Tenant = new_tenant(app)
    client = app.test_client()
    user = create_user(client, tenant, "odd@example.com", nickName="odd")
    create_user(client, tenant, "plain@example.com")
    _plant_lone_surrogate(app, user["id"])

    scim = f"/scim/v2/organizations/{tenant.slug}"
    auth = {"Authorization": f"Bearer {tenant.token}"}
    for path in ("/Users", f"/Users/{user['id']}", "/Users?cursor=", "/Users?sortBy=nickName"):
        response = client.get(scim + path, headers=auth)
        assert response.status_code == 200, (path, response.get_data(as_text=True))
        assert b'"\\ud800"' in response.get_data(), "written escaped: valid JSON text"
    assert sign_in(client, new_admin(app, tenant)).status_code == 302
    for page in (f"/admin/o/{tenant.slug}/users", f"/admin/o/{tenant.slug}/users/{user['id']}"):
        response = client.get(page)
        assert response.status_code == 200, (page, response.status_code)
