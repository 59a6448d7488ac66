"""The console's reported bugs, each reproduced in Debian's Chromium against the live
service, at 1280 px and 390 px: what the admin saw, and what they see now."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import LiveServer, Org
from .test_admin_console_e2e import PASSWORD, _admin, _scim, browser, pytestmark  # noqa: F401

WIDTHS = (1280, 390)


@pytest.fixture(scope="module")
def signed_in(live_server: LiveServer, browser: Any) -> Iterator[tuple[Org, dict[int, Any]]]:  # noqa: F811
    """One organization and a signed-in page per width."""
    org = live_server.create_org("fixes")
    email = _admin(live_server, org)
    pages: dict[int, Any] = {}
    contexts = []
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 844})
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{live_server.base_url}/admin/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(rf".*/admin/o/{org.slug}/$"))  # the dashboard
        pages[width] = page
    yield org, pages
    for context in contexts:
        context.close()


def _user(scim: Any, org: Org, user_name: str, display_name: str) -> dict[str, Any]:
    response = scim.post(
        f"{org.tenant_url}/Users",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
            "displayName": display_name,
        },
        timeout=15,
    )
    response.raise_for_status()
    return dict(response.json())


def _rename(scim: Any, org: Org, user: dict[str, Any], display_name: str) -> None:
    scim.patch(
        f"{org.tenant_url}/Users/{user['id']}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": display_name}],
        },
        timeout=15,
    ).raise_for_status()


@pytest.mark.parametrize("width", WIDTHS)
def test_a_disabled_start_import_button_looks_disabled(
    live_server: LiveServer, signed_in: tuple[Org, dict[int, Any]], width: int
) -> None:
    org, pages = signed_in
    page = pages[width]
    page.goto(f"{live_server.base_url}/admin/o/{org.slug}/csv")
    page.get_by_role("group", name="The file contains").get_by_label("Users").check()
    page.get_by_label("CSV file").set_input_files(
        files=[
            {"name": "bad.csv", "mimeType": "text/csv", "buffer": b"operation,userName\nFLY,x\n"}
        ]
    )
    page.get_by_role("button", name="Upload and preview").click()
    start = page.get_by_role("button", name="Start import")
    start.wait_for()
    assert start.is_disabled()
    style = start.evaluate(
        "b => { const s = getComputedStyle(b); return [s.backgroundColor, s.cursor]; }"
    )
    enabled = page.evaluate(
        """() => { const b = document.createElement("button"); document.body.append(b);
        const c = getComputedStyle(b).backgroundColor; b.remove(); return c; }"""
    )
    assert style[0] != enabled and style[1] == "not-allowed", (style, enabled)


def _with_credential(live_server: LiveServer, org: Org, name: str) -> str:
    """An integration with a bearer credential, stored from the CLI with a key ring
    (the console needs none to show and delete it: it never decrypts)."""
    import subprocess

    from cryptography.fernet import Fernet

    from tests.integration.multi import cli_command

    live_server.cli("services", "create", org.slug, name, "--kind", "scim2")
    env = {**live_server.env, "SCIMSERVER_SECRET_KEYS": Fernet.generate_key().decode()}
    stored = subprocess.run(
        [*cli_command(), "integrations", "credential", "set", org.slug, name, "--kind", "bearer"],
        input="bt-" + "x" * 30 + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert stored.returncode == 0, stored.stderr
    return name


@pytest.mark.parametrize("width", WIDTHS)
def test_delete_credential_asks_first_and_cancel_keeps_it(
    live_server: LiveServer, signed_in: tuple[Org, dict[int, Any]], width: int
) -> None:
    org, pages = signed_in
    page = pages[width]
    name = _with_credential(live_server, org, f"Wiki {width}")
    page.goto(f"{live_server.base_url}/admin/o/{org.slug}/integrations")
    page.get_by_role("link", name=name).click()
    page.get_by_role("link", name="Delete credential…").click()
    page.get_by_role("heading", name=f"Delete the credential of {name}?").wait_for()
    page.get_by_role("link", name="Cancel").click()
    page.get_by_role("link", name="Delete credential…").wait_for()  # still stored
    page.get_by_role("link", name="Delete credential…").click()
    page.get_by_role("button", name="Delete credential").click()
    page.get_by_text("No credential is stored.").wait_for()


@pytest.mark.parametrize("width", WIDTHS)
def test_a_bad_totp_secret_highlights_the_totp_field(
    live_server: LiveServer, signed_in: tuple[Org, dict[int, Any]], width: int
) -> None:
    org, pages = signed_in
    page = pages[width]
    page.goto(f"{live_server.base_url}/admin/o/{org.slug}/integrations/new")
    page.get_by_label("Name").fill(f"Portal {width}")
    page.get_by_label("Connector").select_option("manual")
    page.get_by_label("How the service checks who we are").select_option("id_password")
    page.locator("#in-user").fill("admin@example.com")
    page.locator("#in-secret").fill("a-password-123")
    page.locator("#in-totp").fill("not base32 !!")
    page.get_by_role("button", name="Add integration").click()
    page.get_by_role("alert").wait_for()
    assert "TOTP secret is not valid base32" in page.get_by_role("alert").inner_text()
    invalid = page.locator('[aria-invalid="true"]')
    assert invalid.count() == 1 and invalid.get_attribute("id") == "in-totp"


@pytest.mark.parametrize("width", WIDTHS)
def test_the_oauth_return_page_is_styled_and_leads_back_to_the_integration(
    live_server: LiveServer, signed_in: tuple[Org, dict[int, Any]], width: int
) -> None:
    import json

    org, pages = signed_in
    page = pages[width]
    name = f"Google {width}"
    live_server.cli("services", "create", org.slug, name, "--kind", "google_workspace")
    listed = json.loads(live_server.cli("integrations", "list", org.slug, "--json").stdout)
    (integration,) = [i["id"] for i in listed if i["display_name"] == name]
    page.goto(f"{live_server.base_url}/oauth/result?integration={integration}")
    page.get_by_role("heading", name="Connected").wait_for()
    card = page.locator(".card").evaluate("e => getComputedStyle(e).borderStyle")
    assert card == "solid"  # the console's stylesheet applies
    page.get_by_role("link", name="Back to the integration").click()
    page.get_by_role("heading", name=name).wait_for()
    assert "The service is connected" in page.content()


@pytest.mark.parametrize("width", WIDTHS)
def test_a_png_or_a_quoted_semicolon_file_is_refused_as_what_it_is(
    live_server: LiveServer, signed_in: tuple[Org, dict[int, Any]], width: int
) -> None:
    org, pages = signed_in
    page = pages[width]
    files = {
        "photo.png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "it is a PNG image"),
        "semi.csv": (b'"operation";"userName"\r\n"CREATE";"a@example.com"\r\n', "a semicolon"),
    }
    for name, (data, said) in files.items():
        page.goto(f"{live_server.base_url}/admin/o/{org.slug}/csv")
        page.get_by_role("group", name="The file contains").get_by_label("Users").check()
        page.get_by_label("CSV file").set_input_files(
            files=[{"name": name, "mimeType": "text/csv", "buffer": data}]
        )
        page.get_by_role("button", name="Upload and preview").click()
        alert = page.get_by_role("alert")
        alert.wait_for()
        assert said in alert.inner_text() and "UTF-16" not in alert.inner_text(), name


@pytest.mark.parametrize("width", WIDTHS)
def test_a_group_lists_its_members_by_their_current_names(
    live_server: LiveServer, signed_in: tuple[Org, dict[int, Any]], width: int
) -> None:
    org, pages = signed_in
    page = pages[width]
    scim = _scim(live_server, org.token)
    user = _user(scim, org, f"member{width}@example.com", "Old Name")
    group = scim.post(
        f"{org.tenant_url}/Groups",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": f"Sales {width}",
            "members": [{"value": user["id"], "display": "Old Name"}],
        },
        timeout=15,
    ).json()
    _rename(scim, org, user, "山田 花子")
    page.goto(f"{live_server.base_url}/admin/o/{org.slug}/groups/{group['id']}")
    page.get_by_role("link", name="山田 花子").wait_for()
    assert "Old Name" not in page.content()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_result_csv_for_excel_starts_with_a_bom(
    live_server: LiveServer, signed_in: tuple[Org, dict[int, Any]], width: int
) -> None:
    import codecs
    from pathlib import Path

    org, pages = signed_in
    page = pages[width]
    page.goto(f"{live_server.base_url}/admin/o/{org.slug}/csv")
    page.get_by_role("group", name="The file contains").get_by_label("Users").check()
    row = f"operation,userName,displayName\nCREATE,result{width}@example.com,山田 花子\n"
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "users.csv", "mimeType": "text/csv", "buffer": row.encode()}]
    )
    page.get_by_role("button", name="Upload and preview").click()
    page.get_by_role("button", name="Start import").click()
    excel = page.get_by_role("link", name="Download the result CSV for Excel")
    excel.wait_for()
    with page.expect_download() as download:
        excel.click()
    data = Path(download.value.path()).read_bytes()
    assert data.startswith(codecs.BOM_UTF8) and "山田 花子".encode() in data


@pytest.mark.parametrize("width", WIDTHS)
def test_an_integration_is_edited_and_deleted_in_the_console(
    live_server: LiveServer, signed_in: tuple[Org, dict[int, Any]], width: int
) -> None:
    org, pages = signed_in
    page = pages[width]
    name = f"cybozu {width}"
    live_server.cli("services", "create", org.slug, name, "--kind", "cybozu")
    page.goto(f"{live_server.base_url}/admin/o/{org.slug}/integrations")
    page.get_by_role("link", name=name).click()
    page.get_by_label("License profiles").fill("Garoon\nkintone+Garoon")
    page.get_by_role("button", name="Save settings").click()
    page.get_by_text("The settings were saved.").wait_for()
    assert page.get_by_label("License profiles").input_value() == "Garoon\nkintone+Garoon"
    page.get_by_role("link", name="Delete integration…").click()
    page.get_by_role("button", name="Delete integration").click()
    page.get_by_text(f"The integration “{name}” was deleted.").wait_for()
    assert page.get_by_role("link", name=name).count() == 0


@pytest.mark.parametrize("width", WIDTHS)
def test_the_okta_guide_reads_as_a_page_in_the_console(
    live_server: LiveServer, signed_in: tuple[Org, dict[int, Any]], width: int
) -> None:
    _, pages = signed_in
    page = pages[width]
    page.goto(f"{live_server.base_url}/admin/docs/okta")
    page.get_by_role("heading", name="Connecting Okta").wait_for()
    assert page.get_by_role("heading", name="2. Configure the app in Okta").count() == 1
    assert "Configure API Integration" in page.get_by_role("main").inner_text()
    wider = page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
    assert not wider  # tables scroll inside their box on a phone; the page does not


@pytest.mark.parametrize("width", WIDTHS)
def test_the_activity_page_fits_the_window_and_reads_in_words(
    live_server: LiveServer, signed_in: tuple[Org, dict[int, Any]], width: int
) -> None:
    org, pages = signed_in
    page = pages[width]
    scim = _scim(live_server, org.token)
    user = _user(scim, org, f"activity{width}@example.com", "Before Name")
    _rename(scim, org, user, "After Name")
    page.goto(f"{live_server.base_url}/admin/o/{org.slug}/activity")
    page.get_by_text("displayName: Before Name → After Name").first.wait_for()
    wider = page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
    assert not wider  # the page itself never scrolls sideways; a wide table scrolls in its box
    if width >= 1280:  # on a desktop, nothing is cut off: no table needs its scroll bar
        cut = page.evaluate(
            """() => [...document.querySelectorAll(".table-wrap")]
                .filter(w => w.scrollWidth > w.clientWidth + 1).length"""
        )
        assert cut == 0
