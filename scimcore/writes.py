"""The one way a User or Group is written, whoever writes it: a SCIM request, the user
CSV, the console.

:class:`ResourceWriter` applies the rules every write shares, in the caller's store
session (so in its transaction):

* a new resource gets its ``id`` and ``meta`` (version ``W/"1"``);
* a changed one gets the next version, written only if the stored version is still the
  one read: two writers that both read version *n* cannot both win (RFC 7644 3.14);
  the loser gets :class:`~scimcore.errors.PreconditionFailed`;
* immutable attributes cannot change (RFC 7643 2.2);
* ``returned: never`` attributes (``password``) are sealed with the key ring, and
  dropped when there is none: never stored in plain text;
* the change's events go to the outbox with it, labelled with the writer's source
  (``scim``, ``csv``, ``admin``), so Activity and the connectors see every path alike.

What is *not* here is how a request becomes the new resource (SCIM's PUT body, a PATCH,
a CSV row): each path builds ``new`` its way, then hands it to the writer.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .accounts.keyring import KeyRing, KeyRingError
from .provisioning.events import EventRecorder, Source, record_changes
from .schema.attributes import ResourceType, Returned
from .schema.serializers import canonical_datetime, check_immutable
from .storage.base import StoreSession
from .versioning import first_version, next_version

Resource = dict[str, Any]


def _now() -> str:
    return canonical_datetime(datetime.now(UTC))


class ResourceWriter:
    """Creates, changes and deletes resources in a store session; see the module."""

    def __init__(self, keyring: KeyRing | None = None, source: Source = "scim") -> None:
        self.keyring = keyring
        self.source = source

    def with_source(self, source: Source) -> ResourceWriter:
        return ResourceWriter(self.keyring, source)

    def create(
        self,
        session: StoreSession,
        rt: ResourceType,
        data: Resource,
        *,
        members: Sequence[Resource] | None = None,
    ) -> Resource:
        """Insert ``data`` (already validated) as a new resource; returns it with its
        ``id`` and ``meta``. ``members``: a Group's, stored in the membership table."""
        self.seal_secrets(rt, data, None, keep_absent=False)
        now = _now()
        data["id"] = str(uuid.uuid4())
        data["meta"] = {
            "resourceType": rt.id,
            "created": now,
            "lastModified": now,
            "version": first_version(),
        }
        session.insert(rt.id, data if members is None else {**data, "members": list(members)})
        record_changes(session, rt.id, None, data, self.source)
        return data

    def replace(
        self,
        session: StoreSession,
        rt: ResourceType,
        current: Resource,
        new: Resource,
        *,
        keep_absent_secrets: bool,
    ) -> str:
        """Write ``new`` (validated) over ``current`` (read in this session): immutables
        checked, secrets sealed, next version; returns the new version.

        ``keep_absent_secrets``: a password the new value leaves out stays (a PUT;
        clients never see it to send it back). A SCIM PUT or PATCH always writes: its
        answer carries the new version.
        """
        check_immutable(rt, current, new)
        self.seal_secrets(rt, new, current, keep_absent=keep_absent_secrets)
        return self.save(session, rt, current, new)

    def replace_if_changed(
        self,
        session: StoreSession,
        rt: ResourceType,
        current: Resource,
        new: Resource,
        *,
        keep_absent_secrets: bool,
    ) -> str | None:
        """:meth:`replace`, except that when ``new`` holds what is stored (a row of a
        re-imported export) nothing is written, no version and no event: ``None``."""
        check_immutable(rt, current, new)
        self.seal_secrets(rt, new, current, keep_absent=keep_absent_secrets)
        if _without_meta(new) == _without_meta(current):
            return None
        return self.save(session, rt, current, new)

    def save(
        self, session: StoreSession, rt: ResourceType, current: Resource, new: Resource
    ) -> str:
        """Write ``new`` over ``current`` with the next version, if the stored version is
        still ``current``'s; returns the new version."""
        version: str = next_version(current["meta"]["version"])
        new["id"] = current["id"]
        new["meta"] = {**current["meta"], "lastModified": _now(), "version": version}
        session.update(rt.id, new, expected_version=current["meta"]["version"])
        record_changes(session, rt.id, current, new, self.source)
        return version

    def delete(
        self, session: StoreSession, rt: ResourceType, id: str, current: Resource | None = None
    ) -> None:
        """Delete the resource; its event describes what was deleted (read here when the
        session keeps an outbox and the caller has not read it)."""
        if isinstance(session, EventRecorder):
            if current is None:
                current = session.get(rt.id, id, relations=False)
            record_changes(session, rt.id, current, None, self.source)
        session.delete(rt.id, id)

    def seal_secrets(
        self, rt: ResourceType, new: Resource, current: Resource | None, *, keep_absent: bool
    ) -> None:
        """Encrypt newly written ``returned: never`` attributes (RFC 7643 4.1.1 password).

        A value equal to the stored one (the stored ciphertext, or, when the key ring
        opens it, the same plain text) keeps the stored ciphertext, so writing the same
        password again changes nothing. With ``keep_absent`` an omitted value stays.
        """
        for attr in rt.schema.attributes:
            if attr.returned is not Returned.NEVER:
                continue
            name = attr.name
            stored = current.get(name) if current is not None else None
            if name not in new:
                if keep_absent and stored is not None:
                    new[name] = stored
                continue
            if stored is not None and self._same_secret(new[name], stored):
                new[name] = stored
                continue
            if self.keyring is None:
                del new[name]
            else:
                new[name] = self.keyring.encrypt(str(new[name]))

    def _same_secret(self, given: Any, stored: Any) -> bool:
        if given == stored:
            return True
        if self.keyring is None or not isinstance(stored, str):
            return False
        try:
            return bool(self.keyring.decrypt(stored) == str(given))
        except KeyRingError:  # sealed with a key no longer configured
            return False


def _without_meta(resource: Resource) -> Resource:
    return {k: v for k, v in resource.items() if k != "meta"}
