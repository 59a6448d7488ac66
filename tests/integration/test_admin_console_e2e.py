"""The admin console in a real headless Chromium against the live service.

Debian's ``chromium`` (``/usr/bin/chromium``, installed by ``.ci/run``) driven by
Playwright; Playwright's own browser download is never used. The walk-through is
what an IT admin does on day one: sign in, generate the SCIM token and use it, watch
a user created over SCIM appear, upload the sample service-account CSV and read the
row results, watch a running import's progress update itself, add a ``scim2``
integration with the "Add integration" form, see a refused field of an integration's
OAuth client form; and a form posted without its CSRF token is
refused. Screenshots of
each page go to ``docs/images/admin-*.png`` (shown in docs/admin-console.md) when
SCIMSERVER_UPDATE_SCREENSHOTS=1 is set.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from .conftest import REPO_ROOT, LiveServer, Org, _cli_command

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO_ROOT / "docs" / "images"
SHARED_SAMPLES = REPO_ROOT.parent / "shared" / "samples"
SAMPLES = (
    SHARED_SAMPLES
    if (SHARED_SAMPLES / "service-accounts.csv").exists()
    else (REPO_ROOT / "tests" / "samples")
)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "e2e-" + secrets.token_urlsafe(12)

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed at /usr/bin/chromium "
        "(.ci/run installs it: apt-get install -y chromium)",
    ),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed (test extra)"
    )
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _admin(live_server: LiveServer, org: Org) -> str:
    email = f"e2e-{secrets.token_hex(4)}@example.com"
    proc = subprocess.run(
        [*_cli_command(), "admins", "create", email, "--org", org.slug],
        input=PASSWORD + "\n",
        env=live_server.env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert PASSWORD not in proc.stdout
    return email


def _shot(page: Any, name: str, backend: str) -> None:
    """Take a screenshot of each page (rendering it fully is part of the test).

    They replace the documented ones in docs/images only when
    SCIMSERVER_UPDATE_SCREENSHOTS=1 is set (from the SQLite run), so an ordinary test
    run never changes tracked files.
    """
    image = page.screenshot(full_page=True)
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    if backend == "sqlite" and os.environ.get("SCIMSERVER_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"admin-{name}.png").write_bytes(image)


def _scim(live_server: LiveServer, token: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {token}"
    session.headers["Content-Type"] = "application/scim+json"
    return session


def _create_user(scim: requests.Session, tenant_url: str, user_name: str, **attrs: Any) -> None:
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name}
    response = scim.post(f"{tenant_url}/Users", json={**body, **attrs}, timeout=15)
    assert response.status_code == 201, response.text


def test_admin_signs_in_generates_a_token_sees_scim_users_and_imports_csv(
    live_server: LiveServer, browser: Any
) -> None:
    backend = live_server.backend
    org = live_server.create_org("e2e")  # its own tenant: other tests keep their token
    email = _admin(live_server, org)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    base = live_server.base_url

    # sign in (a wrong password first: the generic message)
    page.goto(f"{base}/admin/login")
    _shot(page, "login", backend)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "The email or password is incorrect."
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(rf".*/admin/o/{org.slug}/$"))  # the dashboard
    page.get_by_role("link", name="Settings \u203a SCIM").click()
    page.wait_for_url(re.compile(r".*/settings/scim$"))
    assert page.locator("#tenant-url").input_value() == org.tenant_url
    _shot(page, "scim-settings", backend)

    # Generate, confirm, read the token once; the old one stops working
    page.get_by_role("link", name="Generate").click()
    page.get_by_role("heading", name="Generate a new secret token?").wait_for()
    assert "stops working immediately" in page.content()
    _shot(page, "token-confirm", backend)
    page.get_by_role("button", name="Generate new token").click()
    page.locator("#new-token").wait_for()
    token = page.locator("#new-token").input_value()
    assert token.startswith("scim_")
    assert "The previous token has stopped working" in page.content()
    _shot(page, "token-generated", backend)
    # reloading the page cannot post again: the token just copied keeps working
    page.reload()
    page.get_by_text("was shown once").wait_for()
    assert page.locator("#new-token").count() == 0
    old = _scim(live_server, org.token).get(f"{org.tenant_url}/Users", timeout=15)
    assert old.status_code == 401
    scim = _scim(live_server, token)
    assert scim.get(f"{org.tenant_url}/Users", timeout=15).status_code == 200
    user_name = f"e2e.{secrets.token_hex(3)}@example.com"
    _create_user(scim, org.tenant_url, user_name, displayName="E2E <b>Person</b>")
    _create_user(scim, org.tenant_url, "test@example.com", displayName="Test Taro")
    _create_user(scim, org.tenant_url, "hanako.yamada@example.com", displayName="山田 花子")

    # the user created over SCIM appears in the list, searchable, with HTML escaped
    page.get_by_role("link", name="Users").click()
    page.get_by_role("heading", name="Users").wait_for()
    page.get_by_label("Search").fill(user_name.split("@")[0])
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=user_name).wait_for()
    page.get_by_label("Search").fill("")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="hanako.yamada@example.com").wait_for()
    _shot(page, "users", backend)
    page.get_by_role("link", name="test@example.com").click()
    page.get_by_role("heading", name="Test Taro").wait_for()

    # CSV: the sample service-account file, previewed then started
    for name, kind, extra in (
        ("Google Workspace", "google_workspace", []),
        ("Microsoft 365", "microsoft_365", ["--license-profile", "E3 標準"]),
        ("cybozu.com", "cybozu", ["--license-profile", "Garoon"]),
        ("社内ポータル", "form_based", []),
        ("Slack", "scim2", []),
    ):
        live_server.cli("services", "create", org.slug, name, "--kind", kind, *extra)
    page.get_by_role("link", name="CSV").click()
    page.get_by_role("heading", name="CSV import and export").wait_for()
    _shot(page, "csv", backend)
    page.get_by_role("group", name="The file contains").get_by_label("Service accounts").check()
    page.get_by_label("CSV file").set_input_files(str(SAMPLES / "service-accounts.csv"))
    page.get_by_role("button", name="Upload and preview").click()
    page.get_by_role("button", name="Start import").wait_for()
    assert "nothing was written" in page.content()
    _shot(page, "csv-preview", backend)
    page.get_by_role("button", name="Start import").click()
    page.wait_for_url(re.compile(r".*/csv/jobs/[^/]+$"))
    page.locator("#row-results").wait_for()
    rows = page.locator("#row-results tbody tr").all_inner_texts()
    assert len(rows) == 6
    # without SCIMSERVER_SECRET_KEYS the form-based row (with a password) fails alone
    assert sum("created" in r for r in rows) == 5
    assert any("NO_ENCRYPTION_KEY" in r for r in rows)
    _shot(page, "csv-result", backend)
    _running_job_page(page, live_server, org, backend)

    page.goto(f"{base}/admin/o/{org.slug}/users/" + _user_id(scim, org))
    page.get_by_role("table", name="Service accounts").get_by_role(
        "cell", name="Google Workspace"
    ).wait_for()
    # a long account ID wraps: the service-account table stays inside its card
    spill = page.evaluate(
        """() => {
        const table = document.querySelector("table[aria-labelledby=accounts-h]");
        const card = table.closest(".card").getBoundingClientRect();
        return table.getBoundingClientRect().right - card.right;
    }"""
    )
    assert spill <= 0, spill
    _shot(page, "user", backend)
    page.get_by_role("link", name="Integrations").click()
    page.get_by_role("heading", name="Integrations").wait_for()
    _shot(page, "integrations", backend)
    _add_integration(page, backend)
    _oauth_client_form(page, backend)
    page.get_by_role("link", name="Activity").click()
    page.get_by_role("heading", name="Activity").wait_for()
    assert "token generated" in page.content() and "csv imported" in page.content()
    _shot(page, "activity", backend)

    # a form posted without its CSRF token is refused
    page.goto(f"{base}/admin/o/{org.slug}/settings/scim/revoke")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    page.get_by_role("button", name="Revoke token").click()
    page.get_by_role("heading", name="The request was refused").wait_for()
    _shot(page, "csrf-refused", backend)
    still = scim.get(f"{org.tenant_url}/Users?count=1", timeout=15)
    assert still.status_code == 200  # nothing was revoked

    # readable on a phone
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.add_cookies(context.cookies())
    mobile = phone.new_page()
    mobile.goto(f"{base}/admin/o/{org.slug}/settings/scim")
    width = mobile.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, width
    _shot(mobile, "phone", backend)
    phone.close()
    context.close()


def _user_id(scim: requests.Session, org: Org) -> str:
    found = scim.get(
        f"{org.tenant_url}/Users",
        params={"filter": 'userName eq "test@example.com"'},
        timeout=15,
    ).json()
    return str(found["Resources"][0]["id"])


def _running_job_page(page: Any, live_server: LiveServer, org: Org, backend: str) -> None:
    """A job mid-way, as its page shows it: the real background run is covered by
    tests/server/test_admin_csv_jobs.py; here the page's own polling (admin.js) must
    update the progress when the job's row changes, and reload when it ends."""
    from datetime import timedelta

    from scimcore.storage.sql import SqlStore, make_engine
    from scimcore.storage.sql.admins import SqlAdminStore

    engine = make_engine(live_server.env["SCIMSERVER_DATABASE_URL"])
    try:
        store = SqlAdminStore(engine)
        found = SqlStore(engine).get_organization(org.slug)
        assert found is not None
        org_id = found.id
        job = store.create_job(
            org_id,
            "it-admin@example.com",
            "users",
            "all-staff.csv",
            "0" * 64,
            atomic=False,
            file_ciphertext="-",
            preview={"rows": 4000, "warnings": []},
        )
        assert store.claim_job(org_id, job.id, lease=timedelta(minutes=5), rows_total=4000)
        progress = {"created": 1480, "updated": 12, "failed": 8}
        store.report_progress(
            org_id,
            job.id,
            rows_done=1500,
            rows_total=4000,
            counts=progress,
            lease=timedelta(minutes=5),
        )
        page.goto(f"{live_server.base_url}/admin/o/{org.slug}/csv/jobs/{job.id}")
        page.get_by_role("heading", name="Importing").wait_for()
        assert page.locator("#job-rows-done").inner_text() == "1500"
        _shot(page, "csv-progress", backend)
        store.report_progress(
            org_id,
            job.id,
            rows_done=3500,
            rows_total=4000,
            counts={**progress, "created": 3480},
            lease=timedelta(minutes=5),
        )
        page.locator("#job-rows", has_text="3500 of 4000 rows done").wait_for(timeout=15_000)
        assert page.locator("[data-count=created]").inner_text() == "3480"
        store.finish_job(
            org_id,
            job.id,
            status="failed",
            summary={"error": "stopped by the test"},
            result_csv=None,
        )
        page.get_by_text("stopped by the test").wait_for(timeout=15_000)  # reloaded by itself
    finally:
        engine.dispose()


