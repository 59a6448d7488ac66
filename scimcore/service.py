"""ScimService: one method per SCIM operation (RFC 7644 3), over any :class:`Store`.

A glue layer authenticates the request (see :mod:`scimcore.auth`), then calls
:meth:`ScimService.handle` with the organization, the tenant URL and a
:class:`~scimcore.messages.ScimRequest`; it gets back a
:class:`~scimcore.messages.ScimResponse` to render. Every protocol rule lives here
or below; the glue only translates HTTP.

One module, though long: ``_Context`` reads like RFC 7644 section 3, one method per
operation (GET, POST, PUT, PATCH, DELETE, lists and ``.search``, Bulk, ``/Me``), over
the helpers they share (projection, ETag preconditions, locking). The rules every
write shares are in :mod:`scimcore.writes`; filters, PATCH, paging and projection in
their own packages.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from . import jsontext
from .accounts.keyring import KeyRing
from .bulk import BulkJob, parse_bulk_request
from .compat import Profile, get_profile, profile_for_request
from .discovery import ServiceConfig, service_provider_config
from .errors import (
    InternalError,
    InvalidCursor,
    InvalidFilter,
    InvalidPath,
    InvalidSyntax,
    InvalidValue,
    MethodNotAllowed,
    NotFound,
    NotImplementedFeature,
    PayloadTooLarge,
    ScimError,
    TransactionConflict,
    UnsupportedMediaType,
)
from .filters import parse_filter
from .messages import ScimRequest, ScimResponse
from .pagination import (
    PageRequest,
    decode_cursor,
    encode_cursor,
    list_response,
    query_fingerprint,
)
from .patch import PatchOperation, PatchResult, apply_patch, parse_patch_request
from .patch.engine import FilterBudget
from .patch.members import MemberChanges
from .paths import resolve
from .projection import Projection, needs_relations, project
from .schema.attributes import AttributeType, ResourceType
from .schema.core import GROUP_RESOURCE, USER_RESOURCE
from .schema.serializers import load_resource, validate
from .storage.base import Member, Organization, Page, Query, Sort, Store, StoreSession
from .versioning import (
    check_if_match,
    check_if_none_match,
    matches,
)
from .writes import ResourceWriter

Resource = dict[str, Any]
log = logging.getLogger("scimcore.service")
#: How many times a request that lost a conflict with a concurrent transaction runs.
CONFLICT_ATTEMPTS = 4
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
_JSON_TYPES = ("application/scim+json", "application/json")


def error_response(error: ScimError) -> ScimResponse:
    """The one place an error becomes a response (RFC 7644 3.12)."""
    return ScimResponse(error.status, error.to_dict(), error.headers())


class ScimService:
    """The SCIM protocol over a store, for every organization the store holds."""

    def __init__(
        self,
        store: Store,
        config: ServiceConfig | None = None,
        resource_types: Sequence[ResourceType] = (USER_RESOURCE, GROUP_RESOURCE),
        *,
        keyring: KeyRing | None = None,
    ) -> None:
        """``keyring`` encrypts write-only attributes (``password``) before they are
        stored; without one they are not stored at all. Never in plain text."""
        self.store = store
        self.keyring = keyring
        #: The one write path (:mod:`scimcore.writes`), as the SCIM API's source.
        self.writer = ResourceWriter(keyring)
        self.config = config or ServiceConfig()
        self.resource_types = {rt.endpoint.strip("/").lower(): rt for rt in resource_types}

    # -- dispatch ---------------------------------------------------------------

    def handle(
        self,
        org: Organization,
        tenant_url: str,
        request: ScimRequest,
        *,
        profile: Profile | None = None,
    ) -> ScimResponse:
        """Answer one request; every failure becomes a SCIM error response.

        The IdP quirks tolerated (:mod:`scimcore.compat`) are those of
        ``org.profile``, or of ``entra-aadOptscim062020`` when the request carries
        Entra ID's ``?aadOptscim062020`` flag and the organization is on ``entra``
        or ``auto`` (see :func:`~scimcore.compat.profile_for_request`). ``profile``
        overrides both (Bulk passes its own to each operation).
        """
        if profile is None:
            try:
                profile = profile_for_request(get_profile(org.profile), request.query)
            except ScimError as error:
                return error_response(error)
        return self._answer(_Context(self, org, tenant_url.rstrip("/"), request, profile))

    def _answer(self, ctx: _Context) -> ScimResponse:
        """The response to ``ctx``; a request that lost a conflict with a concurrent
        transaction (a deadlock: two group PATCHes that lock the same rows in opposite
        orders) was rolled back whole and runs again, up to :data:`CONFLICT_ATTEMPTS`
        times, after a short random pause that lets the other transaction finish."""
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return self._route(ctx)
            except TransactionConflict as error:
                if attempt == CONFLICT_ATTEMPTS:
                    log.warning(
                        "%s %s lost %d conflicts in a row",
                        ctx.request.method,
                        ctx.request.path,
                        attempt,
                    )
                    return error_response(error)
                time.sleep(random.uniform(0.005, 0.025) * attempt)
            except ScimError as error:
                return error_response(error)
        raise AssertionError("unreachable")

    def _route(self, ctx: _Context) -> ScimResponse:
        parts = [p for p in ctx.request.path.split("/") if p]
        method = ctx.request.method.upper()
        if "\x00" in ctx.request.path:  # no id or endpoint contains NUL
            raise NotFound(f"There is no endpoint at {ctx.request.path!r}.")
        if not parts:
            raise NotFound("No resource at the tenant root; try /Users or /Groups.")
        head = parts[0].lower()
        if len(parts) == 1 and head == ".search":
            _allow(method, ("POST",))
            return ctx.search(None)
        if head in ("serviceproviderconfig", "resourcetypes", "schemas"):
            _allow(method, ("GET",))
            return ctx.discovery(head, parts[1] if len(parts) > 1 else None, len(parts))
        if head == "bulk" and len(parts) == 1:
            _allow(method, ("POST",))
            return ctx.bulk()
        if head == "me":
            return self._route(ctx.as_me(parts[1:]))
        rt = self.resource_types.get(head)
        if rt is None or len(parts) > 2:
            raise NotFound(f"There is no endpoint at '{ctx.request.path}'.")
        if len(parts) == 1:
            _allow(method, ("GET", "POST"))
            return ctx.list_resources(rt) if method == "GET" else ctx.create(rt)
        if parts[1] == ".search":
            _allow(method, ("POST",))
            return ctx.search(rt)
        operations: dict[str, Callable[[ResourceType, str], ScimResponse]] = {
            "GET": ctx.get,
            "PUT": ctx.replace,
            "PATCH": ctx.patch,
            "DELETE": ctx.delete,
        }
        _allow(method, tuple(operations))
        return operations[method](rt, parts[1])


def _check_media_type(content_type: str | None, content_encoding: str | None) -> None:
    """415 unless the body is what this service reads as it is sent: UTF-8 JSON of one of
    :data:`_JSON_TYPES` (no Content-Type is read as JSON too), not compressed.

    Another charset (``utf-16``, ``shift_jis``) would be read as UTF-8 and mean other
    text; a compressed body would be parsed as its compressed bytes; another JSON media
    type (``application/merge-patch+json``) has other semantics than a SCIM body.
    """
    encoding = (content_encoding or "").strip().lower()
    if encoding not in ("", "identity"):
        raise UnsupportedMediaType(
            f"Content-Encoding '{encoding[:40]}' is not accepted; send the body uncompressed."
        )
    ctype, *params = (content_type or "").split(";")
    ctype = ctype.strip().lower()
    if ctype and ctype not in _JSON_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type '{ctype[:80]}' is not accepted; send application/scim+json "
            "or application/json."
        )
    for param in params:
        name, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise UnsupportedMediaType(
                f"charset '{charset[:40]}' is not accepted; send the body as UTF-8 "
                "(RFC 8259 8.1) with charset=utf-8 or no charset."
            )


def _allow(method: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        raise MethodNotAllowed(
            f"{method} is not allowed here; allowed: {', '.join(allowed)}.", allowed
        )


class _Context:
    """One request being answered: the organization, its URL, and the request."""

    def __init__(
        self,
        service: ScimService,
        org: Organization,
        tenant_url: str,
        request: ScimRequest,
        profile: Profile,
        budget: FilterBudget | None = None,
    ) -> None:
        self.service = service
        self.profile = profile
        #: Value-filter work of the whole HTTP request: a Bulk request's operations share it.
        self.budget = budget or FilterBudget()
        self.store = service.store
        self.config = service.config
        self.org = org
        self.tenant_url = tenant_url
        self.request = request

    # -- request helpers ---------------------------------------------------------

    def body(self) -> Any:
        raw = self.request.body
        if len(raw) > self.config.max_payload_bytes:
            raise PayloadTooLarge(
                f"The request body is {len(raw)} bytes; the limit is "
                f"{self.config.max_payload_bytes} bytes."
            )
        _check_media_type(self.request.content_type, self.header("Content-Encoding"))
        if not raw.strip():
            raise InvalidSyntax("The request body is empty; a JSON object is required.")
        try:
            return jsontext.parse(raw)
        except jsontext.JsonTextError as exc:
            raise InvalidSyntax(f"The request body is refused: {exc}.") from None
        except ValueError as exc:
            raise InvalidSyntax(f"The request body is not valid JSON: {exc}.") from None

    def bulk(self) -> ScimResponse:
        """RFC 7644 3.7: each operation runs through the code a single request does,
        with this request's profile and value-filter budget."""
        operations, fail_on_errors = parse_bulk_request(
            self.body(), self.config.max_bulk_operations
        )

        def dispatch(request: ScimRequest) -> ScimResponse:
            operation = _Context(
                self.service, self.org, self.tenant_url, request, self.profile, self.budget
            )
            try:
                return self.service._answer(operation)
            except Exception:
                # The operation's transaction was rolled back; the ones before it stay
                # committed, so the client must get the BulkResponse that says which.
                log.exception(
                    "Bulk operation %s %s failed unexpectedly", request.method, request.path
                )
                return error_response(InternalError())

        return ScimResponse(200, BulkJob(operations, fail_on_errors, dispatch).run())

    def as_me(self, rest: list[str]) -> _Context:
        """RFC 7644 3.11: /Me is an alias of the authenticated subject's User.

        Only a JWT names a subject; an organization's shared secret token stands for
        the IdP, not a person, so /Me then answers 501 as the RFC allows.
        """
        subject = self.request.subject
        if subject is None:
            raise NotImplementedFeature(
                "/Me needs a JWT bearer token whose 'sub' claim names a User of this "
                "organization (its id or userName); the organization's secret token has no user."
            )
        if rest:
            raise NotFound(f"There is no endpoint at '{self.request.path}'.")
        if self.request.method.upper() == "POST":
            raise MethodNotAllowed(
                "POST /Me is not supported: create users at /Users.",
                ("GET", "PUT", "PATCH", "DELETE"),
            )
        user_id = self._subject_user_id(subject)
        request = replace(self.request, path=f"/Users/{user_id}")
        return _Context(self.service, self.org, self.tenant_url, request, self.profile, self.budget)

    def _subject_user_id(self, subject: str) -> str:
        escaped = json.dumps(subject)
        users = next((rt for rt in self.service.resource_types.values() if rt.id == "User"), None)
        if users is None:
            raise NotImplementedFeature("/Me needs the User resource type.")
        unknown = NotFound(
            f"No User of this organization has the id or userName {escaped[:200]} "
            "named by the token's 'sub' claim."
        )
        try:
            flt = parse_filter(f"id eq {escaped} or userName eq {escaped}", users)
            with self.store.session(self.org.id, readonly=True) as session:
                found = session.query("User", Query(filter=flt, count=2, relations=False))
        except (InvalidFilter, InvalidValue):
            # A subject no User can have (a NUL, a lone surrogate, beyond an indexed
            # value's length): the filter built from it is refused, but its text is
            # ours, not the client's, and must not show.
            raise unknown from None
        by_id = [r for r in found.resources if r["id"] == subject]
        if by_id or len(found.resources) == 1:
            return str((by_id or found.resources)[0]["id"])
        raise unknown

    def projection(self, rt: ResourceType, params: dict[str, Any] | None = None) -> Projection:
        source = params if params is not None else self.request.query
        return Projection.parse(
            rt, _text(source.get("attributes")), _text(source.get("excludedAttributes"))
        )

    def header(self, name: str) -> str | None:
        """A request header, looked up case-insensitively (RFC 9110 5.1)."""
        wanted = name.lower()
        for key, value in self.request.headers.items():
            if key.lower() == wanted:
                return value
        return None

    def location(self, rt: ResourceType, id: str) -> str:
        return f"{self.tenant_url}{rt.endpoint}/{id}"

    def render(self, rt: ResourceType, resource: Resource, projection: Projection) -> Resource:
        """Add what depends on the public URL (``meta.location``, ``$ref``) and project."""
        out = dict(resource)
        meta = dict(out.get("meta", {}))
        meta["location"] = self.location(rt, out["id"])
        out["meta"] = meta
        for key in ("members", "groups"):
            if key in out:
                out[key] = [self._with_ref(m, key) for m in out[key]]
        return project(rt, out, projection)

    def _with_ref(self, item: Resource, key: str) -> Resource:
        endpoint = "/Groups" if key == "groups" or item.get("type") == "Group" else "/Users"
        return {**item, "$ref": f"{self.tenant_url}{endpoint}/{item['value']}"}

    def resource_response(
        self, status: int, rt: ResourceType, resource: Resource, projection: Projection
    ) -> ScimResponse:
        headers = {"Location": self.location(rt, resource["id"])}
        version = resource.get("meta", {}).get("version")
        if version:
            headers["ETag"] = version
        return ScimResponse(status, self.render(rt, resource, projection), headers)

    # -- discovery (RFC 7644 4) ----------------------------------------------------

    def discovery(self, head: str, id: str | None, depth: int) -> ScimResponse:
        if depth > 2 or (head == "serviceproviderconfig" and id is not None):
            raise NotFound(f"There is no endpoint at '{self.request.path}'.")
        base = self.tenant_url
        if head == "serviceproviderconfig":
            doc = service_provider_config(self.config, f"{base}/ServiceProviderConfig")
            return ScimResponse(200, doc)
        rts = list(self.service.resource_types.values())
        docs: dict[str, Resource]
        if head == "resourcetypes":
            docs = {rt.id: rt.to_dict(f"{base}/ResourceTypes/{rt.id}") for rt in rts}
        else:
            schemas = {s.id: s for rt in rts for s in rt.schemas()}
            docs = {sid: s.to_dict(f"{base}/Schemas/{sid}") for sid, s in schemas.items()}
        if id is None:
            items = list(docs.values())
            return ScimResponse(200, list_response(items, len(items), 1))
        for key, doc in docs.items():
            if key.lower() == id.lower():
                return ScimResponse(200, doc)
        raise NotFound(f"No {'resource type' if head == 'resourcetypes' else 'schema'} '{id}'.")

    # -- queries (RFC 7644 3.4) ------------------------------------------------------

    def list_resources(self, rt: ResourceType) -> ScimResponse:
        return self._query([rt], dict(self.request.query))

    def search(self, rt: ResourceType | None) -> ScimResponse:
        body = self.body()
        if not isinstance(body, dict):
            raise InvalidSyntax("A SearchRequest must be a JSON object.")
        schemas = body.get("schemas")
        if not isinstance(schemas, list) or SEARCH_REQUEST not in schemas:
            raise InvalidSyntax(f"A SearchRequest must have schemas ['{SEARCH_REQUEST}'].")
        params = {k: v for k, v in body.items() if k != "schemas"}
        for key in ("attributes", "excludedAttributes"):
            value = params.get(key)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                params[key] = ",".join(value)
            elif value is not None and not isinstance(value, str):
                raise InvalidValue(
                    f"'{key}' must be a list of attribute names (strings), "
                    f"not {json.dumps(value)[:80]}."
                )
        types = [rt] if rt else list(self.service.resource_types.values())
        return self._query(types, params, from_json=True)

    def _query(
        self, types: list[ResourceType], params: dict[str, Any], *, from_json: bool = False
    ) -> ScimResponse:
        """A page of ``types``; ``params`` are a query string's, or a SearchRequest's
        (``from_json``: JSON values, so ``count`` must be a JSON integer)."""
        page = PageRequest.parse(
            params.get("startIndex"),
            params.get("count"),
            default_count=self.config.default_page_size,
            max_count=self.config.max_page_size,
            from_json=from_json,
        )
        order = (_text(params.get("sortOrder")) or "ascending").lower()
        if order not in ("ascending", "descending"):
            raise InvalidValue(f"sortOrder must be 'ascending' or 'descending', not '{order}'.")
        plans = self._plans(types, params, order == "descending")
        if params.get("cursor") is not None:
            return self._cursor_page(types, plans, params, page.count, order)
        rendered: list[Resource] = []
        total = 0
        offset = page.start_index - 1
        remaining = page.count
        with self.store.session(self.org.id, readonly=True) as session:
            for rt, query, projection in plans:
                if len(plans) == 1:
                    result = session.query(
                        rt.id, replace(query, start_index=offset + 1, count=remaining)
                    )
                    size = result.total
                else:
                    # A root search pages over the concatenation of the types' results.
                    size = session.query(rt.id, replace(query, count=0)).total
                    take = max(0, min(remaining, size - offset))
                    result = Page(size, [])
                    if take:
                        result = session.query(
                            rt.id, replace(query, start_index=offset + 1, count=take)
                        )
                rendered.extend(self.render(rt, r, projection) for r in result.resources)
                total += size
                remaining -= len(result.resources)
                offset = max(0, offset - size)
        return ScimResponse(200, list_response(rendered, total, page.start_index))

    def _cursor_page(
        self,
        types: list[ResourceType],
        plans: list[tuple[ResourceType, Query, Projection]],
        params: dict[str, Any],
        count: int,
        order: str,
    ) -> ScimResponse:
        """One page of cursor pagination (RFC 9865): keyset paging in the store, so a
        deep page costs what the first does and concurrent inserts never shift it."""
        if len(types) > 1:
            raise InvalidValue("Cursor paging is supported on /Users and /Groups, not at the root.")
        if params.get("startIndex") not in (None, ""):
            raise InvalidValue("Use either startIndex (index paging) or cursor, not both.")
        rt, query, projection = plans[0]
        fingerprint = query_fingerprint(
            rt.id, _text(params.get("filter")), _text(params.get("sortBy")), order
        )
        after = decode_cursor(str(params["cursor"]), fingerprint)
        if after is not None and not _key_fits(after.key, query.sort):
            raise InvalidCursor(
                f"The cursor '{str(params['cursor'])[:40]}' was not issued by this service."
            )
        with self.store.session(self.org.id, readonly=True) as session:
            result = session.query(rt.id, replace(query, keyset=True, after=after, count=count))
        rendered = [self.render(rt, r, projection) for r in result.resources]
        following = encode_cursor(result.next, fingerprint) if result.next else None
        return ScimResponse(200, list_response(rendered, result.total, None, following))

    def _plans(
        self, types: list[ResourceType], params: dict[str, Any], descending: bool
    ) -> list[tuple[ResourceType, Query, Projection]]:
        """Filter, sort and projection per resource type.

        At the service root (several types) a filter, sortBy or attribute a type does
        not define just leaves that type out (RFC 7644 3.4.3); only when no type
        accepts the request is it an error.
        """
        plans = []
        errors: list[ScimError] = []
        for rt in types:
            try:
                query = self._build_query(rt, params, descending)
                projection = Projection.parse(
                    rt,
                    _text(params.get("attributes")),
                    _text(params.get("excludedAttributes")),
                    lenient=len(types) > 1,
                )
            except ScimError as error:
                if len(types) == 1:
                    raise
                errors.append(error)
                continue
            relations = needs_relations(rt, projection, _relation(rt))
            plans.append((rt, replace(query, relations=relations), projection))
        if not plans:
            raise errors[0]
        return plans

    def _build_query(self, rt: ResourceType, params: dict[str, Any], descending: bool) -> Query:
        text = _text(params.get("filter"))
        flt = parse_filter(text, rt, self.profile) if text and text.strip() else None
        sort = None
        sort_by = _text(params.get("sortBy"))
        if sort_by:
            try:
                sort = Sort(resolve(rt, sort_by, implicit_value=True), descending)
                if sort.path.never_returned:
                    raise InvalidPath(
                        f"'{sort_by}' is never returned (RFC 7643 2.2), so results "
                        "cannot be sorted by it."
                    )
                if sort.path.made_when_answered:
                    raise InvalidPath(
                        f"'{sort_by}' is not stored but made from the service's URL in "
                        "each answer, so results cannot be sorted by it."
                    )
            except ScimError as exc:
                raise InvalidValue(f"sortBy: {exc.detail}") from None
        return Query(filter=flt, sort=sort)

    # -- single resources (RFC 7644 3.3, 3.4.1, 3.5, 3.6) --------------------------------

    def get(self, rt: ResourceType, id: str) -> ScimResponse:
        projection = self.projection(rt)
        relations = needs_relations(rt, projection, _relation(rt))
        with self.store.session(self.org.id, readonly=True) as session:
            resource = session.get(rt.id, id, relations=relations)
        version = resource["meta"]["version"]
        if_none_match = self.header("If-None-Match")
        if if_none_match is not None and matches(if_none_match, version):
            return ScimResponse(304, None, {"ETag": version})
        return self.resource_response(200, rt, resource, projection)

    def create(self, rt: ResourceType) -> ScimResponse:
        data = load_resource(rt, self.body(), self.profile)
        members = _members(data.pop("members", None)) if _is_group(rt) else None
        projection = self.projection(rt)
        with self.store.session(self.org.id, all_or_nothing=True) as session:
            self.service.writer.create(
                session,
                rt,
                data,
                members=None if members is None else [_member_dict(m) for m in members],
            )
            # A user just created belongs to no group yet: no membership lookup.
            stored = session.get(
                rt.id,
                data["id"],
                relations=_is_group(rt) and needs_relations(rt, projection, _relation(rt)),
            )
        return self.resource_response(201, rt, stored, projection)

    def replace(self, rt: ResourceType, id: str) -> ScimResponse:
        data = load_resource(rt, self.body(), self.profile)
        members = _members(data.pop("members", None)) if _is_group(rt) else None
        projection = self.projection(rt)
        relations = needs_relations(rt, projection, _relation(rt))
        with self.store.session(self.org.id, all_or_nothing=True) as session:
            current, groups = self._lock(session, rt, id, relations)
            self.service.writer.replace(session, rt, current, data, keep_absent_secrets=True)
            if members is not None:
                _refuse_self_membership(id, members)
                session.replace_members(id, members)
            stored = self._written(session, rt, id, relations, groups)
        return self.resource_response(200, rt, stored, projection)

    def patch(self, rt: ResourceType, id: str) -> ScimResponse:
        operations = parse_patch_request(self.body(), self.profile)
        asked = "attributes" in self.request.query or "excludedAttributes" in self.request.query
        projection = self.projection(rt)
        relations = needs_relations(rt, projection, _relation(rt))
        with self.store.session(self.org.id, all_or_nothing=True) as session:
            version, groups = None, None
            if _is_group(rt) and not self._conditional():
                version = self._patch_membership(session, rt, id, operations)
            if version is None:
                version, groups = self._patch_locked(session, rt, id, operations, relations)
            if _is_group(rt) and not asked:
                # RFC 7644 3.5.2 allows 204; it spares loading 100,000 members to
                # return a group whose membership changed by one.
                return ScimResponse(204, None, {"Location": self.location(rt, id), "ETag": version})
            stored = self._written(session, rt, id, relations, groups)
        return self.resource_response(200, rt, stored, projection)

    def _patch_locked(
        self,
        session: StoreSession,
        rt: ResourceType,
        id: str,
        operations: list[PatchOperation],
        relations: bool,
    ) -> tuple[str, list[Resource] | None]:
        """Apply a PATCH to the resource locked for this transaction; its new version,
        and the User's groups as :meth:`_lock` read them."""
        current, groups = self._lock(session, rt, id, relations)
        result = self._apply_patch(session, rt, current, operations)
        version: str = current["meta"]["version"]
        if result.changed:
            updated = validate(rt, result.resource, self.profile)
            version = self.service.writer.replace(
                session, rt, current, updated, keep_absent_secrets=False
            )
        _change_members(session, id, result.members)
        return version, groups

    def _apply_patch(
        self,
        session: StoreSession,
        rt: ResourceType,
        current: Resource,
        operations: list[PatchOperation],
    ) -> PatchResult:
        """``operations`` applied to ``current``; a group's members are read only if a
        member filter other than ``value eq`` needs them."""
        return apply_patch(
            rt,
            current,
            operations,
            load_members=lambda: list(session.get(rt.id, current["id"]).get("members", [])),
            profile=self.profile,
            budget=self.budget,
        )

    def _patch_membership(
        self, session: StoreSession, rt: ResourceType, id: str, operations: list[PatchOperation]
    ) -> str | None:
        """A group PATCH that only changes members (what Okta and Entra send), without
        If-Match: the group is locked, its membership rows change, and it gets its next
        version. None when the PATCH changes more than members (the caller goes on under
        the same lock).

        The group is locked before its rows change, as every other writer of a group
        does (PUT, a PATCH with If-Match): on PostgreSQL, rows-then-group here against
        group-then-rows there deadlocked concurrent pushes to one group (each deadlock
        costing a second of ``deadlock_timeout``, then a 503).
        """
        current = session.get(rt.id, id, relations=False, for_update=True)
        result = self._apply_patch(session, rt, current, operations)
        if result.resource != current:
            return None
        version: str = current["meta"]["version"]
        if result.members:
            _change_members(session, id, result.members)
            version = self.service.writer.save(session, rt, current, dict(current))
        return version

    def delete(self, rt: ResourceType, id: str) -> ScimResponse:
        with self.store.session(self.org.id, all_or_nothing=True) as session:
            current = self._current(session, rt, id) if self._conditional() else None
            self.service.writer.delete(session, rt, id, current)
        return ScimResponse(204)

    def _conditional(self) -> bool:
        """Whether the write carries a precondition (``If-Match``, ``If-None-Match``)."""
        return self.header("If-Match") is not None or self.header("If-None-Match") is not None

    def _current(
        self, session: StoreSession, rt: ResourceType, id: str, *, relations: bool = False
    ) -> Resource:
        """The resource, locked for this transaction, after the ``If-Match`` and
        ``If-None-Match`` checks."""
        current = session.get(rt.id, id, relations=relations, for_update=True)
        check_if_match(self.header("If-Match"), current["meta"]["version"])
        check_if_none_match(self.header("If-None-Match"), current["meta"]["version"])
        return current

    def _lock(
        self, session: StoreSession, rt: ResourceType, id: str, relations: bool
    ) -> tuple[Resource, list[Resource] | None]:
        """:meth:`_current` for a PUT or PATCH, and, when the response shows a User's
        ``groups``, those groups, read with the locked row (None otherwise).

        A User's own write never changes its groups (they are read-only, RFC 7643
        4.1.2), so the response needs no read-back after the write (:meth:`_written`).
        """
        if not relations or _is_group(rt):
            return self._current(session, rt, id), None
        current = self._current(session, rt, id, relations=True)
        return current, current.pop("groups", [])

    def _written(
        self,
        session: StoreSession,
        rt: ResourceType,
        id: str,
        relations: bool,
        groups: list[Resource] | None,
    ) -> Resource:
        """The resource as this request left it, for the response; ``groups`` as
        :meth:`_lock` returned them."""
        if groups is None:
            return session.get(rt.id, id, relations=relations)
        stored = session.get(rt.id, id, relations=False)  # what the session wrote
        if groups:
            stored["groups"] = groups
        return stored


