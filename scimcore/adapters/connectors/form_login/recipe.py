"""A recipe: how one service's admin pages are signed in to and read, declared as data.

A recipe is a JSON object kept in the integration's ``recipe`` setting, so the
stateless app and worker processes need no file. :func:`load_recipe` validates it
completely before use and names the first problem by its path
(``recipe.members.row: ...``), so a mistake shows when the integration is connected,
not on its first job. The format is documented with a worked example in
docs/connectors/form-login.md; unknown keys are refused (a misspelt key would
otherwise be silently ignored).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias
from urllib.parse import urlsplit

from ..http import _loopback
from .html import Selector, SelectorError, ValueSpec

FailureReason: TypeAlias = Literal["wrong_password", "wrong_code", "locked", "captcha", "other"]
FAILURE_REASONS: tuple[FailureReason, ...] = (
    "wrong_password",
    "wrong_code",
    "locked",
    "captcha",
    "other",
)
#: The member fields a recipe can read, as :class:`~...connector.RemoteAccount` names them.
MEMBER_FIELDS = ("remote_id", "login", "email", "display_name", "given_name", "family_name")
#: The actions a recipe can declare, and what the connector does with each.
ACTIONS = ("invite", "disable", "enable", "remove")
#: The values a template in an action's fields or path can use.
TEMPLATE_NAMES = frozenset(
    {"remote_id", "login", "email", "display_name", "given_name", "family_name"}
)
#: Never more pages than this, whatever a recipe says (a next link that loops).
MAX_PAGES = 10_000
_TEMPLATE = re.compile(r"\{([^{}]*)\}")


class RecipeError(ValueError):
    """The recipe cannot be used; the message names the key (never a setting's secret:
    a recipe holds none)."""


@dataclass(frozen=True)
class Marker:
    """How a page is recognised: all given parts must hold. ``text``: the page's visible
    text contains it (case-insensitively); ``selector``: an element matches; ``url``: the
    page's path starts with it."""

    text: str | None = None
    selector: Selector | None = None
    url: str | None = None


@dataclass(frozen=True)
class Failure:
    """A page that says the sign-in (or an action) was refused, and why."""

    reason: FailureReason
    marker: Marker
    message: str | None = None


@dataclass(frozen=True)
class FromPage:
    """Values read from the page that holds a form, for what a script would add: a CSRF
    token kept in ``<meta name="csrf-token">`` sent as a field or a header."""

    fields: Mapping[str, ValueSpec] = field(default_factory=dict)
    headers: Mapping[str, ValueSpec] = field(default_factory=dict)


@dataclass(frozen=True)
class Confirm:
    """A confirmation page after an action's form ("Really remove?"): its form, filled."""

    form: Selector
    fields: Mapping[str, str]


@dataclass(frozen=True)
class Login:
    path: str
    form: Selector | None
    username_field: str | None
    password_field: str | None
    fields: Mapping[str, str]
    success: Marker | None
    failures: tuple[Failure, ...]
    from_page: FromPage = FromPage()


@dataclass(frozen=True)
class Totp:
    """The second step: a form recognised by ``form``, the code going into ``field``."""

    form: Selector
    field: str | None
    fields: Mapping[str, str]
    from_page: FromPage = FromPage()


@dataclass(frozen=True)
class Members:
    path: str
    row: Selector
    fields: Mapping[str, ValueSpec]
    status: ValueSpec | None
    status_map: Mapping[str, str]
    status_default: str
    next: ValueSpec | None
    max_pages: int


@dataclass(frozen=True)
class Action:
    """A form that changes a member: on ``path`` (with ``{remote_id}`` ...), or without
    one inside the member's own row of the member list."""

    path: str | None
    form: Selector
    fields: Mapping[str, str]
    success: Marker | None
    failures: tuple[Failure, ...]
    from_page: FromPage = FromPage()
    confirm: Confirm | None = None


