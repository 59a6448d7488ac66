"""The dashboard in Debian's Chromium against the live service, at 1280 px and 390 px.

The "service" is another organization of the same live server, reached by the
``scim2`` connector over HTTP on 127.0.0.1: a deactivated person's account there is a
leaver's, an account nobody here owns an orphan. Sign-in lands on the dashboard; at
1280 px the admin deprovisions the leaver's account (after the confirmation) and
``scimserver worker --once`` deactivates it at the service; at 390 px the admin keeps
an orphan as an exception and undoes it, and the page never scrolls sideways.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from scimcore.accounts import KeyRing

from .conftest import LiveServer, Org
from .test_admin_console_e2e import (  # noqa: F401  (browser is a fixture)
    PASSWORD,
    _admin,
    _create_user,
    _scim,
    browser,
    pytestmark,
)
from .test_admin_console_fixes import WIDTHS
from .test_provisioning_e2e import _cli


@dataclass
class Scene:
    org: Org
    saas: Org
    env: dict[str, str]
    email: str
    leaver: str
    orphan: str


@pytest.fixture(scope="module")
def scene(live_server: LiveServer) -> Scene:
    """An organization whose service "Wiki" (another organization of the live server)
    holds a deactivated person's active account and an orphan, after one sync."""
    env = {**live_server.env, "SCIMSERVER_SECRET_KEYS": KeyRing.generate_key()}
    org, saas = live_server.create_org("dash"), live_server.create_org("dash-saas")
    _cli(env, "services", "create", org.slug, "Wiki", "--kind", "scim2")
    _cli(
        env,
        "integrations",
        "credential",
        "set",
        org.slug,
        "Wiki",
        "--kind",
        "bearer",
        input=saas.token + "\n",
    )
    _cli(
        env,
        "services",
        "connect",
        org.slug,
        "Wiki",
        "--connector",
        "scim2",
        "--setting",
        f"base_url={saas.tenant_url}",
    )
    _cli(env, "domains", "add", org.slug, "example.com")
    tag = secrets.token_hex(3)
    leaver, orphan = f"leaver.{tag}@example.com", f"orphan.{tag}@example.com"
    here, there = _scim(live_server, org.token), _scim(live_server, saas.token)
    _create_user(here, org.tenant_url, leaver, displayName="Lea Leaver", active=False)
    _create_user(there, saas.tenant_url, leaver, active=True)
    _create_user(there, saas.tenant_url, orphan, active=True)
    report = json.loads(_cli(env, "sync", org.slug, "Wiki", "--json"))
    assert report["status"] == "succeeded", report
    return Scene(org, saas, env, _admin(live_server, org), leaver, orphan)


@pytest.fixture(scope="module")
def pages(live_server: LiveServer, browser: Any, scene: Scene) -> Iterator[dict[int, Any]]:  # noqa: F811
    """A page signed in at each width; signing in lands on the dashboard."""
    contexts, out = [], {}
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 844})
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{live_server.base_url}/admin/login")
        page.get_by_label("Email").fill(scene.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(rf".*/admin/o/{scene.org.slug}/$"))
        out[width] = page
    yield out
    for context in contexts:
        context.close()


def _remote_active(live_server: LiveServer, scene: Scene, user_name: str) -> bool:
    found = _scim(live_server, scene.saas.token).get(
        f"{scene.saas.tenant_url}/Users",
        params={"filter": f'userName eq "{user_name}"'},
        timeout=15,
    )
    return bool(found.json()["Resources"][0]["active"])


def _no_sideways_scroll(page: Any, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width + 10, (width, scroll)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_dashboard_shows_health_and_the_leaver_and_orphan_with_their_actions(
    pages: dict[int, Any], scene: Scene, width: int
) -> None:
    page = pages[width]
    page.reload()
    page.get_by_role("heading", name="Dashboard").wait_for()
    health = page.locator("section", has=page.get_by_role("heading", name="Connection health"))
    assert health.get_by_role("link", name="Wiki").is_visible()
    assert "succeeded" in health.inner_text()
    leavers = page.locator("section", has=page.get_by_role("heading", name="Leavers with active"))
    text = leavers.inner_text()
    assert scene.leaver in text and "Lea Leaver" in text and scene.orphan in text
    row = leavers.get_by_role("row").filter(has_text=scene.leaver)
    assert row.get_by_role("link", name="Deprovision now…").is_visible()
    _no_sideways_scroll(page, width)


def test_deprovision_now_asks_first_and_the_worker_deactivates_the_account_at_the_service(
    live_server: LiveServer, pages: dict[int, Any], scene: Scene
) -> None:
    page = pages[1280]
    page.goto(f"{live_server.base_url}/admin/o/{scene.org.slug}/")
    row = page.get_by_role("row").filter(has_text=scene.leaver)
    row.get_by_role("link", name="Deprovision now…").click()
    page.get_by_role("heading", name=f"Deprovision {scene.leaver} in Wiki?").wait_for()
    assert "deactivates the account at the service" in page.content()
    page.get_by_role("button", name="Deprovision now").click()
    assert "is queued" in page.get_by_role("status").inner_text()
    row = page.get_by_role("row").filter(has_text=scene.leaver)
    assert "deprovisioning queued" in row.inner_text()
    assert _remote_active(live_server, scene, scene.leaver)  # nothing called from the page
    stats = json.loads(_cli(scene.env, "worker", "--once", "--no-discovery").splitlines()[-1])
    assert stats["succeeded"] >= 1, stats
    assert not _remote_active(live_server, scene, scene.leaver)
    page.reload()
    assert scene.leaver not in page.locator("#leavers-h ~ .table-wrap").inner_text()


def test_an_orphan_kept_as_an_exception_leaves_the_list_until_undone_on_a_phone(
    live_server: LiveServer, pages: dict[int, Any], scene: Scene
) -> None:
    page = pages[390]
    page.goto(f"{live_server.base_url}/admin/o/{scene.org.slug}/")
    row = page.get_by_role("row").filter(has_text=scene.orphan)
    row.get_by_text("Mark as exception").click()
    row.get_by_label("Why is it kept?").fill("the shared help desk mailbox")
    row.get_by_role("button", name="Keep this account").click()
    assert "kept as an exception" in page.get_by_role("status").inner_text()
    assert scene.orphan not in page.locator("#leavers-h ~ .table-wrap").inner_text()
    page.get_by_role("link", name=re.compile("kept as exception")).click()
    kept = page.get_by_role("row").filter(has_text=scene.orphan)
    assert "the shared help desk mailbox" in kept.inner_text()
    _no_sideways_scroll(page, 390)
    kept.get_by_role("button", name="Undo exception").click()
    assert "back on the list" in page.get_by_role("status").inner_text()
    page.goto(f"{live_server.base_url}/admin/o/{scene.org.slug}/")
    assert scene.orphan in page.locator("#leavers-h ~ .table-wrap").inner_text()
    assert _remote_active(live_server, scene, scene.orphan)  # kept means untouched