def _add_integration(page: Any, backend: str) -> None:
    """Integrations > Add integration: a scim2 service with its base URL; a bad URL is
    explained first and writes nothing. This live server has no key ring, so the form
    says a credential cannot be stored yet and the service is added without one."""
    page.get_by_role("link", name="Add integration").click()
    page.get_by_role("heading", name="Add integration").wait_for()
    assert "No key ring is configured" in page.content()
    page.get_by_label(re.compile(r"^Name")).fill("Wiki")
    page.get_by_label("Connector").select_option("scim2")
    url = page.get_by_label(re.compile(r"^Service URL"))
    url.evaluate("e => e.type = 'text'")  # let the server, not the browser, refuse it
    url.fill("wiki.example.com/scim/v2")
    page.get_by_role("button", name="Add integration").click()
    alert = page.locator("#add-error")
    alert.wait_for()
    assert "must be an http:// or https:// URL" in alert.inner_text()
    assert page.get_by_label(re.compile(r"^Service URL")).get_attribute("aria-invalid") == "true"
    assert page.get_by_label(re.compile(r"^Name")).input_value() == "Wiki"
    _shot(page, "integration-new", backend)
    page.get_by_label(re.compile(r"^Service URL")).fill("https://wiki.example.com/scim/v2")
    page.get_by_role("button", name="Add integration").click()
    page.get_by_role("heading", name="Wiki").wait_for()
    assert "The integration was added" in page.content()
    sync = page.locator("section[aria-labelledby=sync-h]").inner_text()
    assert "scim2" in sync
    page.get_by_role("link", name="« Integrations").click()
    page.get_by_role("heading", name="Integrations").wait_for()
    page.get_by_role("link", name="Wiki").wait_for()


