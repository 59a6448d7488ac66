"""Many processes, one database: two ``scimserver serve`` instances on the same PostgreSQL.

Each instance is its own gunicorn master with two workers on its own port of 127.0.0.1,
as N instances behind a load balancer would be. The database is migrated once with
``scimserver db upgrade`` before either starts. Over real HTTP the tests show that the
instances share nothing but the database and still agree:

- a token rotated with the CLI is refused by the other instance, by every worker, at once;
- concurrent creates of one userName on both instances give one 201 and 409s;
- concurrent member additions to one group through both instances lose none;
- concurrent PUTs with the same ``If-Match`` give one 200 and 412s, and the winner's body
  is what is stored; concurrent PATCHes without ``If-Match`` on different attributes all
  survive.

PostgreSQL only: skipped unless ``SCIMSERVER_TEST_POSTGRES_URL`` is set. A randomly named
database is created for the module and dropped ``WITH (FORCE)`` afterwards.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from .multi import Answer, Cluster, Instance, Org, concurrently, fresh_request, running_cluster
from .support import (
    GROUP_SCHEMA,
    PATCH_OP_SCHEMA,
    USER_SCHEMA,
    assert_list_response,
    assert_resource,
    assert_scim_error,
    describe,
    filter_query,
    member_ids,
    unique,
)

POSTGRES_URL_ENV = "SCIMSERVER_TEST_POSTGRES_URL"
INSTANCES = 2
WORKERS = 2
#: Threads per gunicorn worker (``scimserver/gunicorn.py``).
THREADS = 4
#: Fresh-connection requests per instance per check, at least; more (up to the cap) only
#: while some worker has not answered yet. Sent ``PROBE_BATCH`` at a time, concurrently.
PROBES = 16
MAX_PROBES = 64
PROBE_BATCH = 8
PROBE_SECONDS = 10.0

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.skipif(
        not os.environ.get(POSTGRES_URL_ENV), reason=f"{POSTGRES_URL_ENV} is not set"
    ),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    logdir = tmp_path_factory.mktemp("multi-process")
    with running_cluster(
        os.environ[POSTGRES_URL_ENV],
        logdir,
        instances=INSTANCES,
        workers=WORKERS,
        orgs=("mp", "rotate"),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def org(cluster: Cluster) -> Org:
    return cluster.orgs["mp"]


def _on(instance: Instance, org: Org, method: str, path: str, **kwargs: Any) -> requests.Response:
    """One request on its own session (sessions are not shared between threads)."""
    with instance.session(org.slug, org.token) as session:
        return session.request(method, path, **kwargs)


def _spread(
    cluster: Cluster, count: int, make: Callable[[Instance, int], Any]
) -> list[tuple[Instance, Any]]:
    """``count`` calls released together, alternating between the instances."""
    targets = [cluster.instances[i % len(cluster.instances)] for i in range(count)]
    results = concurrently([lambda inst=inst, i=i: make(inst, i) for i, inst in enumerate(targets)])
    return list(zip(targets, results, strict=True))


def _probe_every_worker(instance: Instance, org: Org, token: str) -> list[Answer]:
    """At least ``PROBES`` fresh-connection GETs to ``instance``, in concurrent batches (one
    worker tends to win every accept of strictly sequential connections), continuing while
    some worker of the instance has not answered yet, up to ``MAX_PROBES`` requests or
    ``PROBE_SECONDS``."""
    workers = instance.worker_pids()
    assert len(workers) == WORKERS, f"{instance.name} has workers {workers}"
    path = f"/scim/v2/organizations/{org.slug}/Users?count=0"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/scim+json"}
    answers: list[Answer] = []
    deadline = time.monotonic() + PROBE_SECONDS
    for _ in range(MAX_PROBES // PROBE_BATCH):
        answers += concurrently(
            [lambda: fresh_request(instance, path, headers) for _ in range(PROBE_BATCH)]
        )
        seen = {a.worker for a in answers}
        if len(answers) >= PROBES and workers <= seen:
            break
        if time.monotonic() > deadline:
            break
    seen = {a.worker for a in answers}
    assert workers <= seen, (
        f"{instance.name}: only workers {seen} answered {len(answers)} requests; "
        f"its workers are {workers}"
    )
    return answers


def _statuses(answers: list[Answer]) -> dict[int | None, list[int]]:
    by_worker: dict[int | None, list[int]] = {}
    for answer in answers:
        by_worker.setdefault(answer.worker, []).append(answer.status)
    return by_worker


def test_token_rotated_through_one_instance_is_refused_by_the_other_at_once(
    cluster: Cluster,
) -> None:
    rotating = cluster.orgs["rotate"]
    old = rotating.token
    # Every worker of both instances has accepted the old token (anything cached is warm).
    for instance in cluster.instances:
        answers = _probe_every_worker(instance, rotating, old)
        assert all(a.status == 200 for a in answers), (instance.name, _statuses(answers))

    new = cluster.generate_token(rotating.name)
    assert new != old

    # No sleep: the very next requests, the other instance first.
    for instance in reversed(cluster.instances):
        refused = _probe_every_worker(instance, rotating, old)
        assert all(a.status == 401 for a in refused), (
            f"{instance.name} still accepts the rotated token: {_statuses(refused)}\n"
            f"{next((a.body for a in refused if a.status != 401), '')}"
        )
        accepted = _probe_every_worker(instance, rotating, new)
        assert all(a.status == 200 for a in accepted), (
            f"{instance.name} refuses the new token: {_statuses(accepted)}\n"
            f"{next((a.body for a in accepted if a.status != 200), '')}"
        )

    with cluster.instances[1].session(rotating.slug, old) as session:
        assert_scim_error(session.get("/Users"), 401)
        # The refusal looks the same as any other bad token.
        assert session.get("/Users").headers.get("WWW-Authenticate", "").startswith("Bearer")


def test_same_username_created_concurrently_on_both_instances_once(
    cluster: Cluster, org: Org
) -> None:
    user_name = unique("race-")
    body = {"schemas": [USER_SCHEMA], "userName": user_name}
    results = _spread(cluster, 8, lambda inst, _i: _on(inst, org, "POST", "/Users", json=body))

    created = [resp for _inst, resp in results if resp.status_code == 201]
    conflicts = [resp for _inst, resp in results if resp.status_code == 409]
    transcript = "\n\n".join(f"[{inst.name}] {describe(resp)}" for inst, resp in results)
    assert len(created) == 1 and len(conflicts) == 7, transcript
    winner = assert_resource(created[0], 201)
    for resp in conflicts:
        assert_scim_error(resp, 409, "uniqueness")

    query = filter_query(f'userName eq "{user_name}"')
    for instance in cluster.instances:
        resp = _on(instance, org, "GET", f"/Users?{query}")
        listed = assert_list_response(resp)
        assert listed["totalResults"] == 1, describe(resp)
        assert [u["id"] for u in listed["Resources"]] == [winner["id"]], describe(resp)


def test_concurrent_member_additions_through_both_instances_lose_none(
    cluster: Cluster, org: Org
) -> None:
    prefix = unique("member-")
    made = _spread(
        cluster,
        20,
        lambda inst, i: _on(
            inst, org, "POST", "/Users", json={"schemas": [USER_SCHEMA], "userName": f"{prefix}{i}"}
        ),
    )
    users = [assert_resource(resp, 201)["id"] for _inst, resp in made]
    group = assert_resource(
        _on(
            cluster.instances[0],
            org,
            "POST",
            "/Groups",
            json={"schemas": [GROUP_SCHEMA], "displayName": unique("race-group-")},
        ),
        201,
        schema=GROUP_SCHEMA,
    )

    def add(instance: Instance, i: int) -> requests.Response:
        patch = {
            "schemas": [PATCH_OP_SCHEMA],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": users[i]}]}],
        }
        return _on(instance, org, "PATCH", f"/Groups/{group['id']}", json=patch)

    for instance, resp in _spread(cluster, len(users), add):
        assert resp.status_code in (200, 204), f"[{instance.name}] {describe(resp)}"

    for instance in cluster.instances:
        resp = _on(instance, org, "GET", f"/Groups/{group['id']}")
        stored = assert_resource(resp, 200, schema=GROUP_SCHEMA)
        assert member_ids(stored) == set(users), (
            f"[{instance.name}] missing {set(users) - member_ids(stored)}\n{describe(resp)}"
        )


def test_concurrent_member_pushes_with_and_without_if_match_never_deadlock(
    cluster: Cluster, org: Org
) -> None:
    """Okta and Entra push one group from parallel workers: adds without If-Match and
    replaces with ``If-Match: *`` took the group's and its rows' locks in opposite orders
    and deadlocked (each a second of deadlock_timeout, then 503). Several rounds, each
    releasing every request together, with overlapping members in different orders."""
    prefix = unique("push-")
    made = _spread(
        cluster,
        12,
        lambda inst, i: _on(
            inst, org, "POST", "/Users", json={"schemas": [USER_SCHEMA], "userName": f"{prefix}{i}"}
        ),
    )
    users = [assert_resource(resp, 201)["id"] for _inst, resp in made]
    group = assert_resource(
        _on(
            cluster.instances[0],
            org,
            "POST",
            "/Groups",
            json={"schemas": [GROUP_SCHEMA], "displayName": unique("push-group-")},
        ),
        201,
        schema=GROUP_SCHEMA,
    )

    def push(instance: Instance, i: int) -> requests.Response:
        members = [{"value": users[(i * 5 + k) % len(users)]} for k in range(6)]
        if i % 2:
            members.reverse()
            operation = {"op": "replace", "path": "members", "value": members}
            headers = {"If-Match": "*"}
        else:
            operation = {"op": "add", "path": "members", "value": members}
            headers = {}
        patch = {"schemas": [PATCH_OP_SCHEMA], "Operations": [operation]}
        return _on(instance, org, "PATCH", f"/Groups/{group['id']}", json=patch, headers=headers)

    for _round in range(5):
        for instance, resp in _spread(cluster, 8, push):
            assert resp.status_code in (200, 204), f"[{instance.name}] {describe(resp)}"


def _without_location(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource minus ``meta.location``, which names the instance that answered."""
    meta = {k: v for k, v in resource["meta"].items() if k != "location"}
    return {**resource, "meta": meta}


