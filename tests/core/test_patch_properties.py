"""Property tests for PATCH through the service (RFC 7644 3.5.2), on memory and SQLite.

(a) A random PATCH sent to :class:`scimcore.ScimService` and then read back equals
    :func:`scimcore.patch.apply_patch` applied in memory to the resource as it was read
    (modulo ``meta``); when the in-memory application fails, the service answers the
    same SCIM error and the stored resource is unchanged.
(b) One invalid operation anywhere in a list of otherwise valid ones (an unknown path, a
    value of the wrong type, a read-only target) makes the whole PATCH a ``400`` with
    the matching ``scimType`` and leaves the stored resource byte-for-byte as it was.

Requests go through ``ScimService.handle`` with no HTTP: the service is the unit, over
the in-memory store and over the SQL store on a migrated SQLite file. Generation is
derandomized so failures reproduce in CI.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from scimcore import ScimError, ScimRequest, ScimResponse, ScimService
from scimcore.patch import PATCH_OP_SCHEMA, apply_patch, parse_patch_request
from scimcore.schema.core import ENTERPRISE_USER_SCHEMA, USER_RESOURCE, USER_SCHEMA
from scimcore.storage.base import Organization, Store
from scimcore.storage.memory import MemoryStore

TENANT = "https://scim.example.com/scim/v2/organizations/props"
EXT = ENTERPRISE_USER_SCHEMA
SETTINGS = settings(
    max_examples=100,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# -- the service over each store ------------------------------------------------------


class Harness:
    """A ScimService over one store, speaking ScimRequest/ScimResponse."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.service = ScimService(store)

    def org(self) -> Organization:
        return self.store.create_organization(f"p-{uuid.uuid4().hex[:12]}", "Property tests")

    def call(self, org: Organization, method: str, path: str, body: Any = None) -> ScimResponse:
        request = ScimRequest(
            method=method,
            path=path,
            body=json.dumps(body).encode() if body is not None else b"",
            content_type="application/scim+json" if body is not None else None,
        )
        return self.service.handle(org, TENANT, request)

    def create(self, org: Organization, user: dict[str, Any]) -> str:
        response = self.call(org, "POST", "/Users", user)
        assert response.status == 201, response.body
        assert response.body is not None
        return str(response.body["id"])

    def get(self, org: Organization, id: str) -> dict[str, Any]:
        response = self.call(org, "GET", f"/Users/{id}")
        assert response.status == 200, response.body
        assert response.body is not None
        return response.body


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def harness(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    if request.param == "memory":
        yield Harness(MemoryStore())
        return
    from scimcore.storage.migrate import upgrade
    from scimcore.storage.sql import SqlStore, make_engine

    path: Path = tmp_path_factory.mktemp("patch-props") / "scim.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    yield Harness(SqlStore(engine))
    engine.dispose()


# -- strategies -------------------------------------------------------------------------

text = st.text(alphabet="abcdeXYZ019 .-_", min_size=1, max_size=8).filter(lambda s: s.strip())
email = st.builds(lambda local, host: f"{local}@{host}.example", text.map(str.strip), text)
TYPES = ["work", "home", "other"]

SIMPLE = [
    "displayName",
    "nickName",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "profileUrl",
    "externalId",
]
NAME_SUBS = ["formatted", "familyName", "givenName", "middleName"]
EXT_SIMPLE = ["employeeNumber", "costCenter", "organization", "division", "department"]

email_item = st.fixed_dictionaries(
    {"value": email},
    optional={"type": st.sampled_from(TYPES), "display": text},
)


@st.composite
def email_lists(draw: st.DrawFn, max_size: int = 3) -> list[dict[str, Any]]:
    """Emails with at most one primary (RFC 7643 2.4)."""
    items = draw(st.lists(email_item, max_size=max_size, unique_by=lambda e: e["value"]))
    if items and draw(st.booleans()):
        items[draw(st.integers(0, len(items) - 1))]["primary"] = True
    return items


@st.composite
def users(draw: st.DrawFn) -> dict[str, Any]:
    user: dict[str, Any] = {"schemas": [USER_SCHEMA], "userName": draw(text)}
    for attr in draw(st.lists(st.sampled_from(SIMPLE), unique=True, max_size=4)):
        user[attr] = draw(text)
    if draw(st.booleans()):
        user["active"] = draw(st.booleans())
    subs = draw(st.lists(st.sampled_from(NAME_SUBS), unique=True, max_size=3))
    if subs:
        user["name"] = {s: draw(text) for s in subs}
    emails = draw(email_lists())
    if emails:
        user["emails"] = emails
    ext = draw(st.lists(st.sampled_from(EXT_SIMPLE), unique=True, max_size=3))
    ext_value: dict[str, Any] = {a: draw(text) for a in ext}
    if draw(st.booleans()):
        ext_value["manager"] = {"value": draw(text)}
    if ext_value:
        user[EXT] = ext_value
        user["schemas"] = [USER_SCHEMA, EXT]
    return user


def op_name(name: str) -> st.SearchStrategy[str]:
    """``op`` as clients send it: lower case, or capitalised as Entra ID does."""
    return st.sampled_from([name, name.capitalize()])


def _op(op: str, path: str | None, value: Any = None, *, with_value: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"op": op}
    if path is not None:
        out["path"] = path
    if with_value:
        out["value"] = value
    return out


set_op = st.sampled_from(["add", "replace"]).flatmap(op_name)
simple_paths = st.sampled_from(
    [*SIMPLE, *(f"name.{s}" for s in NAME_SUBS), *(f"{EXT}:{a}" for a in EXT_SIMPLE)]
)

#: Operations that cannot fail on any user these strategies generate.
safe_ops = st.one_of(
    st.builds(_op, set_op, simple_paths, text),
    st.builds(lambda o, v: _op(o, "active", v), set_op, st.booleans()),
    st.builds(lambda o, v: _op(o, f"{EXT}:manager.value", v), set_op, text),
    st.builds(lambda o, p: _op(o, p, with_value=False), op_name("remove"), simple_paths),
    st.builds(
        lambda o, p: _op(o, p, with_value=False),
        op_name("remove"),
        st.sampled_from(["name", "emails", "active", f"{EXT}:manager", EXT]),
    ),
    st.builds(
        lambda o, v: _op(o, None, v),
        set_op,
        st.dictionaries(
            st.sampled_from(["displayName", "title", "name.givenName", f"{EXT}:department"]),
            text,
            min_size=1,
            max_size=3,
        ),
    ),
    st.builds(
        lambda o, t, v: _op(o, f'emails[type eq "{t}"].value', v),
        set_op,
        st.sampled_from(TYPES),
        email,
    ),
    st.builds(
        lambda o, t: _op(o, f'emails[type eq "{t}"]', with_value=False),
        op_name("remove"),
        st.sampled_from(TYPES),
    ),
    st.builds(lambda o, v: _op(o, "emails", v), op_name("add"), email_item.map(lambda e: [e])),
    st.builds(lambda o, v: _op(o, "emails", v), op_name("replace"), email_lists()),
)

#: Operations that may legitimately fail (noTarget, mutability, a second primary).
risky_ops = st.one_of(
    st.builds(
        lambda o, v: _op(o, 'emails[type eq "work"]', v),
        op_name("replace"),
        email_item,
    ),
    st.builds(
        lambda o, t: _op(o, f'emails[type eq "{t}"].primary', True),
        set_op,
        st.sampled_from(TYPES),
    ),
    st.builds(lambda o, v: _op(o, "emails", v), op_name("add"), email_lists()),
    st.builds(lambda o, v: _op(o, "userName", v), set_op, text),
    st.builds(lambda o: _op(o, "userName", with_value=False), op_name("remove")),
    st.builds(lambda o: _op(o, None, with_value=False), op_name("remove")),
)

UNKNOWN_PATHS = [
    "nonexistent",
    "name.bogus",
    f"{EXT}:bogus",
    'emails[type eq "work"].bogus',
    "urn:example:unknown:2.0:User:title",
]
READ_ONLY_PATHS = [
    "id",
    "meta",
    "meta.created",
    "meta.version",
    "groups",
    f"{EXT}:manager.displayName",
]

invalid_ops = st.one_of(
    st.tuples(
        st.builds(
            lambda o, p, v: _op(o, p, v),
            st.sampled_from(["add", "replace", "remove"]),
            st.sampled_from(UNKNOWN_PATHS),
            text,
        ),
        st.just("invalidPath"),
    ),
    st.tuples(
        # An unknown attribute inside a value filter is a filter error (docs/protocol.md).
        st.builds(lambda o, v: _op(o, 'emails[bogus eq "x"].value', v), set_op, text),
        st.just("invalidFilter"),
    ),
    st.tuples(
        st.one_of(
            st.builds(
                lambda o, v: _op(o, "active", v),
                set_op,
                st.sampled_from([{"x": 1}, [True], 42, "maybe"]),
            ),
            st.builds(
                lambda o, p, v: _op(o, p, v),
                set_op,
                simple_paths,
                st.sampled_from([{"x": "y"}, [1, 2], 42, True]),
            ),
            st.builds(lambda o: _op(o, "emails", {"value": 7}), set_op),
            st.builds(lambda o: _op(o, "name", 42), set_op),
        ),
        st.just("invalidValue"),
    ),
    st.tuples(
        st.builds(
            lambda o, p, v: _op(o, p, v),
            st.sampled_from(["add", "replace", "remove"]),
            st.sampled_from(READ_ONLY_PATHS),
            text,
        ),
        st.just("mutability"),
    ),
)


# -- expected results --------------------------------------------------------------------


def _without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k != "meta"}