def _is_group(rt: ResourceType) -> bool:
    """Groups keep members in the store's membership table (also when extended)."""
    return rt.id == "Group"


def _refuse_self_membership(group_id: str, members: Sequence[Member]) -> None:
    """A group among its own members would make every expansion of it (an IdP or an
    application resolving nested groups) recurse forever. Longer cycles (A in B, B in
    A) are not refused: finding them means walking the membership graph."""
    if any(m.value == group_id for m in members):
        raise InvalidValue(
            f"A group cannot be a member of itself: 'members' holds the group's own id "
            f"'{group_id}'."
        )


def _change_members(session: StoreSession, group_id: str, members: MemberChanges) -> None:
    _refuse_self_membership(group_id, (*members.add, *(members.replace or ())))
    if members.replace is not None:
        session.replace_members(group_id, members.replace)
    if members.add:
        session.add_members(group_id, members.add)
    if members.remove:
        session.remove_members(group_id, members.remove)


#: The Python types of a sort key (a cursor's position) for each attribute type.
_KEY_TYPES: dict[AttributeType, tuple[type, ...]] = {
    AttributeType.BOOLEAN: (bool,),
    AttributeType.INTEGER: (int,),
    AttributeType.DECIMAL: (int, float),
}


def _key_fits(key: Any, sort: Sort | None) -> bool:
    """Whether a cursor's sort key could have come from a listing sorted by ``sort``:
    PostgreSQL refuses to compare text with a number, so a forged one must stop here.
    Unsorted listings page by id alone (no key); a key may be null (absent values)."""
    if key is None:
        return True
    if sort is None:
        return False
    expected = _KEY_TYPES.get(sort.path.definition.type, (str,))
    return isinstance(key, expected) and (bool in expected or not isinstance(key, bool))


def _relation(rt: ResourceType) -> str:
    return "members" if _is_group(rt) else "groups"


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _members(value: Any) -> list[Member]:
    """Group members from a POST/PUT body: each needs the member's id in ``value``."""
    out: list[Member] = []
    for item in value or []:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("value"), str)
            or not item["value"]
        ):
            raise InvalidValue("Each entry of 'members' needs a 'value' with the member's id.")
        kind = item.get("type") or "User"
        out.append(
            Member(
                item["value"],
                "Group" if str(kind).lower() == "group" else "User",
                item.get("display"),
            )
        )
    return out


def _member_dict(member: Member) -> Resource:
    out: Resource = {"value": member.value, "type": member.type}
    if member.display:
        out["display"] = member.display
    return out