def test_concurrent_puts_with_the_same_if_match_one_wins_the_rest_412(
    cluster: Cluster, org: Org
) -> None:
    user_name = unique("put-")
    created = _on(
        cluster.instances[0],
        org,
        "POST",
        "/Users",
        json={"schemas": [USER_SCHEMA], "userName": user_name},
    )
    user = assert_resource(created, 201)
    etag = created.headers["ETag"]

    def put(instance: Instance, i: int) -> requests.Response:
        body = {
            "schemas": [USER_SCHEMA],
            "userName": user_name,
            "displayName": f"writer {i}",
            "title": f"title {i}",
            "name": {"givenName": f"Given{i}", "familyName": f"Family{i}"},
        }
        return _on(
            instance, org, "PUT", f"/Users/{user['id']}", json=body, headers={"If-Match": etag}
        )

    results = _spread(cluster, 8, put)
    transcript = "\n\n".join(f"[{inst.name}] {describe(resp)}" for inst, resp in results)
    winners = [resp for _inst, resp in results if resp.status_code == 200]
    losers = [resp for _inst, resp in results if resp.status_code == 412]
    assert len(winners) == 1 and len(losers) == 7, transcript
    for resp in losers:
        assert_scim_error(resp, 412)
    won = assert_resource(winners[0], 200)
    assert winners[0].headers["ETag"] != etag, transcript
    index = int(won["displayName"].removeprefix("writer "))
    assert won["title"] == f"title {index}", transcript
    assert won["name"]["givenName"] == f"Given{index}", transcript

    for instance in cluster.instances:
        resp = _on(instance, org, "GET", f"/Users/{user['id']}")
        stored = assert_resource(resp, 200)
        assert _without_location(stored) == _without_location(won), (
            f"[{instance.name}] stored resource is not the winner's\nwinner: {won}\n"
            f"{describe(resp)}"
        )
        assert resp.headers["ETag"] == winners[0].headers["ETag"], describe(resp)


