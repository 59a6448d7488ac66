"""What the SQL store refuses before the database sees it, and how database errors read.

Values the two databases would treat differently (a lone surrogate, a key too long for
a PostgreSQL index) are refused the same way on both, for every writer: the SCIM
service, the CSV import, the console, an embedder's code. And a database error means
``503`` only when the database cannot serve anyone: a statement beyond one of its
limits is the request's fault and a ``400``, since an IdP retries a ``503`` for hours.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from scimcore.errors import BadRequest, InvalidValue, NotFound, ServiceUnavailable
from scimcore.storage.sql import SqlStore
from scimcore.storage.sql.engine import transaction
from scimcore.storage.sql.tables import MAX_KEY_LENGTH
from scimcore.testing import make_group, make_user, new_org


def test_a_lone_surrogate_is_refused_before_the_database_sees_it(sql_store: SqlStore) -> None:
    org = new_org(sql_store)
    with sql_store.session(org.id) as s:
        s.insert("User", make_user("u", "user", nickName="before"))
        user = s.get("User", "u", for_update=True)
        with pytest.raises(InvalidValue, match="surrogate"):
            s.update("User", {**user, "nickName": "a\ud800b"})
        with pytest.raises(InvalidValue, match="surrogate"):
            s.update("User", {**user, "name": {"\udc00": "key"}})
        with pytest.raises(InvalidValue, match="surrogate"):
            s.insert("User", make_user("v", "\udfffname"))
        s.update("User", {**user, "nickName": "smile \U0001f600 and 山田"})
    with sql_store.session(org.id, readonly=True) as s:
        assert s.get("User", "u")["nickName"] == "smile \U0001f600 and 山田"
        with pytest.raises(NotFound):
            s.get("User", "v")


@pytest.mark.parametrize(
    ("resource_type", "attribute"),
    [
        ("User", "userName"),
        ("User", "displayName"),
        ("User", "externalId"),
        ("User", "emails.value"),
        ("Group", "displayName"),
        ("Group", "externalId"),
    ],
)
def test_an_indexed_value_over_the_limit_is_refused_on_every_database(
    sql_store: SqlStore, resource_type: str, attribute: str
) -> None:
    org = new_org(sql_store)

    def resource(id: str, value: str) -> dict[str, object]:
        if resource_type == "Group":
            base = make_group(id, f"group {id}")
        else:
            base = make_user(id, f"user {id}")
        if attribute == "emails.value":
            return {**base, "emails": [{"value": value}]}
        return {**base, attribute: value}

    with sql_store.session(org.id) as s:
        with pytest.raises(InvalidValue, match=rf"'{attribute}'.*limit is {MAX_KEY_LENGTH}"):
            s.insert(resource_type, resource("long", "é" * (MAX_KEY_LENGTH + 1)))
        # The limit counts characters: 512 four-byte characters fit PostgreSQL's index.
        s.insert(resource_type, resource("fits", "\U0001f600" * MAX_KEY_LENGTH))
    with sql_store.session(org.id, readonly=True) as s:
        assert s.get(resource_type, "fits")["id"] == "fits"
        with pytest.raises(NotFound):
            s.get(resource_type, "long")


def test_a_statement_beyond_a_database_limit_is_a_400_not_a_503(sql_store: SqlStore) -> None:
    engine = sql_store.engine
    if engine.dialect.name == "sqlite":
        # SQLite parses a chain of OR into a tree one level per term, at most 1,000 deep.
        statement = "SELECT 1 WHERE " + " OR ".join(["1 = 2"] * 2000)
    else:
        # A B-tree entry larger than a third of a page.
        statement = (
            "CREATE TEMP TABLE wide (v text); CREATE INDEX ON wide (v); "
            "INSERT INTO wide SELECT string_agg(md5(i::text), '') FROM generate_series(1, 400) i"
        )
    refusal = pytest.raises(BadRequest, match="too large or complex")
    with refusal as refused, transaction(engine) as conn:
        conn.exec_driver_sql(statement)
    assert refused.value.status == 400


def test_a_statement_timeout_is_a_503(sql_store: SqlStore) -> None:
    engine = sql_store.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no statement timeout")
    with pytest.raises(ServiceUnavailable), transaction(engine) as conn:
        conn.exec_driver_sql("SET LOCAL statement_timeout = 10")
        conn.exec_driver_sql("SELECT pg_sleep(1)")


def test_a_mistake_in_sql_is_raised_as_it_is(sql_store: SqlStore) -> None:
    with pytest.raises(sa.exc.DBAPIError), transaction(sql_store.engine) as conn:
        conn.exec_driver_sql("SELECT * FROM no_such_table_here")


def test_a_deadlock_is_a_transaction_conflict_the_service_can_retry(sql_store: SqlStore) -> None:
    engine = sql_store.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: no deadlock")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS dl_probe (id int PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO dl_probe VALUES (1), (2) ON CONFLICT DO NOTHING")
    both_locked_one = threading.Barrier(2, timeout=10)
    outcomes: list[BaseException | None] = []

    def lock(first: int, second: int) -> None:
        try:
            with transaction(engine) as conn:
                conn.exec_driver_sql(f"SELECT 1 FROM dl_probe WHERE id = {first} FOR UPDATE")
                both_locked_one.wait()
                conn.exec_driver_sql(f"SELECT 1 FROM dl_probe WHERE id = {second} FOR UPDATE")
            outcomes.append(None)
        except BaseException as exc:  # the outcome is what the test is about
            outcomes.append(exc)

    threads = [threading.Thread(target=lock, args=order) for order in ((1, 2), (2, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(type(o).__name__ for o in outcomes) == ["NoneType", "TransactionConflict"]
    conflict = next(o for o in outcomes if o is not None)
    assert isinstance(conflict, ServiceUnavailable) and conflict.headers() == {"Retry-After": "1"}
