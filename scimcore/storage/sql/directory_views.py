"""What the console's directory pages read besides the resources themselves: the
current names of the users and groups a group lists as members.

A member's ``display`` is what the IdP sent when it added the member, and it goes stale
when the person is renamed; the console shows the name the resource has now.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .engine import transaction
from .tables import resources

#: Ids looked up per statement (well under every database's parameter limit).
CHUNK = 500


@dataclass(frozen=True)
class CurrentName:
    """A resource's names now: ``userName`` (users) and ``displayName``."""

    name: str | None
    display_name: str | None

    @property
    def shown(self) -> str | None:
        return self.display_name or self.name


class SqlDirectoryViews:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def current_names(self, organization_id: str, ids: Collection[str]) -> dict[str, CurrentName]:
        """Each existing resource of ``ids`` (users and groups) by id, with its names."""
        r = resources.c
        wanted = list(dict.fromkeys(ids))
        found: dict[str, CurrentName] = {}
        with transaction(self.engine, write=False) as conn:
            for start in range(0, len(wanted), CHUNK):
                rows = conn.execute(
                    sa.select(r.id, r.name, r.display_name).where(
                        r.organization_id == organization_id,
                        r.id.in_(wanted[start : start + CHUNK]),
                    )
                )
                found.update({row.id: CurrentName(row.name, row.display_name) for row in rows})
        return found
