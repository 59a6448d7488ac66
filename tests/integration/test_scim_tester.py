"""scim2-tester's RFC 7643/7644 conformance checks against the live server.

scim2-tester (python-scim) drives a scim2-client ``BaseSyncSCIMClient``. Its HTTP engine
needs ``httpx2``, which the project does not depend on, so the client below is a small
engine over ``requests`` (the same shape as ``scim2_client.engines.httpx2.SyncSCIMClient``:
``params``/``json``/``headers`` in, a response with ``status_code``/``headers``/``text``
out). ``check_server`` discovers the server itself through ``/ServiceProviderConfig``,
``/ResourceTypes`` and ``/Schemas`` and reports every discovery problem as a check
result, then runs create/read/query/replace/delete and PATCH add/replace/remove checks on
every resource type it found. ``ERROR`` and ``CRITICAL`` results are failures; ``SKIPPED``
(features the server does not advertise) and the advisory statuses are not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from scim2_client import BaseSyncSCIMClient, RequestNetworkException
from scim2_tester import CheckResult, Status, check_server

from .conftest import LiveServer
from .support import SCIM_JSON, ScimSession

FAILED = (Status.ERROR, Status.CRITICAL)
CORE_CHECKS = ("object_creation", "object_query", "object_replacement", "object_deletion")


class RequestsSCIMClient(BaseSyncSCIMClient):
    """A scim2-client engine sending requests through a :class:`ScimSession`."""

    def __init__(self, session: ScimSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session

    def _stays_under_base_url(self, endpoint: str) -> bool:
        base = urlsplit(self.session.tenant_url)
        url = urlsplit(self.session.url(endpoint))
        if {".", ".."} & set(url.path.split("/")):
            return False
        prefix = f"{base.path.rstrip('/')}/"
        return (url.scheme, url.netloc) == (base.scheme, base.netloc) and (
            f"{url.path.rstrip('/')}/".startswith(prefix)
        )

    def _parse_json(self, response: Any) -> Any:
        # application/scim+json has no charset parameter: decode as UTF-8 (RFC 8259 8.1),
        # not with the guess requests makes for unknown media types.
        return json.loads(response.content)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Any = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        try:
            return self.session.request(
                method, url, params=params, json=json, data=content, headers=headers, **kwargs
            )
        except requests.RequestException as exc:
            network_error = RequestNetworkException()
            network_error.add_note(str(exc))
            raise network_error from exc


def describe_result(result: CheckResult) -> str:
    data = "" if result.data is None else f"\n      data: {str(result.data)[:1500]}"
    where = f"{result.resource_type or '-'} {result.title}"
    return f"  [{result.status.name}] {where}: {result.reason}{data}"


@pytest.fixture(scope="module")
def tester_results(live_server: LiveServer) -> Iterator[list[CheckResult]]:
    """Run every scim2-tester check once per backend, in an organisation of its own."""
    org = live_server.create_org("scim2-tester")
    with ScimSession(org.tenant_url, org.token, content_type=SCIM_JSON) as session:
        client = RequestsSCIMClient(session)
        yield check_server(client, raise_exceptions=False)


def test_scim2_tester_reports_no_failed_check(tester_results: list[CheckResult]) -> None:
    failed = [r for r in tester_results if r.status in FAILED]

    assert not failed, (
        f"{len(failed)} of {len(tester_results)} scim2-tester checks failed:\n"
        + "\n".join(describe_result(r) for r in failed)
    )


@pytest.mark.parametrize("resource_type", ["User", "Group"])
def test_scim2_tester_exercised_crud_on_resource_type(
    tester_results: list[CheckResult], resource_type: str
) -> None:
    """Guard against a run that passes because discovery hid a resource type from the checks."""
    ran = {
        r.title
        for r in tester_results
        if r.resource_type == resource_type and r.status is not Status.SKIPPED
    }

    missing = [title for title in CORE_CHECKS if title not in ran]
    assert not missing, f"scim2-tester never ran {missing} on {resource_type}; it ran {sorted(ran)}"
