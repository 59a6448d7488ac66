"""Discovery endpoints: RFC 7644 4 and the schemas of RFC 7643 5-7."""

from __future__ import annotations

from ..context import GROUP, SCIM_JSON, SPC, USER, Context
from ..model import area

check = area("discovery")

SPC_REQUIRED = (
    "patch",
    "bulk",
    "filter",
    "changePassword",
    "sort",
    "etag",
    "authenticationSchemes",
)


@check(
    "discovery.spc",
    "GET /ServiceProviderConfig returns the configuration with every required attribute",
    "RFC 7644 4; RFC 7643 5",
    f"200, schemas contains {SPC}, and {', '.join(SPC_REQUIRED)} are present",
)
def spc(ctx: Context) -> None:
    data = ctx.body(ctx.get("/ServiceProviderConfig"), 200)
    ctx.expect(SPC in (data.get("schemas") or []), f"schemas = {data.get('schemas')!r}")
    missing = [key for key in SPC_REQUIRED if key not in data]
    ctx.expect(not missing, f"missing attributes: {missing}")
    for key in ("patch", "bulk", "filter", "changePassword", "sort", "etag"):
        ctx.expect(
            isinstance(data[key], dict) and isinstance(data[key].get("supported"), bool),
            f"{key}.supported is not a boolean: {data[key]!r}",
        )


@check(
    "discovery.resource-types",
    "GET /ResourceTypes lists User and Group with endpoint and schema",
    "RFC 7644 4; RFC 7643 6",
    "200 ListResponse containing User (/Users, core User schema) and Group (/Groups)",
)
def resource_types(ctx: Context) -> None:
    resources, _, _ = ctx.search("/ResourceTypes")
    by_schema = {r.get("schema"): r for r in resources if isinstance(r, dict)}
    for schema, endpoint in ((USER, "/Users"), (GROUP, "/Groups")):
        rtype = by_schema.get(schema)
        ctx.expect(rtype is not None, f"no resource type with schema {schema}")
        assert rtype is not None
        ctx.expect(
            rtype.get("endpoint") == endpoint,
            f"{schema} endpoint is {rtype.get('endpoint')!r}",
            f"endpoint {endpoint}",
        )


@check(
    "discovery.resource-type-by-id",
    "GET /ResourceTypes/User returns that resource type",
    "RFC 7644 4",
    "200 with id User and schema urn:ietf:params:scim:schemas:core:2.0:User",
)
def resource_type_by_id(ctx: Context) -> None:
    data = ctx.body(ctx.get("/ResourceTypes/User"), 200)
    ctx.expect(data.get("id") == "User" and data.get("schema") == USER, f"got {data!r}"[:400])


@check(
    "discovery.schemas",
    "GET /Schemas lists the User and Group schemas with their attributes",
    "RFC 7644 4; RFC 7643 7",
    "200 ListResponse with the User schema (attribute userName) and the Group schema",
)
def schemas(ctx: Context) -> None:
    resources, _, _ = ctx.search("/Schemas")
    by_id = {r.get("id"): r for r in resources if isinstance(r, dict)}
    ctx.expect(USER in by_id and GROUP in by_id, f"schema ids: {sorted(map(str, by_id))}")
    names = {a.get("name") for a in by_id[USER].get("attributes") or [] if isinstance(a, dict)}
    ctx.expect("userName" in names, f"User attributes: {sorted(map(str, names))}")


@check(
    "discovery.schema-by-id",
    "GET /Schemas/{urn} returns one schema",
    "RFC 7644 4",
    "200 with id urn:ietf:params:scim:schemas:core:2.0:User and its attributes",
)
def schema_by_id(ctx: Context) -> None:
    data = ctx.body(ctx.get(f"/Schemas/{USER}"), 200)
    ctx.expect(data.get("id") == USER, f"id is {data.get('id')!r}")
    ctx.expect(isinstance(data.get("attributes"), list), "no attributes array")


@check(
    "discovery.content-type",
    "Responses use the media type application/scim+json",
    "RFC 7644 3.1; RFC 7644 8.1",
    f"Content-Type {SCIM_JSON} on discovery, list and error responses",
)
def content_type(ctx: Context) -> None:
    for path in ("/ServiceProviderConfig", "/Users?count=1", f"/Users/{ctx.name('missing')}"):
        ex = ctx.get(path)
        ctx.focus = ex
        ctx.expect(
            ex.media_type == SCIM_JSON,
            f"GET {path}: Content-Type {ex.header('Content-Type')!r} (HTTP {ex.status})",
        )