@dataclass(frozen=True)
class Recipe:
    name: str
    sign_in: Literal["form", "sso_only"]
    note: str | None
    javascript: bool
    base_url: str | None
    login: Login | None
    totp: Totp | None
    members: Members | None
    actions: Mapping[str, Action]

    @property
    def blocker(self) -> str | None:
        """Why this recipe can never sign in, or ``None``."""
        if self.sign_in == "sso_only":
            note = f" ({self.note})" if self.note else ""
            return (
                f"recipe {self.name!r}: the service signs administrators in only through "
                f"single sign-on or an external identity provider{note}; form_login "
                "needs a local administrator account with a password"
            )
        if self.javascript:
            return (
                f"recipe {self.name!r}: the service's pages need JavaScript, which "
                "form_login does not run (it reads server-rendered HTML over HTTP); "
                "use the manual connector for this service"
            )
        return None


# -- validation ---------------------------------------------------------------------------


def load_recipe(value: Any) -> Recipe:
    """The validated recipe of ``value``: a JSON object, or its text."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise RecipeError("recipe: not valid JSON") from None
    data = _object(value, "recipe")
    _known(
        data,
        "recipe",
        {"name", "sign_in", "note", "javascript", "base_url", "login", "totp", "members"}
        | {"actions"},
    )
    name = _text(data.get("name", "recipe"), "recipe.name")
    sign_in = data.get("sign_in", "form")
    if sign_in not in ("form", "sso_only"):
        raise RecipeError("recipe.sign_in: must be 'form' or 'sso_only'")
    note = _opt_text(data.get("note"), "recipe.note")
    javascript = data.get("javascript", False)
    if not isinstance(javascript, bool):
        raise RecipeError("recipe.javascript: must be true or false")
    base_url = data.get("base_url")
    if base_url is not None:
        base_url = check_base_url(_text(base_url, "recipe.base_url"), "recipe.base_url")
    if sign_in == "sso_only" or javascript:
        # It cannot be used anyway: the rest is kept short and optional.
        return Recipe(name, sign_in, note, javascript, base_url, None, None, None, {})
    if "login" not in data or "members" not in data:
        raise RecipeError("recipe: 'login' and 'members' are required (or sign_in: sso_only)")
    actions = _object(data.get("actions", {}), "recipe.actions")
    _known(actions, "recipe.actions", set(ACTIONS))
    return Recipe(
        name,
        "form",
        note,
        False,
        base_url,
        _login(_object(data["login"], "recipe.login")),
        _totp(data["totp"]) if data.get("totp") is not None else None,
        _members(_object(data["members"], "recipe.members")),
        {key: _action(val, f"recipe.actions.{key}", key) for key, val in actions.items()},
    )


def check_base_url(value: str, where: str) -> str:
    """``value`` as a base URL the password may be sent to: https, or http to this
    machine (a test or a tunnel); no credentials, query or fragment in it."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise RecipeError(f"{where}: not a URL") from None
    if not host or parts.scheme not in ("http", "https") or any(c.isspace() for c in value):
        raise RecipeError(f"{where}: must be an https:// URL with a host name")
    if parts.scheme == "http" and not _loopback(host):
        raise RecipeError(
            f"{where}: must be https:// (plain http is allowed to this machine only: "
            "the password would cross the network in clear text)"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise RecipeError(f"{where}: must not contain a user, a query or a fragment")
    return value.rstrip("/")


def _login(data: dict[str, Any]) -> Login:
    where = "recipe.login"
    _known(
        data,
        where,
        {"path", "form", "username_field", "password_field", "fields", "success", "failures"}
        | _FROM_PAGE,
    )
    return Login(
        _path(data.get("path"), f"{where}.path"),
        _opt_selector(data.get("form"), f"{where}.form"),
        _opt_name(data.get("username_field"), f"{where}.username_field"),
        _opt_name(data.get("password_field"), f"{where}.password_field"),
        _fixed_fields(data.get("fields", {}), f"{where}.fields"),
        _opt_marker(data.get("success"), f"{where}.success"),
        _failures(data.get("failures", []), f"{where}.failures"),
        _from_page(data, where),
    )


def _totp(value: Any) -> Totp:
    where = "recipe.totp"
    data = _object(value, where)
    _known(data, where, {"form", "field", "fields"} | _FROM_PAGE)
    if "form" not in data:
        raise RecipeError(f"{where}.form: required (the selector that recognises the code step)")
    return Totp(
        _selector(data["form"], f"{where}.form"),
        _opt_name(data.get("field"), f"{where}.field"),
        _fixed_fields(data.get("fields", {}), f"{where}.fields"),
        _from_page(data, where),
    )


def _members(data: dict[str, Any]) -> Members:
    where = "recipe.members"
    _known(
        data,
        where,
        {"path", "row", "fields", "status", "status_map", "status_default", "next", "max_pages"},
    )
    if "row" not in data:
        raise RecipeError(f"{where}.row: required (the selector of one member's row)")
    raw_fields = _object(data.get("fields"), f"{where}.fields")
    _known(raw_fields, f"{where}.fields", set(MEMBER_FIELDS))
    if "login" not in raw_fields and "email" not in raw_fields:
        raise RecipeError(f"{where}.fields: needs 'login' or 'email'")
    fields = {k: _value(v, f"{where}.fields.{k}") for k, v in raw_fields.items()}
    status_map: dict[str, str] = {}
    for text, status in _object(data.get("status_map", {}), f"{where}.status_map").items():
        if status not in ("active", "suspended"):
            raise RecipeError(f"{where}.status_map.{text}: must be 'active' or 'suspended'")
        status_map[" ".join(text.split()).lower()] = status
    default = data.get("status_default", "active")
    if default not in ("active", "suspended"):
        raise RecipeError(f"{where}.status_default: must be 'active' or 'suspended'")
    max_pages = data.get("max_pages", 500)
    if not isinstance(max_pages, int) or isinstance(max_pages, bool) or not max_pages >= 1:
        raise RecipeError(f"{where}.max_pages: must be a positive integer")
    return Members(
        _path(data.get("path"), f"{where}.path"),
        _selector(data["row"], f"{where}.row"),
        fields,
        _value(data["status"], f"{where}.status") if data.get("status") is not None else None,
        status_map,
        default,
        _value(data["next"], f"{where}.next") if data.get("next") is not None else None,
        min(max_pages, MAX_PAGES),
    )


def _action(value: Any, where: str, kind: str) -> Action:
    data = _object(value, where)
    _known(data, where, {"path", "form", "fields", "success", "failures", "confirm"} | _FROM_PAGE)
    if "form" not in data:
        raise RecipeError(f"{where}.form: required (the selector of the form to submit)")
    path = data.get("path")
    if kind == "invite" and path is None:
        raise RecipeError(f"{where}.path: required (the page with the invitation form)")
    fields = _fixed_fields(data.get("fields", {}), f"{where}.fields")
    for key, template in fields.items():
        _template(template, f"{where}.fields.{key}")
    return Action(
        _template(_path(path, f"{where}.path"), f"{where}.path") if path is not None else None,
        _selector(data["form"], f"{where}.form"),
        fields,
        _opt_marker(data.get("success"), f"{where}.success"),
        _failures(data.get("failures", []), f"{where}.failures"),
        _from_page(data, where),
        _confirm(data["confirm"], f"{where}.confirm") if data.get("confirm") is not None else None,
    )


_FROM_PAGE = {"page_fields", "page_headers"}


def _from_page(data: dict[str, Any], where: str) -> FromPage:
    out: list[dict[str, ValueSpec]] = []
    for key in ("page_fields", "page_headers"):
        raw = _object(data.get(key, {}), f"{where}.{key}")
        out.append({name: _value(spec, f"{where}.{key}.{name}") for name, spec in raw.items()})
    for name in out[1]:
        if not re.fullmatch(r"[A-Za-z0-9-]+", name) or name.lower() in _RESERVED_HEADERS:
            raise RecipeError(f"{where}.page_headers.{name}: not a header a recipe may set")
    return FromPage(out[0], out[1])


#: Headers the connector sets itself (a recipe setting them could break the same-origin rule).
_RESERVED_HEADERS = frozenset(
    {"cookie", "host", "origin", "referer", "content-type", "content-length", "authorization"}
)


def _confirm(value: Any, where: str) -> Confirm:
    data = _object(value, where)
    _known(data, where, {"form", "fields"})
    if "form" not in data:
        raise RecipeError(f"{where}.form: required (the selector of the confirmation form)")
    fields = _fixed_fields(data.get("fields", {}), f"{where}.fields")
    for key, template in fields.items():
        _template(template, f"{where}.fields.{key}")
    return Confirm(_selector(data["form"], f"{where}.form"), fields)


def _failures(value: Any, where: str) -> tuple[Failure, ...]:
    if not isinstance(value, list):
        raise RecipeError(f"{where}: must be a list")
    out = []
    for n, item in enumerate(value):
        here = f"{where}[{n}]"
        data = _object(item, here)
        _known(data, here, {"reason", "text", "selector", "url", "message"})
        reason = data.get("reason")
        if reason not in FAILURE_REASONS:
            raise RecipeError(f"{here}.reason: must be one of {', '.join(FAILURE_REASONS)}")
        marker = _marker({k: data[k] for k in ("text", "selector", "url") if k in data}, here)
        out.append(Failure(reason, marker, _opt_text(data.get("message"), f"{here}.message")))
    return tuple(out)


def _opt_marker(value: Any, where: str) -> Marker | None:
    return None if value is None else _marker(_object(value, where), where)


def _marker(data: dict[str, Any], where: str) -> Marker:
    _known(data, where, {"text", "selector", "url"})
    if not data:
        raise RecipeError(f"{where}: give 'text', 'selector' or 'url'")
    url = data.get("url")
    return Marker(
        _text(data["text"], f"{where}.text") if "text" in data else None,
        _selector(data["selector"], f"{where}.selector") if "selector" in data else None,
        _path(url, f"{where}.url") if url is not None else None,
    )


# -- small checks -------------------------------------------------------------------------


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise RecipeError(f"{where}: must be a JSON object")
    return value


def _known(data: Mapping[str, Any], where: str, known: set[str]) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise RecipeError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RecipeError(f"{where}: must be a non-empty string")
    return value


def _opt_text(value: Any, where: str) -> str | None:
    return None if value is None else _text(value, where)


def _opt_name(value: Any, where: str) -> str | None:
    if value is None:
        return None
    name = _text(value, where)
    if any(c.isspace() for c in name):
        raise RecipeError(f"{where}: a form field name has no spaces")
    return name


def _path(value: Any, where: str) -> str:
    path = _text(value, where)
    try:
        parts = urlsplit(path)
    except ValueError:
        raise RecipeError(f"{where}: not a path") from None
    if parts.scheme or parts.netloc or not path.startswith("/") or path.startswith("//"):
        raise RecipeError(
            f"{where}: must be a path relative to the base URL, starting with '/' "
            "(the password is only ever sent to the base URL's site)"
        )
    return path


def _selector(value: Any, where: str) -> Selector:
    try:
        return Selector.parse(value)
    except SelectorError as exc:
        raise RecipeError(f"{where}: {exc}") from None


def _opt_selector(value: Any, where: str) -> Selector | None:
    return None if value is None else _selector(value, where)


def _value(value: Any, where: str) -> ValueSpec:
    try:
        return ValueSpec.parse(value)
    except SelectorError as exc:
        raise RecipeError(f"{where}: {exc}") from None


def _fixed_fields(value: Any, where: str) -> dict[str, str]:
    data = _object(value, where)
    for key, val in data.items():
        if not key or not isinstance(val, str):
            raise RecipeError(f"{where}.{key}: must be a string")
    return dict(data)


def _template(value: str, where: str) -> str:
    for name in _TEMPLATE.findall(value):
        if name not in TEMPLATE_NAMES:
            raise RecipeError(
                f"{where}: unknown placeholder {{{name}}} "
                f"(known: {', '.join('{' + n + '}' for n in sorted(TEMPLATE_NAMES))})"
            )
    return value


def fill(template: str, values: Mapping[str, str | None], *, quote_path: bool = False) -> str:
    """``template`` with its placeholders replaced (URL-quoted in a path)."""
    from urllib.parse import quote

    def one(m: re.Match[str]) -> str:
        text = values.get(m.group(1)) or ""
        return quote(text, safe="@/") if quote_path else text

    return _TEMPLATE.sub(one, template)
