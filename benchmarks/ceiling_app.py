"""The "ceiling": the least work a Flask + SQLAlchemy app can do for the benchmarked routes.

It is not a SCIM server (no validation, no schemas, no projection, one static token);
it answers the same URLs with the same status codes and similar bodies, so the
benchmark can say how close the real service gets to what Flask + SQLAlchemy + the
database cost by themselves on the same gunicorn settings.

Environment: ``CEILING_DATABASE_URL`` (SQLAlchemy URL), ``CEILING_TOKEN`` (bearer token).
Serve with ``gunicorn -w 1 -k gthread --threads 4 benchmarks.ceiling_app:app``
(or ``ceiling_app:app`` with ``--chdir benchmarks``).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, request

metadata = sa.MetaData()
users = sa.Table(
    "ceiling_users",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.Text(), nullable=False, unique=True),
    sa.Column("data", sa.JSON(), nullable=False),
)
groups = sa.Table(
    "ceiling_groups",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("display_name", sa.Text(), nullable=False, unique=True),
    sa.Column("data", sa.JSON(), nullable=False),
)
members = sa.Table(
    "ceiling_members",
    metadata,
    sa.Column("group_id", sa.String(64), primary_key=True),
    sa.Column("member_id", sa.String(64), primary_key=True),
)

CT = "application/scim+json"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
_EQ = re.compile(r'^\s*userName\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$', re.IGNORECASE)


def make_engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragma(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA busy_timeout = 30000")
            cur.close()

        return engine
    return sa.create_engine(url, pool_size=10, max_overflow=20)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type=CT)


def _error(status: int, detail: str) -> Response:
    return _json(
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": str(status),
            "detail": detail,
        },
        status,
    )


def create_app(url: str | None = None, token: str | None = None) -> Flask:
    engine = make_engine(url or os.environ["CEILING_DATABASE_URL"])
    metadata.create_all(engine)
    expected = "Bearer " + (token or os.environ.get("CEILING_TOKEN", "ceiling"))
    app = Flask("ceiling")
    base = "/scim/v2"

    @app.before_request
    def _auth() -> Response | None:
        if request.path.startswith(base) and request.headers.get("Authorization") != expected:
            return _error(401, "bad token")
        return None

    @app.get("/healthz")
    def health() -> str:
        return "ok"

    @app.get(f"{base}/Users")
    def list_users() -> Response:
        flt = request.args.get("filter")
        with engine.connect() as conn:
            if flt:
                m = _EQ.match(flt)
                if not m:
                    return _error(400, "only userName eq")
                rows = conn.execute(
                    sa.select(users.c.data).where(users.c.user_name == m.group(1))
                ).scalars().all()
                total = len(rows)
                start = 1
            elif "cursor" in request.args:  # keyset paging: the cursor is the last id seen
                count = min(max(int(request.args.get("count", 100)), 0), 1000)
                after = request.args["cursor"]
                total = conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one()
                q = sa.select(users.c.data).order_by(users.c.id).limit(count)
                if after:
                    q = q.where(users.c.id > after)
                rows = conn.execute(q).scalars().all()
                body = {"schemas": [LIST], "totalResults": total, "itemsPerPage": len(rows),
                        "Resources": rows}
                if len(rows) == count and rows:
                    body["nextCursor"] = rows[-1]["id"]
                return _json(body)
            else:
                start = max(int(request.args.get("startIndex", 1)), 1)
                count = min(max(int(request.args.get("count", 100)), 0), 1000)
                total = conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one()
                rows = conn.execute(
                    sa.select(users.c.data).order_by(users.c.id).offset(start - 1).limit(count)
                ).scalars().all()
        return _json(
            {
                "schemas": [LIST],
                "totalResults": total,
                "startIndex": start,
                "itemsPerPage": len(rows),
                "Resources": rows,
            }
        )

    @app.post(f"{base}/Users")
    def create_user() -> Response:
        body = request.get_json(force=True)
        now = _now()
        body["id"] = str(uuid.uuid4())
        body["meta"] = {"resourceType": "User", "created": now, "lastModified": now,
                        "version": 'W/"1"'}
        try:
            with engine.begin() as conn:
                conn.execute(
                    sa.insert(users).values(id=body["id"], user_name=body["userName"], data=body)
                )
        except sa.exc.IntegrityError:
            return _error(409, "userName taken")
        return _json(body, 201)

    @app.get(f"{base}/Users/<id>")
    def get_user(id: str) -> Response:
        with engine.connect() as conn:
            data = conn.execute(sa.select(users.c.data).where(users.c.id == id)).scalar()
        return _json(data) if data is not None else _error(404, "not found")

    @app.put(f"{base}/Users/<id>")
    def put_user(id: str) -> Response:
        body = request.get_json(force=True)
        with engine.begin() as conn:
            old = conn.execute(sa.select(users.c.data).where(users.c.id == id)).scalar()
            if old is None:
                return _error(404, "not found")
            body["id"] = id
            body["meta"] = {**old["meta"], "lastModified": _now()}
            conn.execute(
                sa.update(users).where(users.c.id == id)
                .values(user_name=body["userName"], data=body)
            )
        return _json(body)

    @app.patch(f"{base}/Users/<id>")
    def patch_user(id: str) -> Response:
        body = request.get_json(force=True)
        with engine.begin() as conn:
            data = conn.execute(sa.select(users.c.data).where(users.c.id == id)).scalar()
            if data is None:
                return _error(404, "not found")
            for op in body.get("Operations", []):
                if op.get("op", "").lower() in ("replace", "add") and "path" not in op:
                    data.update(op["value"])
            data["meta"]["lastModified"] = _now()
            conn.execute(sa.update(users).where(users.c.id == id).values(data=data))
        return _json(data)

    @app.get(f"{base}/Groups/<id>")
    def get_group(id: str) -> Response:
        with engine.connect() as conn:
            data = conn.execute(sa.select(groups.c.data).where(groups.c.id == id)).scalar()
            if data is None:
                return _error(404, "not found")
            if "members" not in request.args.get("excludedAttributes", ""):
                data["members"] = [
                    {"value": v}
                    for v in conn.execute(
                        sa.select(members.c.member_id).where(members.c.group_id == id)
                    ).scalars()
                ]
        return _json(data)

    @app.patch(f"{base}/Groups/<id>")
    def patch_group(id: str) -> Response:
        body = request.get_json(force=True)
        with engine.begin() as conn:
            if conn.execute(sa.select(groups.c.id).where(groups.c.id == id)).first() is None:
                return _error(404, "not found")
            for op in body.get("Operations", []):
                kind = op.get("op", "").lower()
                if kind == "add":
                    for m in op.get("value", []):
                        exists = conn.execute(
                            sa.select(members.c.member_id).where(
                                members.c.group_id == id, members.c.member_id == m["value"]
                            )
                        ).first()
                        if exists is None:
                            conn.execute(
                                sa.insert(members).values(group_id=id, member_id=m["value"])
                            )
                elif kind == "remove":
                    m = re.search(r'value eq "([^"]+)"', op.get("path", ""))
                    if m:
                        conn.execute(
                            sa.delete(members).where(
                                members.c.group_id == id, members.c.member_id == m.group(1)
                            )
                        )
        return Response(status=204)

    return app


if os.environ.get("CEILING_DATABASE_URL"):
    app = create_app()
