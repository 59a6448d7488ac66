"""The admin console through the Flask test client, on SQLite and PostgreSQL.

Sign-in, sessions, CSRF, throttling and tenant isolation first; then each page.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from .admin_support import (
    PASSWORD,
    Tenant,
    admin_store,
    create_service,
    create_user,
    csrf_from,
    make_app,
    new_admin,
    new_tenant,
    page_token,
    sign_in,
    start_import,
    upload_csv,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _text(response: Any) -> str:
    return str(response.get_data(as_text=True))


# -- sign-in, sessions, CSRF, throttling -------------------------------------------------


def test_sign_in_sets_httponly_samesite_secure_session_cookie(console_app: Any) -> None:
    t = new_tenant(console_app)
    client = console_app.test_client()
    response = sign_in(client, new_admin(console_app, t))
    assert response.status_code == 302
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if "scimserver_admin=" in c)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    assert "Path=/admin" in cookie
    assert client.get(response.headers["Location"], follow_redirects=True).status_code == 200


def test_pages_carry_an_empty_icon_so_browsers_do_not_request_a_missing_favicon(
    console_app: Any,
) -> None:
    html = _text(console_app.test_client().get("/admin/login"))
    assert '<link rel="icon" href="data:,">' in html  # allowed by img-src 'self' data:


def test_cookie_is_not_secure_when_public_url_is_http(database_url: str) -> None:
    app = make_app(database_url, public_url="http://127.0.0.1:8000")
    t = new_tenant(app)
    response = sign_in(app.test_client(), new_admin(app, t))
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if "scimserver_admin=" in c)
    assert "Secure" not in cookie and "HttpOnly" in cookie


def test_wrong_password_and_unknown_email_get_the_same_generic_message(
    console_app: Any, tenant: Tenant
) -> None:
    email = new_admin(console_app, tenant)
    wrong = sign_in(console_app.test_client(), email, "not the password at all")
    unknown = sign_in(console_app.test_client(), "nobody@example.com", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert "The email or password is incorrect." in _text(wrong)
    assert "The email or password is incorrect." in _text(unknown)
    assert "scimserver_admin=" not in " ".join(wrong.headers.getlist("Set-Cookie"))


def test_sixth_attempt_within_the_window_is_throttled_even_with_the_right_password(
    console_app: Any, tenant: Tenant
) -> None:
    email = new_admin(console_app, tenant)
    client = console_app.test_client()
    for _ in range(5):
        assert sign_in(client, email, "wrong password!!").status_code == 401
    blocked = sign_in(client, email, PASSWORD)
    assert blocked.status_code == 429
    assert "Too many failed attempts" in _text(blocked)
    assert int(blocked.headers["Retry-After"]) > 0
    # another email from the same address is not affected
    other = new_admin(console_app, tenant)
    assert sign_in(client, other).status_code == 302


def test_post_without_csrf_token_is_refused_with_400(console_app: Any, tenant: Tenant) -> None:
    email = new_admin(console_app, tenant)
    client = console_app.test_client()
    client.get("/admin/login")
    refused = client.post("/admin/login", data={"email": email, "password": PASSWORD})
    assert refused.status_code == 400
    assert "security token" in _text(refused)


def test_signed_in_post_with_forged_csrf_token_is_refused_and_changes_nothing(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    store = console_app.extensions["scimcore"]["store"]
    before = store.token_info(tenant.id)
    for data in ({"confirm": "yes"}, {"confirm": "yes", "csrf_token": "forged"}):
        response = client.post(f"/admin/o/{tenant.slug}/settings/scim/generate", data=data)
        assert response.status_code == 400
    assert store.token_info(tenant.id) == before


def test_anonymous_visitor_is_sent_to_sign_in_and_back(console_app: Any, tenant: Tenant) -> None:
    client = console_app.test_client()
    target = f"/admin/o/{tenant.slug}/users"
    response = client.get(target)
    assert response.status_code == 302
    assert "/admin/login?next=" in response.headers["Location"]
    signed = sign_in(client, new_admin(console_app, tenant), next=target)
    assert signed.headers["Location"] == target


def test_next_parameter_never_redirects_off_the_console(console_app: Any, tenant: Tenant) -> None:
    client = console_app.test_client()
    for target in ("https://evil.example.com/", "//evil.example.com/admin/", "/scim/v2"):
        response = sign_in(client, new_admin(console_app, tenant), next=target)
        assert response.headers["Location"] == "/admin/"
        token = page_token(client, f"/admin/o/{tenant.slug}/users")
        client.post("/admin/logout", data={"csrf_token": token})


@pytest.mark.parametrize(
    "target",
    [
        "/admin/\r\nSet-Cookie: x=1",
        "/admin/\n",
        "/admin/\t",
        "/admin/\x00",
        "/admin/ x",
        "/admin/\u00e9",
        "/admin/../scim/v2",
        "/admin//evil.example.com",
    ],
)
def test_next_with_a_control_character_or_an_unsafe_path_falls_back_to_the_console(
    console_app: Any, tenant: Tenant, target: str
) -> None:
    """An attack run's ``next=/admin/%0D%0A`` made sign-in (and a signed-in visit to the
    login page) a 500: the redirect cannot carry a newline."""
    client = console_app.test_client()
    token = page_token(client, "/admin/login")
    email = new_admin(console_app, tenant)
    response = client.post(
        "/admin/login",
        query_string={"next": target},
        data={"csrf_token": token, "email": email, "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    again = client.get("/admin/login", query_string={"next": target})
    assert again.status_code == 302
    assert again.headers["Location"] == "/admin/"


def test_sign_out_ends_the_session_on_the_server(client: Any, tenant: Tenant) -> None:
    token = page_token(client, f"/admin/o/{tenant.slug}/users")
    cookie = client.get_cookie("scimserver_admin", path="/admin").value
    assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    client.set_cookie("scimserver_admin", cookie, path="/admin")
    assert client.get(f"/admin/o/{tenant.slug}/users").status_code == 302


def test_expired_session_asks_to_sign_in_again(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    from scimcore.storage.sql.tables import admin_sessions

    with admin_store(console_app).engine.begin() as conn:
        conn.execute(
            sa.update(admin_sessions).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    response = client.get(f"/admin/o/{tenant.slug}/users", follow_redirects=True)
    assert "Your session has ended. Sign in again." in _text(response)


def test_admin_of_one_organization_gets_404_for_another_organizations_pages(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    other = new_tenant(console_app)
    user = create_user(console_app.test_client(), other, "secret.person@example.com")
    for path in (
        f"/admin/o/{other.slug}/settings/scim",
        f"/admin/o/{other.slug}/settings/scim/generate",
        f"/admin/o/{other.slug}/users",
        f"/admin/o/{other.slug}/users/{user['id']}",
        f"/admin/o/{other.slug}/groups",
        f"/admin/o/{other.slug}/csv",
        f"/admin/o/{other.slug}/integrations",
        f"/admin/o/{other.slug}/activity",
        f"/admin/o/{other.slug}/csv/export?kind=users",
        "/admin/o/no-such-org/users",
        f"/admin/o/{tenant.slug}/users/{user['id']}",  # the other org's user via my org
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "secret.person" not in _text(response)
    token = page_token(client, f"/admin/o/{tenant.slug}/settings/scim")
    posted = client.post(
        f"/admin/o/{other.slug}/settings/scim/generate",
        data={"csrf_token": token, "confirm": "yes"},
    )
    assert posted.status_code == 404


def test_console_pages_send_security_headers_and_are_not_cached(
    client: Any, tenant: Tenant
) -> None:
    response = client.get(f"/admin/o/{tenant.slug}/settings/scim")
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_unknown_console_url_gets_an_html_404(client: Any) -> None:
    response = client.get("/admin/nothing/here")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


@pytest.mark.parametrize(
    "path", ["/admin/o//users", "/admin/static//x.css", "/admin/docs//etc/passwd"]
)
def test_an_empty_path_segment_in_the_console_is_its_html_404(client: Any, path: str) -> None:
    """These were a 500 "Unexpected error" with a traceback in the log."""
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "There is no such page" in _text(response)


def test_admin_with_several_organizations_picks_one(console_app: Any) -> None:
    a, b = new_tenant(console_app), new_tenant(console_app)
    client = console_app.test_client()
    sign_in(client, new_admin(console_app, a, b))
    html = _text(client.get("/admin/"))
    assert a.slug in html and b.slug in html
    switched = client.get(f"/admin/switch?to={b.slug}")
    assert switched.headers["Location"].endswith(f"/admin/o/{b.slug}/")  # its dashboard


# -- Settings > SCIM ---------------------------------------------------------------------


def test_scim_settings_show_tenant_url_copy_button_and_token_state(
    client: Any, tenant: Tenant
) -> None:
    html = _text(client.get(f"/admin/o/{tenant.slug}/settings/scim"))
    assert f"https://scim.example.com/scim/v2/organizations/{tenant.slug}" in html
    assert 'data-copy="tenant-url"' in html
    assert tenant.token[:12] in html and tenant.token not in html
    assert "active" in html and "Okta" in html and "Entra" in html


def test_generate_asks_first_then_shows_the_new_token_once_and_the_old_one_dies(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    path = f"/admin/o/{tenant.slug}/settings/scim/generate"
    confirm = client.get(path)
    assert "stops working immediately" in _text(confirm)
    response = client.post(path, data={"csrf_token": csrf_from(_text(confirm)), "confirm": "yes"})
    assert response.status_code == 303  # post, redirect, get: a reload cannot post again
    shown_at = response.headers["Location"]
    assert "scim_" not in shown_at and "scim_" not in response.headers["Set-Cookie"]
    html = _text(client.get(shown_at))
    new_token = re.search(r'id="new-token" readonly value="(scim_[^"]+)"', html)
    assert new_token, html
    assert "The previous token has stopped working" in html
    scim = console_app.test_client()
    users = f"/scim/v2/organizations/{tenant.slug}/Users"
    old = scim.get(users, headers={"Authorization": f"Bearer {tenant.token}"})
    new = scim.get(users, headers={"Authorization": f"Bearer {new_token.group(1)}"})
    assert (old.status_code, new.status_code) == (401, 200)
    reloaded = _text(client.get(shown_at))
    assert new_token.group(1) not in reloaded and "was shown once" in reloaded
    still = scim.get(users, headers={"Authorization": f"Bearer {new_token.group(1)}"})
    assert still.status_code == 200  # the reload issued no other token
    assert _text(client.get(f"/admin/o/{tenant.slug}/activity")).count("token generated") == 1
    again = _text(client.get(f"/admin/o/{tenant.slug}/settings/scim"))
    assert new_token.group(1) not in again and "was shown once" not in again


def test_a_new_token_is_shown_only_to_the_session_that_generated_it(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    """The handover cookie is sealed with the admin's session cookie: copied into
    another signed-in browser, it shows nothing."""
    path = f"/admin/o/{tenant.slug}/settings/scim/generate"
    confirm = _text(client.get(path))
    response = client.post(path, data={"csrf_token": csrf_from(confirm), "confirm": "yes"})
    sealed = re.search(r"scimserver_new_token=([^;]+)", response.headers["Set-Cookie"])
    assert sealed
    other = console_app.test_client()
    sign_in(other, new_admin(console_app, tenant))
    other.set_cookie("scimserver_new_token", sealed.group(1), path="/admin")
    stolen = _text(other.get(response.headers["Location"]))
    assert 'id="new-token"' not in stolen and "was shown once" in stolen
    assert 'id="new-token"' in _text(client.get(response.headers["Location"]))


def test_revoke_stops_the_token(client: Any, console_app: Any, tenant: Tenant) -> None:
    path = f"/admin/o/{tenant.slug}/settings/scim/revoke"
    token = csrf_from(_text(client.get(path)))
    response = client.post(path, data={"csrf_token": token, "confirm": "yes"})
    assert response.status_code == 302
    assert "revoked" in _text(client.get(response.headers["Location"]))
    scim = console_app.test_client().get(
        f"/scim/v2/organizations/{tenant.slug}/Users",
        headers={"Authorization": f"Bearer {tenant.token}"},
    )
    assert scim.status_code == 401


# -- Users and Groups ----------------------------------------------------------------------


def test_users_list_finds_a_plain_word_at_the_start_of_username_or_displayname(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    scim = console_app.test_client()
    create_user(scim, tenant, "alice@example.com", displayName="Alice A")
    create_user(scim, tenant, "bob@example.com", displayName="Zebra Bob")
    create_user(scim, tenant, "carol@example.com", emails=[{"value": "zebra@corp.example"}])
    create_user(scim, tenant, "zebra.eve@example.com")
    create_user(scim, tenant, "dave@example.com", displayName="Dave Zebra")
    html = _text(client.get(f"/admin/o/{tenant.slug}/users?q=ZEBRA"))
    assert "bob@example.com" in html and "zebra.eve@example.com" in html
    for other in ("alice@example.com", "dave@example.com", "carol@example.com"):
        assert other not in html
    assert "2 users match" in html
    assert "<em>starts with</em> it" in html  # the hint says what a word matches
    substring = _text(client.get(f'/admin/o/{tenant.slug}/users?q=displayName co "zebra"'))
    assert "dave@example.com" in substring and "bob@example.com" in substring
    assert "2 users match" in substring


def test_users_list_accepts_a_scim_filter_and_explains_a_bad_one(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    scim = console_app.test_client()
    create_user(scim, tenant, "on@example.com")
    create_user(scim, tenant, "off@example.com", active=False)
    html = _text(client.get(f"/admin/o/{tenant.slug}/users", query_string={"q": "active eq false"}))
    assert "off@example.com" in html and "on@example.com" not in html
    bad = _text(client.get(f"/admin/o/{tenant.slug}/users", query_string={"q": 'userName eq "x'}))
    assert "Filter error" in bad


def test_users_list_sorts_and_pages_by_keyset(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    scim = console_app.test_client()
    for i in range(55):
        create_user(scim, tenant, f"user{i:02d}@example.com")
    first = _text(client.get(f"/admin/o/{tenant.slug}/users?sort=userName&order=desc"))
    assert first.index("user54@") < first.index("user53@")
    assert "55 users match; showing 1\u201350." in first
    next_url = re.search(r'href="([^"]+)" rel="next"', first)
    assert next_url
    second = _text(client.get(next_url.group(1).replace("&amp;", "&")))
    assert "showing 51\u201355." in second and "user04@" in second and "user05@" not in second
    assert 'rel="next"' not in second and "First page" in second


def test_user_detail_shows_groups_and_service_accounts_with_html_escaped(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    scim = console_app.test_client()
    user = create_user(scim, tenant, "test@example.com", displayName="<script>alert(1)</script>")
    group = scim.post(
        f"/scim/v2/organizations/{tenant.slug}/Groups",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Sales <b>team</b>",
            "members": [{"value": user["id"]}],
        },
        headers={"Authorization": f"Bearer {tenant.token}"},
    )
    assert group.status_code == 201
    create_service(console_app, tenant, "Google Workspace", "google_workspace")
    csv_data = (
        b"operation,serviceDisplayName,userId,accountId,mailProxyActive\n"
        b"CREATE,Google Workspace,test@example.com,test@example.com,TRUE\n"
    )
    preview = upload_csv(client, tenant, csv_data, "service-accounts")
    start_import(client, _text(preview))
    html = _text(client.get(f"/admin/o/{tenant.slug}/users/{user['id']}"))
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Sales &lt;b&gt;team&lt;/b&gt;" in html
    assert "Google Workspace" in html and "mail proxy on" in html
    listing = _text(client.get(f"/admin/o/{tenant.slug}/users"))
    assert "<script>alert(1)</script>" not in listing


def test_groups_list_and_detail(client: Any, console_app: Any, tenant: Tenant) -> None:
    scim = console_app.test_client()
    user = create_user(scim, tenant, "member@example.com")
    created = scim.post(
        f"/scim/v2/organizations/{tenant.slug}/Groups",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Engineering",
            "members": [{"value": user["id"]}],
        },
        headers={"Authorization": f"Bearer {tenant.token}"},
    ).get_json()
    listing = _text(client.get(f"/admin/o/{tenant.slug}/groups?q=engin"))
    assert "Engineering" in listing
    detail = _text(client.get(f"/admin/o/{tenant.slug}/groups/{created['id']}"))
    assert "member@example.com" in detail and "Members (1)" in detail
    assert client.get(f"/admin/o/{tenant.slug}/groups/nope").status_code == 404


def test_group_members_are_shown_with_their_current_names(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    """The page showed the ``display`` the IdP sent when it added the member."""
    scim = console_app.test_client()
    auth = {"Authorization": f"Bearer {tenant.token}"}
    user = create_user(scim, tenant, "renamed@example.com", displayName="Old Name")
    created = scim.post(
        f"/scim/v2/organizations/{tenant.slug}/Groups",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Sales",
            "members": [{"value": user["id"], "display": "Old Name"}],
        },
        headers=auth,
    ).get_json()
    renamed = scim.patch(
        f"/scim/v2/organizations/{tenant.slug}/Users/{user['id']}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": "山田 花子"}],
        },
        headers=auth,
    )
    assert renamed.status_code == 200
    detail = _text(client.get(f"/admin/o/{tenant.slug}/groups/{created['id']}"))
    assert ">山田 花子</a>" in detail and "Old Name" not in detail
    assert "renamed@example.com" in detail


# -- CSV -----------------------------------------------------------------------------------


def test_sample_service_account_csv_preview_then_start_then_result_csv(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    scim = console_app.test_client()
    create_user(scim, tenant, "test@example.com")
    create_user(scim, tenant, "hanako.yamada@example.com")
    create_service(console_app, tenant, "Google Workspace", "google_workspace")
    create_service(console_app, tenant, "Microsoft 365", "microsoft_365", "E3 標準")
    create_service(console_app, tenant, "cybozu.com", "cybozu", "Garoon")
    create_service(console_app, tenant, "社内ポータル", "form_based")
    create_service(console_app, tenant, "Slack", "scim2")
    sample = (SAMPLES / "service-accounts.csv").read_bytes()
    preview = upload_csv(client, tenant, sample, "service-accounts", "service-accounts.csv")
    html = _text(preview)
    assert preview.status_code == 200
    assert "dry run: nothing was written" in html
    assert re.search(r"<strong>6</strong> created", html)
    accounts = console_app.extensions["scimserver_admin"].accounts
    with accounts.accounts(tenant.id, readonly=True) as session:
        assert list(session.iter_accounts()) == []
    job = _text(start_import(client, html))
    assert re.search(r"<strong>6</strong> created", job) and "Download the result CSV" in job
    result_url = re.search(r'href="([^"]+result\.csv)"', job)
    assert result_url
    result = client.get(result_url.group(1))
    assert result.mimetype == "text/csv"
    body = result.get_data(as_text=True)
    assert '"result","errorCode","message"' in body and "p@ss" not in body
    assert not result.get_data().startswith(codecs.BOM_UTF8)
    # for Excel, which shows UTF-8 Japanese as mojibake without a BOM
    excel_url = re.search(r'href="([^"]+result\.csv\?bom=1)"[^>]*>Download the result CSV for', job)
    assert excel_url
    excel = client.get(excel_url.group(1).replace("&amp;", "&")).get_data()
    assert excel == codecs.BOM_UTF8 + result.get_data()
    with accounts.accounts(tenant.id, readonly=True) as session:
        assert len(list(session.iter_accounts())) == 6


def test_csv_preview_lists_row_problems_and_start_applies_only_good_rows(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    create_user(console_app.test_client(), tenant, "test@example.com")
    data = (
        b"operation,userName,displayName\n"
        b"CREATE,new.person@example.com,New Person\n"
        b"CREATE,test@example.com,Taken\n"
        b"BOGUS,x@example.com,X\n"
    )
    html = _text(upload_csv(client, tenant, data, "users"))
    assert "ALREADY_EXISTS" in html and "INVALID_OPERATION" in html
    assert "2 with problems" in html
    job = _text(start_import(client, html))
    assert re.search(r"<strong>1</strong> created", job)
    users = _text(client.get(f"/admin/o/{tenant.slug}/users"))
    assert "new.person@example.com" in users


def test_csv_preview_where_every_row_fails_offers_no_start(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    create_user(console_app.test_client(), tenant, "test@example.com")
    data = b"operation,userName\nCREATE,test@example.com\nBOGUS,x@example.com\n"
    html = _text(upload_csv(client, tenant, data, "users"))
    assert "2 with problems" in html
    assert re.search(r'<button type="submit" disabled[^>]*>Start import</button>', html)
    assert "Nothing to start: no row would change (every row has a problem)" in html
    action = re.search(r'action="([^"]+/start)"', html)
    key = re.search(r'name="job_key" value="([^"]+)"', html)
    assert action and key
    forced = client.post(
        action.group(1), data={"csrf_token": csrf_from(html), "job_key": key.group(1)}
    )
    assert forced.status_code == 400
    assert [j.status for j in admin_store(console_app).jobs(tenant.id)] == ["pending"]
    good = _text(
        upload_csv(client, tenant, b"operation,userName\nCREATE,ok@example.com\n", "users")
    )
    assert "Nothing to start" not in good
    assert re.search(r'<button type="submit">Start import</button>', good)


def test_csv_preview_of_rows_that_change_nothing_offers_no_start_and_says_why(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    create_user(console_app.test_client(), tenant, "test@example.com", displayName="Test")
    data = b"operation,userName,displayName\nUPDATE,test@example.com,Test\n"
    html = _text(upload_csv(client, tenant, data, "users"))
    assert re.search(r"<strong>1</strong> unchanged", html)
    assert "Nothing to start: no row would change (every row matches what is stored)." in html
    assert "Correct the rows" not in html  # nothing to correct


def test_malformed_csv_is_rejected_with_every_problem_and_nothing_is_stored(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    response = upload_csv(client, tenant, b"operation;userName\nCREATE;a@example.com\n", "users")
    assert response.status_code == 422
    assert "semicolon" in _text(response) and "nothing was imported" in _text(response)
    assert admin_store(console_app).jobs(tenant.id) == []
    sjis = upload_csv(
        client, tenant, "operation,userName\nCREATE,山田\n".encode("shift_jis"), "users"
    )
    assert sjis.status_code == 422 and "UTF-8" in _text(sjis)


def test_oversized_upload_gets_a_clear_413_page(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    console = console_app.extensions["scimserver_admin"]
    object.__setattr__(console, "upload_limit", 1000)
    response = upload_csv(client, tenant, b"operation,userName\n" + b"x" * 5000, "users")
    assert response.status_code == 413
    assert "Nothing was imported" in _text(response)
    assert admin_store(console_app).jobs(tenant.id) == []


def test_a_preview_cannot_be_started_without_its_key_or_twice(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    html = _text(upload_csv(client, tenant, b"operation,userName\nCREATE,k@example.com\n", "users"))
    action = re.search(r'action="([^"]+/start)"', html)
    assert action
    wrong = client.post(action.group(1), data={"csrf_token": csrf_from(html), "job_key": "x"})
    assert wrong.status_code == 400
    start_import(client, html)
    again = start_import(client, html)  # already done: just shows the result
    assert re.search(r"<strong>1</strong> created", _text(again))


def test_export_with_and_without_bom(client: Any, console_app: Any, tenant: Tenant) -> None:
    create_user(console_app.test_client(), tenant, "=cmd@example.com")
    plain = client.get(f"/admin/o/{tenant.slug}/csv/export?kind=users")
    bom = client.get(f"/admin/o/{tenant.slug}/csv/export?kind=users&bom=1")
    assert plain.mimetype == "text/csv" and "attachment" in plain.headers["Content-Disposition"]
    assert not plain.data.startswith(b"\xef\xbb\xbf") and bom.data.startswith(b"\xef\xbb\xbf")
    assert b"'=cmd@example.com" in plain.data
    accounts = client.get(f"/admin/o/{tenant.slug}/csv/export?kind=service-accounts")
    assert accounts.data.startswith(b'"operation","serviceDisplayName"')


# -- integrations, activity ----------------------------------------------------------------


def test_integrations_list_and_accounts_filter(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    create_service(console_app, tenant, "Slack <prod>", "scim2")
    html = _text(client.get(f"/admin/o/{tenant.slug}/integrations"))
    assert "Slack &lt;prod&gt;" in html and "active" in html
    link = re.search(r'href="(/admin/o/[^"]+/integrations/\d+)"', html)
    assert link
    detail = client.get(link.group(1) + "?link=unlinked")
    assert detail.status_code == 200 and "No accounts." in _text(detail)
    assert client.get(f"/admin/o/{tenant.slug}/integrations/999999").status_code == 404


def test_a_user_updated_by_a_console_csv_shows_in_activity_and_on_the_user_page(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    user = create_user(console_app.test_client(), tenant, "csv.edit@example.com")
    data = b"operation,userName,displayName\nUPDATE,csv.edit@example.com,Edited By CSV\n"
    job = _text(start_import(client, _text(upload_csv(client, tenant, data, "users"))))
    assert re.search(r"<strong>1</strong> updated", job)
    row = r"<td>CSV</td>\s*<td>User updated</td>"
    assert re.search(row, _text(client.get(f"/admin/o/{tenant.slug}/activity")))
    page = _text(client.get(f"/admin/o/{tenant.slug}/users/{user['id']}"))
    assert "Edited By CSV" in page and re.search(row, page)


def test_activity_records_sign_in_token_generation_and_csv_jobs(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    path = f"/admin/o/{tenant.slug}/settings/scim/generate"
    client.post(path, data={"csrf_token": page_token(client, path), "confirm": "yes"})
    one_row = b"operation,userName\nCREATE,activity@example.com\n"
    start_import(client, _text(upload_csv(client, tenant, one_row, "users")))
    html = _text(client.get(f"/admin/o/{tenant.slug}/activity"))
    for action in ("sign in", "token generated", "csv previewed", "csv imported"):
        assert action in html, action
    # an import's counts read as words, not as a Python dict
    counts = "counts: created 1, updated 0, unchanged 0, deleted 0, skipped 0, failed 0"
    assert counts in html and "{&#39;" not in html  # in this order on every database
    other = new_tenant(console_app)
    outsider = console_app.test_client()
    sign_in(outsider, new_admin(console_app, other))
    assert "token generated" not in _text(outsider.get(f"/admin/o/{other.slug}/activity"))
    filtered = _text(client.get(f"/admin/o/{tenant.slug}/activity?actor=nobody@example.com"))
    assert "Nothing recorded for this filter" in filtered


def test_a_user_updated_by_a_console_csv_shows_the_change_in_activity_and_on_their_page(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    """Every change is shown, whatever path made it: the CLI, SCIM, or a CSV uploaded here."""
    user = create_user(console_app.test_client(), tenant, "csv.update@example.com")
    data = b"operation,userName,displayName\nUPDATE,csv.update@example.com,After Csv\n"
    start_import(client, _text(upload_csv(client, tenant, data, "users")))
    for path in ("activity", f"users/{user['id']}"):
        rows = re.findall(r"<tr.*?</tr>", _text(client.get(f"/admin/o/{tenant.slug}/{path}")), re.S)
        updated = [r for r in rows if "User updated" in r and "After Csv" in r]
        assert len(updated) == 1, path
        assert ">CSV<" in updated[0], path


def test_a_csv_job_seen_finished_is_already_in_the_activity_log(
    client: Any, console_app: Any, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job was marked finished before its "csv imported" record was written, so a
    page read in between (the activity test, once in a full run) missed it. A slow
    activity write makes that window wide."""
    store = admin_store(console_app)
    original = store.record

    def slow_record(*args: Any, **kwargs: Any) -> Any:
        if "csv.imported" in args:
            time.sleep(0.5)
        return original(*args, **kwargs)

    monkeypatch.setattr(store, "record", slow_record)
    one_row = b"operation,userName\nCREATE,slow-activity@example.com\n"
    start_import(client, _text(upload_csv(client, tenant, one_row, "users")))
    assert "csv imported" in _text(client.get(f"/admin/o/{tenant.slug}/activity"))