PATCHED_ATTRIBUTES: dict[str, str] = {
    "title": "Engineer",
    "nickName": "Nick",
    "displayName": "Display Name",
    "locale": "en-GB",
    "timezone": "Europe/London",
    "preferredLanguage": "en-GB",
    "userType": "Employee",
    "profileUrl": "https://example.com/profile",
    "name.givenName": "Given",
    "name.familyName": "Family",
}


def _version_number(etag: str) -> int:
    return int(etag.removeprefix("W/").strip('"'))


def test_concurrent_patches_of_different_attributes_all_survive(cluster: Cluster, org: Org) -> None:
    created = _on(
        cluster.instances[0],
        org,
        "POST",
        "/Users",
        json={"schemas": [USER_SCHEMA], "userName": unique("patch-")},
    )
    user = assert_resource(created, 201)
    items = list(PATCHED_ATTRIBUTES.items())

    def patch(instance: Instance, i: int) -> requests.Response:
        path, value = items[i]
        body = {
            "schemas": [PATCH_OP_SCHEMA],
            "Operations": [{"op": "replace", "path": path, "value": value}],
        }
        return _on(instance, org, "PATCH", f"/Users/{user['id']}", json=body)

    for instance, resp in _spread(cluster, len(items), patch):
        assert resp.status_code == 200, f"[{instance.name}] {describe(resp)}"

    for instance in cluster.instances:
        resp = _on(instance, org, "GET", f"/Users/{user['id']}")
        stored = assert_resource(resp, 200)
        lost = {}
        for path, value in items:
            head, _, sub = path.partition(".")
            got = (stored.get(head) or {}).get(sub) if sub else stored.get(head)
            if got != value:
                lost[path] = got
        assert not lost, f"[{instance.name}] lost updates {lost}\n{describe(resp)}"
        # Each PATCH was its own write on top of the previous one.
        assert _version_number(resp.headers["ETag"]) == _version_number(
            created.headers["ETag"]
        ) + len(items), describe(resp)


def test_database_connections_stay_within_worker_threads(cluster: Cluster, org: Org) -> None:
    """After a burst of more requests than the instances have threads, the servers hold no
    more connections than they have threads: a request uses one pooled connection at a
    time, so connections = instances x workers x threads at most, whatever the pool allows."""
    import psycopg

    from .multi import libpq_dsn

    burst = 2 * INSTANCES * WORKERS * THREADS
    for instance, resp in _spread(cluster, burst, lambda inst, _i: _on(inst, org, "GET", "/Users")):
        assert resp.status_code == 200, f"[{instance.name}] {describe(resp)}"

    with psycopg.connect(libpq_dsn(cluster.database_url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert row is not None
    held = int(row[0])
    assert 0 < held <= INSTANCES * WORKERS * THREADS, held
