"""Bulk operations (RFC 7644 3.7).

A BulkRequest carries up to ``maxOperations`` POST/PUT/PATCH/DELETE operations on
``/Users`` and ``/Groups``. Each one runs as its own request (and transaction)
through the same :class:`~scimcore.service.ScimService` code as a single request, so
bulk has no rules of its own beyond ordering, references and error counting:

* ``bulkId:<id>`` names the resource a POST with that ``bulkId`` created where a
  resource id belongs (3.7.2): a segment of the operation's ``path``
  (``/Users/bulkId:u``), and the whole string ``value`` or ``$ref`` of a reference
  attribute in ``data`` (:data:`REFERENCE_ATTRIBUTES`: a group's ``members``, the
  enterprise ``manager``), in a POST or PUT body as in a PATCH operation's
  ``value``. Any other string is data and stays as sent: ``nickName: "see bulkId:u"``
  or a ``userName`` that reads ``bulkId:u`` is stored as written. Operations run in
  request order, except that an operation waits for the POSTs it references, even
  later ones.
* Circular references (3.7.1) are resolved where the RFC's example needs it: a group
  whose ``members`` reference a resource that is itself waiting is created without
  those members, which are added once the references resolve. Any other cycle
  answers 409 for the operations caught in it.
* ``failOnErrors`` stops processing after that many errors; operations not run are
  not in the response (3.7.3).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import Conflict, InvalidSyntax, InvalidValue, PayloadTooLarge, ScimError
from .messages import ScimRequest, ScimResponse

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_METHODS = ("POST", "PUT", "PATCH", "DELETE")
_REFERENCE = re.compile(r"bulkId:([^\s\"/?#]+)")
#: A whole string that is a bulkId reference.
_WHOLE_REFERENCE = re.compile(r"bulkId:([^\s\"/?#]+)\Z")
#: Complex attributes whose ``value`` (and ``$ref``) is the id of another resource and
#: which a client writes: a Group's ``members`` (RFC 7643 4.2), the enterprise User's
#: ``manager`` (4.3). ``groups`` is read-only.
REFERENCE_ATTRIBUTES = frozenset({"members", "manager"})
_REFERENCE_LEAVES = frozenset(f"{a}.{s}" for a in REFERENCE_ATTRIBUTES for s in ("value", "$ref"))
_VALUE_FILTER = re.compile(r"\[[^\]]*\]")
_TARGET = re.compile(r"^/(Users|Groups)(/[^/]+)?$", re.IGNORECASE)

Dispatch = Callable[[ScimRequest], ScimResponse]


@dataclass
class _Operation:
    index: int
    method: str
    path: str
    bulk_id: str | None
    version: str | None
    data: Any
    refs: set[str] = field(default_factory=set)
    result: dict[str, Any] | None = None
    created_id: str | None = None
    waiting_members: list[Any] = field(default_factory=list)
    #: What is wrong with the operation itself, reported as its result when its turn comes.
    problem: ScimError | None = None


def _outcome(op: _Operation, response: ScimResponse) -> dict[str, Any]:
    out: dict[str, Any] = {"method": op.method}
    if op.bulk_id is not None:
        out["bulkId"] = op.bulk_id
    if op.version is not None:
        out["version"] = op.version
    location = response.headers.get("Location")
    if location:
        out["location"] = location
    etag = response.headers.get("ETag")
    if etag:
        out["version"] = etag
    out["status"] = str(response.status)
    if response.status >= 400 and response.body is not None:
        out["response"] = response.body
    return out


Rewrite = Callable[[str], str]


def _attribute(name: str) -> str:
    """An attribute name or PATCH path, lower-case, without its schema URN and value
    filters: ``urn:…:User:manager.value`` is ``manager.value``."""
    name = _VALUE_FILTER.sub("", name).lower()
    return name.rsplit(":", 1)[-1] if name.startswith("urn:") else name


def _in_reference(value: Any, rewrite: Rewrite) -> Any:
    """The value of a reference attribute (an object or a list of them) with each
    ``value`` and ``$ref`` rewritten."""
    if isinstance(value, list):
        return [_in_reference(item, rewrite) for item in value]
    if isinstance(value, dict):
        return {
            k: rewrite(v) if k.lower() in ("value", "$ref") and isinstance(v, str) else v
            for k, v in value.items()
        }
    return value


def _in_resource(value: Any, rewrite: Rewrite) -> Any:
    """A resource's attributes (or an extension's, or a PATCH value without path) with
    the references of its reference attributes rewritten."""
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        if _attribute(key) in REFERENCE_ATTRIBUTES:
            out[key] = _in_reference(item, rewrite)
        elif isinstance(item, dict):
            out[key] = _in_resource(item, rewrite)
        else:
            out[key] = item
    return out


def _in_patch_operation(operation: Any, rewrite: Rewrite) -> Any:
    if not isinstance(operation, dict):
        return operation
    path = next((v for k, v in operation.items() if k.lower() == "path"), None)
    target = _attribute(path) if isinstance(path, str) else None
    out = dict(operation)
    for key, value in operation.items():
        if key.lower() != "value":
            continue
        if target is None:
            out[key] = _in_resource(value, rewrite)
        elif target in REFERENCE_ATTRIBUTES:
            out[key] = _in_reference(value, rewrite)
        elif target in _REFERENCE_LEAVES and isinstance(value, str):
            out[key] = rewrite(value)
    return out


def _in_data(method: str, data: Any, rewrite: Rewrite) -> Any:
    """An operation's ``data`` with every reference in it rewritten."""
    if method != "PATCH" or not isinstance(data, dict):
        return _in_resource(data, rewrite)
    return {
        k: [_in_patch_operation(o, rewrite) for o in v]
        if k.lower() == "operations" and isinstance(v, list)
        else v
        for k, v in data.items()
    }