def expected_after(before: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """apply_patch on the resource as read, shaped as the service returns it."""
    body = {"schemas": [PATCH_OP_SCHEMA], "Operations": operations}
    result = apply_patch(USER_RESOURCE, _without_meta(before), parse_patch_request(body))
    out = {k: v for k, v in result.resource.items() if k != "password"}
    out["schemas"] = [USER_SCHEMA] + ([EXT] if out.get(EXT) else [])
    return out


def canonical(resource: dict[str, Any]) -> dict[str, Any]:
    """Key order does not matter in JSON; ``schemas`` order does not either."""
    out = _without_meta(resource)
    out["schemas"] = sorted(out.get("schemas", []))
    return out


def patch_body(operations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP_SCHEMA], "Operations": operations}


# -- (a) the service equals apply_patch --------------------------------------------------


@SETTINGS
@given(
    user=users(),
    operations=st.lists(st.one_of(safe_ops, safe_ops, risky_ops), min_size=1, max_size=5),
)
def test_patch_then_read_equals_patch_in_memory(
    harness: Harness, user: dict[str, Any], operations: list[dict[str, Any]]
) -> None:
    org = harness.org()
    id = harness.create(org, user)
    before = harness.get(org, id)
    try:
        expected: dict[str, Any] | ScimError = expected_after(before, operations)
    except ScimError as error:
        expected = error

    response = harness.call(org, "PATCH", f"/Users/{id}", patch_body(operations))
    after = harness.get(org, id)
    event(f"PATCH answered {response.status}" + (", changed" if after != before else ""))

    if isinstance(expected, ScimError):
        assert response.status == expected.status, (response.body, expected)
        assert response.body is not None
        assert response.body.get("scimType") == expected.scim_type, response.body
        assert json.dumps(after) == json.dumps(before)
        return
    assert response.status == 200, response.body
    assert response.body == after
    assert canonical(after) == canonical(expected)
    assert after["meta"]["created"] == before["meta"]["created"]
    if after == before:
        assert after["meta"]["version"] == before["meta"]["version"]


# -- (b) one invalid operation leaves everything unchanged ----------------------------------


@SETTINGS
@given(
    user=users(),
    valid=st.lists(safe_ops, max_size=4),
    invalid=invalid_ops,
    data=st.data(),
)
def test_an_invalid_operation_anywhere_changes_nothing(
    harness: Harness,
    user: dict[str, Any],
    valid: list[dict[str, Any]],
    invalid: tuple[dict[str, Any], str],
    data: st.DataObject,
) -> None:
    bad, scim_type = invalid
    operations = list(valid)
    operations.insert(data.draw(st.integers(0, len(valid)), label="position"), bad)
    org = harness.org()
    id = harness.create(org, user)
    before = harness.get(org, id)

    response = harness.call(org, "PATCH", f"/Users/{id}", patch_body(operations))

    assert response.status == 400, response.body
    assert response.body is not None
    assert response.body.get("scimType") == scim_type, response.body
    assert json.dumps(harness.get(org, id)) == json.dumps(before)
