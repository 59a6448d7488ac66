"""The service-account CSV rules of docs/csv.md as cases, each run on SQLite and
PostgreSQL through the CLI (``tests/integration/test_csv_rules_cli.py``) and through
the console's upload (``tests/server/test_admin_csv_rules.py``): the two ways an
administrator imports a file must give the same result, row by row.

A case starts from an organization with the users and services below, applies its
``setup`` rows (which must all succeed), then imports its ``rows`` and checks each
row's result and error code, the messages, what an export shows afterwards, and how
many account events the rows wrote. ``{immutable}`` in a row or an expected fragment
stands for the immutableId the system gave the Microsoft 365 account in ``setup``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

HEADER = (
    "operation,serviceDisplayName,userId,accountId,lastAccessTime,mailProxyActive,"
    "licenseProfile,immutableId,scimUserResourceId,servicePassword"
)
USERS = ("test@example.com", "hanako.yamada@example.com")
#: (display name, kind, license profiles); every scim2 service links automatically.
SERVICES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Google Workspace", "google_workspace", ()),
    ("Microsoft 365", "microsoft_365", ("E3 標準", "E5")),
    ("cybozu.com", "cybozu", ("Garoon",)),
    ("社内ポータル", "form_based", ()),
    ("Slack", "scim2", ()),
)
M365_TEST = "CREATE,Microsoft 365,test@example.com,t,,,E3 標準,,,"


@dataclass(frozen=True)
class Case:
    id: str
    rows: tuple[str, ...]
    #: (result, errorCode) for each row of ``rows``.
    expect: tuple[tuple[str, str], ...]
    setup: tuple[str, ...] = ()
    #: Fragments the rows' messages must contain, and must not.
    says: tuple[str, ...] = ()
    never_says: tuple[str, ...] = ()
    #: Fragments an export must contain afterwards, and must not.
    kept: tuple[str, ...] = ()
    gone: tuple[str, ...] = ()
    #: Account events the rows wrote (``None``: not checked).
    events: int | None = None


CASES = (
    Case(
        "m365-update-needs-the-stored-immutable-id",
        setup=(M365_TEST,),
        rows=(
            "UPDATE,Microsoft 365,test@example.com,t,,,E5,,,",
            "UPDATE,Microsoft 365,test@example.com,t,,,E5,other-id,,",
        ),
        expect=(("failed", "MISSING_VALUE"), ("failed", "IMMUTABLE")),
        says=("immutableId: required for UPDATE", "'{immutable}'"),
        kept=('"E3 標準","{immutable}"',),
        events=0,
    ),
    Case(
        "m365-delete-needs-the-stored-immutable-id",
        setup=(M365_TEST,),
        rows=(
            "DELETE,Microsoft 365,test@example.com,t,,,,,,",
            "DELETE,Microsoft 365,test@example.com,t,,,,wrong-{immutable},,",
        ),
        expect=(("failed", "MISSING_VALUE"), ("failed", "IMMUTABLE")),
        says=("immutableId: required for DELETE", "does not match"),
        kept=('"Microsoft 365","test@example.com","t"',),
        events=0,
    ),
    Case(
        "m365-delete-with-the-stored-immutable-id",
        setup=(M365_TEST,),
        rows=("DELETE,Microsoft 365,test@example.com,t,,,,{immutable},,",),
        expect=(("deleted", ""),),
        gone=('"Microsoft 365"',),
        events=1,
    ),
    Case(
        "m365-immutable-id-is-assigned-by-the-system",
        rows=("CREATE,Microsoft 365,test@example.com,t,,,E5,chosen-id,,",),
        expect=(("failed", "INVALID_VALUE"),),
        says=("immutableId: is assigned by the system",),
        gone=('"Microsoft 365"',),
    ),
    Case(
        "scim-user-resource-id-is-ignored-in-automatic-mode",
        rows=(
            "CREATE,Slack,hanako.yamada@example.com,hanako,,,,,remote-1,",
            "UPDATE,Slack,hanako.yamada@example.com,hanako,,,,,remote-2,",
        ),
        expect=(("created", ""), ("unchanged", "")),
        kept=('"Slack","hanako.yamada@example.com","hanako"',),
        gone=("remote-1", "remote-2"),
        events=1,
    ),
    Case(
        "every-column-has-a-length-limit-named-in-the-message",
        rows=(
            "CREATE,Google Workspace,test@example.com," + "a" * 312 + ",,,,,,",
            "CREATE,Google Workspace,hanako.yamada@example.com," + "b" * 256 + ",,,,,,",
            "CREATE,cybozu.com,test@example.com,c,,,{long_profile},,,",
            "CREATE,社内ポータル,test@example.com,p,,,,,,{long_password}",
        ),
        expect=(
            ("failed", "TOO_LONG"),
            ("created", ""),
            ("failed", "TOO_LONG"),
            ("failed", "TOO_LONG"),
        ),
        says=(
            "accountId: at most 256 characters are allowed, the cell has 312",
            "licenseProfile: at most 200 characters",
            "servicePassword: at most 100 characters",
        ),
        kept=("b" * 256,),
        gone=("a" * 257,),
        events=1,
    ),
    Case(
        "update-rows-that-change-nothing-are-unchanged",
        setup=(
            "CREATE,Google Workspace,test@example.com,gw,,TRUE,,,,",
            "CREATE,cybozu.com,hanako.yamada@example.com,hy,,,Garoon,,,",
        ),
        rows=(
            "UPDATE,Google Workspace,test@example.com,gw,,true,,,,",
            "UPDATE,cybozu.com,hanako.yamada@example.com,hy,,,Garoon,,,",
            "UPDATE,cybozu.com,hanako.yamada@example.com,hy,,,,,,",
            "UPDATE,Google Workspace,test@example.com,gw,,FALSE,,,,",
        ),
        expect=(("unchanged", ""), ("unchanged", ""), ("unchanged", ""), ("updated", "")),
        kept=('"gw","","FALSE"',),
        events=1,
    ),
    Case(
        "last-access-time-is-ignored-on-upload",
        rows=(
            "CREATE,Google Workspace,test@example.com,gw,2026-01-02T03:04:05Z,,,,,",
            "UPDATE,Google Workspace,test@example.com,gw,2030-12-31T00:00:00Z,,,,,",
        ),
        expect=(("created", ""), ("unchanged", "")),
        kept=('"gw","",""',),
        gone=("2026-01-02", "2030-12-31"),
        events=1,
    ),
    Case(
        "a-delete-with-another-account-id-names-the-linked-one",
        setup=("CREATE,Google Workspace,test@example.com,linked,,,,,,",),
        rows=("DELETE,Google Workspace,test@example.com,other,,,,,,",),
        expect=(("failed", "NOT_LINKED"),),
        says=(
            "accountId: ",
            "is linked to account 'linked', not 'other'",
            "give accountId 'linked'",
        ),
        never_says=("CREATE",),
        kept=('"linked"',),
        events=0,
    ),
)


def csv_bytes(rows: tuple[str, ...], immutable: str = "") -> bytes:
    """``rows`` under the full header, with the placeholders filled in."""
    return ("\r\n".join([HEADER, *(fill(r, immutable) for r in rows)]) + "\r\n").encode()


def fill(text: str, immutable: str) -> str:
    return (
        text.replace("{immutable}", immutable)
        .replace("{long_profile}", "L" * 201)
        .replace("{long_password}", "p" * 101)
    )


def immutable_id(exported: str) -> str:
    """The immutableId an export shows for the Microsoft 365 account ('' if none).

    As exported: a value starting with "+" (base64 may) carries the formula guard "'",
    which an import removes again; messages name the value without it.
    """
    for row in csv.DictReader(io.StringIO(exported.lstrip("\ufeff"))):
        if row["serviceDisplayName"] == "Microsoft 365":
            return row["immutableId"]
    return ""


def check(
    case: Case, results: list[dict[str, str]], exported: str, events: int, immutable: str
) -> None:
    """Assert what ``case`` expects of a run: the result CSV's rows, the export after it
    and the number of account events the rows wrote."""
    assert [(r["result"], r["errorCode"]) for r in results] == list(case.expect), results
    messages = " | ".join(r["message"] for r in results)
    stored = immutable[1:] if immutable.startswith("'+") else immutable
    for fragment in case.says:
        assert fill(fragment, stored) in messages, (fragment, messages)
    for fragment in case.never_says:
        assert fill(fragment, stored) not in messages, (fragment, messages)
    for fragment in case.kept:
        assert fill(fragment, immutable) in exported, (fragment, exported)
    for fragment in case.gone:
        assert fill(fragment, immutable) not in exported, (fragment, exported)
    if case.events is not None:
        assert events == case.events