def _substitute_one(text: str, ids: dict[str, str]) -> str:
    found = _WHOLE_REFERENCE.match(text)
    return ids.get(found.group(1), text) if found else text


def _substitute(method: str, data: Any, ids: dict[str, str]) -> Any:
    return _in_data(method, data, lambda text: _substitute_one(text, ids))


def _substitute_path(path: str, ids: dict[str, str]) -> str:
    return _REFERENCE.sub(lambda m: ids.get(m.group(1), m.group(0)), path)


def _collect(walk: Callable[[Rewrite], Any]) -> set[str]:
    found: set[str] = set()

    def note(text: str) -> str:
        match = _WHOLE_REFERENCE.match(text)
        if match:
            found.add(match.group(1))
        return text

    walk(note)
    return found


def _references(method: str, path: str, data: Any) -> set[str]:
    """The bulkIds an operation references, in its path and where its data holds ids."""
    return set(_REFERENCE.findall(path)) | _collect(lambda f: _in_data(method, data, f))


def _member_references(member: Any) -> set[str]:
    return _collect(lambda f: _in_reference(member, f))


def parse_bulk_request(body: Any, max_operations: int) -> tuple[list[_Operation], int | None]:
    """Validate the BulkRequest envelope; per-operation problems are reported per op."""
    if not isinstance(body, dict):
        raise InvalidSyntax("A BulkRequest must be a JSON object.")
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or BULK_REQUEST not in schemas:
        raise InvalidSyntax(f"A BulkRequest must have schemas ['{BULK_REQUEST}'].")
    raw_ops = body.get("Operations")
    if not isinstance(raw_ops, list) or not raw_ops:
        raise InvalidSyntax("A BulkRequest needs 'Operations': a non-empty array.")
    if len(raw_ops) > max_operations:
        raise PayloadTooLarge(
            f"The BulkRequest has {len(raw_ops)} operations; the maximum is {max_operations} "
            "(ServiceProviderConfig bulk.maxOperations)."
        )
    fail_on_errors = body.get("failOnErrors")
    if fail_on_errors is not None and (
        isinstance(fail_on_errors, bool)
        or not isinstance(fail_on_errors, int)
        or fail_on_errors < 1
    ):
        raise InvalidValue("'failOnErrors' must be a positive integer.")
    operations = []
    for index, raw in enumerate(raw_ops):
        raw = raw if isinstance(raw, dict) else {}
        bulk_id = raw.get("bulkId")
        version = raw.get("version")
        op = _Operation(
            index=index,
            method=str(raw.get("method", "")).upper(),
            path=str(raw.get("path", "")),
            bulk_id=bulk_id if isinstance(bulk_id, str) and bulk_id else None,
            version=version if isinstance(version, str) else None,
            data=raw.get("data"),
        )
        op.refs = _references(op.method, op.path, op.data)
        if op.bulk_id is not None and op.bulk_id in op.refs:
            op.problem = InvalidValue(
                f"The operation references its own bulkId '{op.bulk_id}': a resource "
                "cannot refer to itself (a group cannot be a member of itself)."
            )
        if op.method == "POST" and op.bulk_id is None:
            op.problem = InvalidValue(
                "A POST operation needs 'bulkId', a non-empty string the response "
                f"echoes (RFC 7644 3.7), not {json.dumps(bulk_id)}."
                if "bulkId" in raw
                else "A POST operation needs 'bulkId', a non-empty string (RFC 7644 3.7)."
            )
        if version is not None and (not isinstance(version, str) or not version):
            # Ignoring it would run the operation unconditionally, which the client
            # asked not to (RFC 7644 3.7: version acts as If-Match).
            op.problem = InvalidValue(
                f"'version' must be an ETag string such as 'W/\"3\"' (the resource's "
                f"meta.version), not {json.dumps(version)}."
            )
        operations.append(op)
    return operations, fail_on_errors


