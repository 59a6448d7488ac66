"""Resource versions as ETags (RFC 7644 3.14, RFC 9110 8.8.3 and 13.1).

``meta.version`` is a weak entity tag, ``W/"<n>"``, where ``n`` grows by one on every
write. SCIM compares versions weakly: ``W/"3"`` and ``"3"`` name the same version.
"""

from __future__ import annotations

from .errors import PreconditionFailed


def first_version() -> str:
    return 'W/"1"'


def next_version(current: str | None) -> str:
    """The version after ``current`` (a missing or foreign tag restarts the count)."""
    digits = _opaque(current or "")
    return f'W/"{int(digits) + 1 if digits.isdigit() else 1}"'


def _opaque(tag: str) -> str:
    tag = tag.strip()
    if tag[:2].upper() == "W/":
        tag = tag[2:]
    return tag.strip('"')


def _tags(header: str) -> list[str]:
    return [_opaque(t) for t in header.split(",") if t.strip()]


def matches(header: str, version: str) -> bool:
    """Whether an ``If-Match`` / ``If-None-Match`` list names ``version`` (or is ``*``)."""
    if header.strip() == "*":
        return True
    return _opaque(version) in _tags(header)


def check_if_match(header: str | None, version: str) -> None:
    """Raise 412 when the client's ``If-Match`` does not name the current version."""
    if header is not None and not matches(header, version):
        raise PreconditionFailed(
            f"If-Match {header.strip()} does not match the current version {version}; "
            "read the resource again and retry with its new ETag."
        )


def check_if_none_match(header: str | None, version: str) -> None:
    """Raise 412 when a write's ``If-None-Match`` names the current version or is
    ``*`` (RFC 9110 13.1.2): the client asked to write only if that version (or, for
    ``*``, any) does not exist, and it does."""
    if header is not None and matches(header, version):
        exists = "the resource exists" if header.strip() == "*" else "it is current"
        raise PreconditionFailed(
            f"If-None-Match {header.strip()} names the current version {version} and "
            f"{exists}; the write was not made."
        )