def _oauth_client_form(page: Any, backend: str) -> None:
    """The OAuth client form of an integration: a refused field is named and marked."""
    page.get_by_role("link", name="Slack").click()
    page.get_by_role("heading", name="Slack").wait_for()
    page.get_by_text("Set an OAuth client").click()
    page.get_by_role("radio", name=re.compile(r"^Authorization code")).check()
    page.get_by_label(re.compile(r"^Authorization URL")).fill(
        "https://slack.example.com/oauth/authorize"
    )
    page.get_by_label("Token URL", exact=True).fill("http://slack.example.com/oauth/token")
    page.get_by_label("Client ID", exact=True).fill("scimserver-e2e")
    page.get_by_label("Client secret", exact=True).fill("e2e-client-secret-never-shown")
    page.get_by_label(re.compile(r"^Scopes")).fill("users:read users:write")
    page.get_by_role("button", name="Store OAuth client").click()
    alert = page.locator("#cred-error")
    alert.wait_for()
    assert "Token URL must be an https:// URL" in alert.inner_text()
    assert page.get_by_label("Token URL", exact=True).get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Client ID", exact=True).input_value() == "scimserver-e2e"
    assert page.get_by_label("Client secret", exact=True).input_value() == ""
    assert "e2e-client-secret-never-shown" not in page.content()
    _shot(page, "integration", backend)