class BulkJob:
    """Runs one BulkRequest's operations through ``dispatch`` (the single-request path)."""

    def __init__(
        self, operations: list[_Operation], fail_on_errors: int | None, dispatch: Dispatch
    ) -> None:
        self.ops = operations
        self.fail_on_errors = fail_on_errors
        self.dispatch = dispatch
        self.ids: dict[str, str] = {}
        self.failed_ids: set[str] = set()
        self.errors = 0

    def run(self) -> dict[str, Any]:
        declared = self._declared()
        pending = [op for op in self.ops if op.result is None]
        while pending and not self._stopped():
            runnable = next((op for op in pending if self._ready(op, declared)), None)
            if runnable is None:
                runnable = self._break_cycle(pending, declared)
            if runnable is None:
                for op in pending:
                    self._finish(
                        op,
                        _error(
                            Conflict(
                                f"Operation {op.index + 1} ({op.method} {op.path}) is part of a "
                                "circular bulkId reference that cannot be resolved; send it in "
                                "separate requests."
                            )
                        ),
                    )
                break
            pending.remove(runnable)
            self._execute(runnable, declared)
        self._add_deferred_members()
        done = sorted((op for op in self.ops if op.result is not None), key=lambda o: o.index)
        return {"schemas": [BULK_RESPONSE], "Operations": [op.result for op in done]}

    def _declared(self) -> dict[str, _Operation]:
        declared: dict[str, _Operation] = {}
        for op in self.ops:
            if op.bulk_id is None:
                continue
            if op.method != "POST":
                self._finish(op, _error(InvalidValue("Only a POST operation may carry a bulkId.")))
            elif op.bulk_id in declared:
                self._finish(op, _error(InvalidValue(f"bulkId '{op.bulk_id}' is used twice.")))
            else:
                declared[op.bulk_id] = op
        return declared

    def _stopped(self) -> bool:
        return self.fail_on_errors is not None and self.errors >= self.fail_on_errors

    def _ready(self, op: _Operation, declared: dict[str, _Operation]) -> bool:
        return op.problem is not None or all(
            r in self.ids or r in self.failed_ids or r not in declared for r in op.refs
        )

    def _break_cycle(
        self, pending: list[_Operation], declared: dict[str, _Operation]
    ) -> _Operation | None:
        """RFC 7644 3.7.1: create a group first and add its waiting members afterwards."""
        for op in pending:
            if op.method != "POST" or not op.path.lower().startswith("/groups"):
                continue
            if not isinstance(op.data, dict) or _references(
                op.method, "", {k: v for k, v in op.data.items() if k.lower() != "members"}
            ):
                continue
            members = op.data.get("members") or op.data.get("Members") or []
            waiting = [m for m in members if _member_references(m) - set(self.ids)]
            if not waiting:
                continue
            kept = [m for m in members if m not in waiting]
            op.data = {k: v for k, v in op.data.items() if k.lower() != "members"}
            op.data["members"] = kept
            op.refs = set().union(*(_member_references(m) for m in kept))
            op.waiting_members = waiting
            return op
        return None

    def _execute(self, op: _Operation, declared: dict[str, _Operation]) -> None:
        if op.problem is not None:
            self._finish(op, _error(op.problem))
            return
        unknown = [r for r in op.refs if r not in declared]
        if unknown:
            self._finish(
                op,
                _error(
                    InvalidValue(
                        f"bulkId '{unknown[0]}' is not defined by a POST operation in this request."
                    )
                ),
            )
            return
        failed = [r for r in op.refs if r in self.failed_ids]
        if failed:
            self._finish(
                op,
                _error(
                    Conflict(
                        f"The operation with bulkId '{failed[0]}' failed, so this one cannot run."
                    )
                ),
            )
            return
        target = _TARGET.match(op.path)
        if op.method not in _METHODS:
            self._finish(op, _error(InvalidValue("'method' must be POST, PUT, PATCH or DELETE.")))
            return
        if target is None or (op.method == "POST") == bool(target.group(2)):
            self._finish(
                op,
                _error(
                    InvalidValue(
                        f"'{op.path}' is not a valid path for {op.method} "
                        "(use /Users, /Groups, /Users/{id} or /Groups/{id})."
                    )
                ),
            )
            return
        if op.method != "DELETE" and op.data is None:
            self._finish(op, _error(InvalidValue("'data' is required for POST, PUT and PATCH.")))
            return
        headers = {"If-Match": op.version} if op.version else {}
        data = _substitute(op.method, op.data, self.ids)
        body = json.dumps(data).encode() if op.data is not None else b""
        response = self.dispatch(
            ScimRequest(
                op.method,
                _substitute_path(op.path, self.ids),
                {},
                body,
                "application/scim+json",
                headers,
            )
        )
        if op.method == "POST" and response.status == 201 and response.body:
            op.created_id = str(response.body.get("id"))
            if op.bulk_id is not None:
                self.ids[op.bulk_id] = op.created_id
        self._finish(op, response)

    def _finish(self, op: _Operation, response: ScimResponse) -> None:
        op.result = _outcome(op, response)
        if response.status >= 400:
            self.errors += 1
            if op.bulk_id is not None:
                self.failed_ids.add(op.bulk_id)

    def _add_deferred_members(self) -> None:
        """Second half of breaking a cycle: add the members a group was created without."""
        for op in self.ops:
            if not op.waiting_members or op.created_id is None:
                continue
            members = _in_reference(op.waiting_members, lambda t: _substitute_one(t, self.ids))
            resolved = [m for m in members if not _member_references(m)]
            if not resolved:
                continue
            body = {
                "schemas": [PATCH_OP],
                "Operations": [{"op": "add", "path": "members", "value": resolved}],
            }
            response = self.dispatch(
                ScimRequest(
                    "PATCH",
                    f"/Groups/{op.created_id}",
                    {},
                    json.dumps(body).encode(),
                    "application/scim+json",
                    {},
                )
            )
            if response.status >= 400 and op.result is not None:
                op.result["status"] = str(response.status)
                op.result["response"] = response.body
                self.errors += 1


def _error(error: ScimError) -> ScimResponse:
    return ScimResponse(error.status, error.to_dict())
