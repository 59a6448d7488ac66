"""Helpers for the admin console tests: an app with a key ring, administrators, sign-in."""

from __future__ import annotations

import io
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet

from scimcore import issue_token
from scimcore.accounts import IntegrationSettings
from scimcore.storage.sql.admins import SqlAdminStore
from scimserver.admin import passwords

PASSWORD = "correct horse battery staple"
SECRET_KEY = Fernet.generate_key().decode()
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_app(database_url: str, **settings: Any) -> Any:
    from scimserver import Settings, create_app

    return create_app(
        Settings(
            database_url=database_url,
            public_url=settings.pop("public_url", "https://scim.example.com"),
            secret_keys=(SECRET_KEY,),
            **settings,
        )
    )


@dataclass
class Tenant:
    slug: str
    id: str
    token: str


def new_tenant(app: Any, name: str | None = None) -> Tenant:
    store = app.extensions["scimcore"]["store"]
    org = store.create_organization(name or f"org-{uuid.uuid4().hex[:10]}", "Org " + (name or ""))
    return Tenant(org.slug, org.id, issue_token(store, org).token)


def admin_store(app: Any) -> SqlAdminStore:
    return app.extensions["scimserver_admin"].admins  # type: ignore[no-any-return]


def new_admin(app: Any, *tenants: Tenant, password: str = PASSWORD) -> str:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    admin_store(app).create_admin(email, passwords.hash_password(password), [t.id for t in tenants])
    return email


def csrf_from(html: str) -> str:
    found = _TOKEN.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def page_token(client: Any, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return csrf_from(response.get_data(as_text=True))


def sign_in(client: Any, email: str, password: str = PASSWORD, **extra: str) -> Any:
    token = page_token(client, "/admin/login")
    return client.post(
        "/admin/login", data={"csrf_token": token, "email": email, "password": password, **extra}
    )


def create_user(client: Any, tenant: Tenant, user_name: str, **attrs: Any) -> dict[str, Any]:
    response = client.post(
        f"/scim/v2/organizations/{tenant.slug}/Users",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
            **attrs,
        },
        headers={"Authorization": f"Bearer {tenant.token}"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()  # type: ignore[no-any-return]


def create_service(app: Any, tenant: Tenant, name: str, kind: str, *profiles: str) -> None:
    accounts = app.extensions["scimserver_admin"].accounts
    with accounts.accounts(tenant.id) as session:
        session.create_integration(
            name, kind, IntegrationSettings(license_profiles=tuple(profiles))
        )


def wait_for_job(client: Any, job_url: str, *, seconds: float = 120.0) -> dict[str, Any]:
    """Poll a CSV job's ``status.json`` (as the job page does) until the job has ended,
    for at most ``seconds``; returns the last status."""
    deadline = time.monotonic() + seconds
    for _ in range(int(seconds / 0.02) + 1):
        response = client.get(job_url + "/status.json")
        assert response.status_code == 200, response.status_code
        status: dict[str, Any] = response.get_json()
        if status["finished"] or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert status["finished"], f"the job did not end within {seconds} s: {status}"
    return status


def upload_csv(client: Any, tenant: Tenant, data: bytes, kind: str, name: str = "f.csv") -> Any:
    """Upload a CSV on the console's CSV page: the answer is the dry-run preview."""
    token = page_token(client, f"/admin/o/{tenant.slug}/csv")
    return client.post(
        f"/admin/o/{tenant.slug}/csv/upload",
        data={"csrf_token": token, "kind": kind, "file": (io.BytesIO(data), name)},
    )


def start_import(client: Any, preview_html: str) -> Any:
    """Press Start on a preview and wait for the job to end; returns the job page."""
    action = re.search(r'action="([^"]+/start)"', preview_html)
    key = re.search(r'name="job_key" value="([^"]+)"', preview_html)
    assert action and key, preview_html
    response = client.post(
        action.group(1), data={"csrf_token": csrf_from(preview_html), "job_key": key.group(1)}
    )
    assert response.status_code == 302
    wait_for_job(client, response.headers["Location"])
    return client.get(response.headers["Location"])


def result_rows(client: Any, job_html: str) -> list[dict[str, str]]:
    """The job's result CSV (linked from its page) as one dict per row."""
    import csv

    url = re.search(r'href="([^"]+result\.csv)"', job_html)
    assert url, job_html
    text = client.get(url.group(1)).get_data(as_text=True).lstrip("\ufeff")
    return list(csv.DictReader(io.StringIO(text)))