# -- CLI -----------------------------------------------------------------------------------


def test_cli_admins_create_reads_the_password_from_stdin_never_argv(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from scimserver.cli import main

    app = make_app(database_url)
    t = new_tenant(app)
    monkeypatch.setenv("SCIMSERVER_DATABASE_URL", database_url)
    runner = CliRunner()
    short = runner.invoke(main, ["admins", "create", "a@example.com", "--org", t.slug], input="x\n")
    assert short.exit_code != 0 and "at least 12" in short.output
    done = runner.invoke(
        main, ["admins", "create", "Ops@Example.com", "--org", t.slug], input=PASSWORD + "\n"
    )
    assert done.exit_code == 0, done.output
    assert PASSWORD not in done.output
    assert sign_in(app.test_client(), "ops@example.com").status_code == 302
    listed = runner.invoke(main, ["admins", "list", "--json"])
    assert '"ops@example.com"' in listed.output and t.slug in listed.output
    table = runner.invoke(main, ["admins", "list"])
    assert table.exit_code == 0, table.output
    assert f"ops@example.com\t{t.slug}\n" in table.output


def test_guides_render_their_markdown_safely() -> None:
    from scimserver.admin.markdown import render

    html = str(
        render(
            "# T <b>\n\n1. **Save** [x](javascript:alert(1)) [y](okta.md#a)\n"
            '   and `<i>|` more\n\n| a | b |\n|---|---|\n| `x|y` | [z](https://e.x/?q="1) |\n'
        )
    )
    assert "<h1>T &lt;b&gt;</h1>" in html and "<b>" not in html
    assert "<li><strong>Save</strong> x) " in html and "javascript" not in html
    assert '<a href="/admin/docs/okta#a">y</a>' in html and "<code>&lt;i&gt;|</code>" in html
    assert '<th scope="col">a</th>' in html and "<td><code>x|y</code></td>" in html
    assert '<a href="https://e.x/?q=&quot;1">z</a>' in html


def test_idp_how_to_links_to_the_full_guides_served_read_only(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    html = _text(client.get(f"/admin/o/{tenant.slug}/settings/scim"))
    assert '<a href="/admin/docs/okta">docs/okta.md</a>' in html
    assert '<a href="/admin/docs/entra">docs/entra.md</a>' in html
    for name, title in (("okta", "Connecting Okta"), ("entra", "Connecting Microsoft Entra ID")):
        guide = client.get(f"/admin/docs/{name}")
        assert guide.status_code == 200 and guide.mimetype == "text/html"
        html = _text(guide)
        assert f"<h1>{title}</h1>" in html  # rendered, not shown as Markdown source
        assert "<strong>Generate</strong>" in html and "<table>" in html
        assert '<a href="/admin/docs/configuration">configuration</a>' in html
    for bad in ("../README", "..%2FREADME", "Okta", "nope", "okta.md"):
        assert client.get(f"/admin/docs/{bad}").status_code == 404, bad
    assert console_app.test_client().get("/admin/docs/okta").status_code == 302  # sign in first


def test_cli_orgs_create_says_when_the_tenant_url_is_a_guess(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run on another port, the service is not where the printed URL says; without
    SCIMSERVER_PUBLIC_URL the command line cannot know, and now says so."""
    import json

    from click.testing import CliRunner

    from scimserver.cli import main

    monkeypatch.setenv("SCIMSERVER_DATABASE_URL", database_url)
    monkeypatch.delenv("SCIMSERVER_PUBLIC_URL", raising=False)
    runner = CliRunner()
    guessed = runner.invoke(main, ["orgs", "create", "Guess Corp"])
    assert guessed.exit_code == 0, guessed.output
    assert "assumed: SCIMSERVER_PUBLIC_URL is not set" in guessed.output
    assert "Settings > SCIM" in guessed.output
    monkeypatch.setenv("SCIMSERVER_PUBLIC_URL", "https://scim.example.com")
    known = runner.invoke(main, ["orgs", "create", "Known Corp", "--json"])
    data = json.loads(known.output)
    assert data["tenant_url"] == "https://scim.example.com/scim/v2/organizations/known-corp"
    assert data["tenant_url_assumed"] is False


def test_csv_templates_name_each_service_and_import_once_the_example_user_exists(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    """A template row per service with that service's columns filled in: replace the
    example user with a real one and it imports as it is."""
    create_service(console_app, tenant, "Google Workspace", "google_workspace")
    create_service(console_app, tenant, "Microsoft 365", "microsoft_365", "E3 標準")
    create_service(console_app, tenant, "Portal", "form_based")
    page_html = _text(client.get(f"/admin/o/{tenant.slug}/csv"))
    link = re.search(r'href="([^"]+csv/template\?kind=service-accounts[^"]*)"', page_html)
    assert link
    template = client.get(link.group(1).replace("&amp;", "&")).get_data()
    assert template.startswith(codecs.BOM_UTF8)
    rows = list(csv.DictReader(io.StringIO(template.decode("utf-8-sig"))))
    by_service = {r["serviceDisplayName"]: r for r in rows}
    assert set(by_service) == {"Google Workspace", "Microsoft 365", "Portal"}
    assert by_service["Google Workspace"]["mailProxyActive"] == "FALSE"
    assert by_service["Microsoft 365"]["licenseProfile"] == "E3 標準"
    assert by_service["Microsoft 365"]["mailProxyActive"] == ""
    assert "lastAccessTime" not in rows[0]  # export-only: an import ignores it
    create_user(console_app.test_client(), tenant, "real.person@example.com")
    filled = template.decode("utf-8-sig").replace("user@example.com", "real.person@example.com")
    filled = filled.replace("(the account's password)", "Portal-Pa55word!")
    job = _text(
        start_import(client, _text(upload_csv(client, tenant, filled.encode(), "service-accounts")))
    )
    assert re.search(r"<strong>3</strong> created", job), job
    users = client.get(f"/admin/o/{tenant.slug}/csv/template?kind=users").get_data()
    (example,) = list(csv.DictReader(io.StringIO(users.decode("utf-8"))))
    assert example["lastName"] == "山田" and example["userName"] == "user@example.com"


def test_activity_says_what_changed_in_words_without_internal_ids(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    scim = console_app.test_client()
    user = create_user(scim, tenant, "words@example.com", displayName="Before Name")
    scim.patch(
        f"/scim/v2/organizations/{tenant.slug}/Users/{user['id']}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": "After Name"}],
        },
        headers={"Authorization": f"Bearer {tenant.token}"},
    )
    html = _text(client.get(f"/admin/o/{tenant.slug}/activity"))
    rows = re.findall(r"<tr>.*?</tr>", html, re.S)
    (updated,) = [r for r in rows if "User updated" in r]
    assert "displayName: Before Name → After Name" in updated
    shown = re.sub(r"<[^>]+>", " ", html)
    assert user["id"] not in shown  # the user is named (and linked), never shown by id


def test_users_list_is_by_name_filters_by_status_and_pages_back(
    client: Any, console_app: Any, tenant: Tenant
) -> None:
    scim = console_app.test_client()
    for i in range(60):
        create_user(scim, tenant, f"u{59 - i:02d}@example.com", active=i % 10 != 0)
    first = _text(client.get(f"/admin/o/{tenant.slug}/users"))
    assert first.index("u00@") < first.index("u01@") < first.index("u49@")  # by userName
    assert "60 users match; showing 1\u201350." in first
    second_url = re.search(r'href="([^"]+)" rel="next"', first)
    assert second_url
    second = _text(client.get(second_url.group(1).replace("&amp;", "&")))
    assert "showing 51\u201360." in second and "u50@" in second
    back = re.search(r'href="([^"]+)" rel="prev"', second)
    assert back
    again = _text(client.get(back.group(1).replace("&amp;", "&")))
    assert "showing 1\u201350." in again and "u00@" in again and 'rel="prev"' not in again
    inactive = _text(client.get(f"/admin/o/{tenant.slug}/users?status=inactive"))
    assert "6 users match; showing 1\u20136." in inactive
    assert "u59@" in inactive and "u58@" not in inactive
    both = _text(client.get(f"/admin/o/{tenant.slug}/users?status=active&q=u5"))
    assert "9 users match" in both and "u59@" not in both
