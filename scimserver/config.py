"""Settings of the reference service, read once from ``SCIMSERVER_*`` environment variables.

Nothing else in the service reads the environment. Every setting has a safe default,
so the service starts with no configuration at all on an SQLite file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from scimcore.ratelimit import Limit, RateLimitSettings


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


#: The quick start's key ring file, beside the SQLite database (see :func:`local_key_file`).
LOCAL_KEY_FILE = "secret-keys"


def _split_keys(text: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in text.replace("\n", ",").split(",") if k.strip())


def _secret_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    """``SCIMSERVER_SECRET_KEYS``: comma-separated Fernet keys, checked at start; when it
    is unset, ``SCIMSERVER_SECRET_KEYS_FILE`` names a file holding them (one a line or
    comma-separated). The variable wins, so a deployment that sets it is unaffected by
    a file left behind by the quick start."""
    from scimcore.accounts import KeyRing, KeyRingError

    name = "SCIMSERVER_SECRET_KEYS"
    keys = _split_keys(env.get(name, ""))
    key_file = env.get("SCIMSERVER_SECRET_KEYS_FILE", "")
    if not keys and key_file:
        name = "SCIMSERVER_SECRET_KEYS_FILE"
        try:
            keys = _split_keys(Path(key_file).read_text())
        except OSError as exc:
            raise ConfigError(f"{name}: cannot read {key_file}: {exc}") from None
        if not keys:
            raise ConfigError(f"{name}: {key_file} holds no key")
    if keys:
        try:
            KeyRing(keys)
        except KeyRingError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    return keys


def _proxies(env: Mapping[str, str]) -> str:
    """``SCIMSERVER_FORWARDED_ALLOW_IPS``, checked at start."""
    from .forwarded import TrustedProxies

    text = env.get("SCIMSERVER_FORWARDED_ALLOW_IPS") or "127.0.0.1,::1"
    try:
        TrustedProxies.parse(text)
    except ValueError as exc:
        raise ConfigError(f"SCIMSERVER_FORWARDED_ALLOW_IPS: {exc}") from None
    return text


def local_key_file(database_url: str) -> tuple[Path, bool]:
    """The quick start's key ring: ``secret-keys`` beside the SQLite database file,
    made once with one new key (mode 0600, created exclusively so two starts racing
    cannot both write one) and reused afterwards. Returns the path and whether it was
    made now. Only ``python3 run.py serve`` calls this (through ``scimserver keys
    local``); a configured service never gets a key it was not given. Refused for
    anything but an SQLite file, whose directory is the instance's own."""
    from scimcore.accounts import KeyRing

    if not database_url.startswith("sqlite:///") or ":memory:" in database_url:
        raise ConfigError(
            "a local key file is only made for the quick start's SQLite database; "
            "set SCIMSERVER_SECRET_KEYS instead"
        )
    path = Path(database_url.removeprefix("sqlite:///")).parent / LOCAL_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path, False
    os.fchmod(fd, 0o600)  # whatever the umask
    with os.fdopen(fd, "w") as out:
        out.write(KeyRing.generate_key() + "\n")
    return path, True


@dataclass(frozen=True)
class Settings:
    database_url: str
    public_url: str | None = None
    default_page_size: int = 100
    max_page_size: int = 1000
    max_request_bytes: int = 1024 * 1024
    jwt_key: str | None = None
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_org_claim: str = "org"
    token_pepper: str | None = field(default=None, repr=False)
    auto_migrate: bool = True
    #: Fernet keys encrypting stored secrets (service passwords); the first encrypts.
    secret_keys: tuple[str, ...] = field(default=(), repr=False)
    prepared_statements: bool = True
    #: Events (the provisioning outbox) older than this many days are pruned; 0: never.
    event_retention_days: int = 90
    #: Failed authentications one client address may make per window; 0: no limit.
    rate_limit_auth_failures: int = 50
    rate_limit_auth_window: int = 60
    #: Requests one organization may make per window; 0: no limit.
    rate_limit_org_requests: int = 12_000
    rate_limit_org_window: int = 60
    #: Requests a process counts before adding them to the shared total.
    rate_limit_org_batch: int = 100
    #: The reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed
    #: (gunicorn's ``forwarded_allow_ips``): addresses, networks, or ``*``.
    forwarded_allow_ips: str = "127.0.0.1,::1"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        instance = Path(env.get("SCIMSERVER_INSTANCE_DIR", "instance")).resolve()
        url = env.get("SCIMSERVER_DATABASE_URL") or f"sqlite:///{instance / 'scimserver.db'}"
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        jwt_key = env.get("SCIMSERVER_JWT_KEY") or None
        key_file = env.get("SCIMSERVER_JWT_KEY_FILE")
        if key_file:
            try:
                jwt_key = Path(key_file).read_text()
            except OSError as exc:
                raise ConfigError(
                    f"SCIMSERVER_JWT_KEY_FILE: cannot read {key_file}: {exc}"
                ) from None
        algorithms = tuple(
            a.strip() for a in env.get("SCIMSERVER_JWT_ALGORITHMS", "HS256").split(",") if a.strip()
        )
        allowed = {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "PS256"}
        if not set(algorithms) <= allowed:
            raise ConfigError(f"SCIMSERVER_JWT_ALGORITHMS must be among {sorted(allowed)}")
        public = env.get("SCIMSERVER_PUBLIC_URL") or None
        if public and not public.startswith(("http://", "https://")):
            raise ConfigError("SCIMSERVER_PUBLIC_URL must start with http:// or https://")
        settings = cls(
            database_url=url,
            public_url=public.rstrip("/") if public else None,
            default_page_size=_int(env, "SCIMSERVER_DEFAULT_PAGE_SIZE", 100),
            max_page_size=_int(env, "SCIMSERVER_MAX_PAGE_SIZE", 1000),
            max_request_bytes=_int(env, "SCIMSERVER_MAX_REQUEST_BYTES", 1024 * 1024),
            jwt_key=jwt_key,
            jwt_algorithms=algorithms,
            jwt_issuer=env.get("SCIMSERVER_JWT_ISSUER") or None,
            jwt_audience=env.get("SCIMSERVER_JWT_AUDIENCE") or None,
            jwt_org_claim=env.get("SCIMSERVER_JWT_ORG_CLAIM", "org"),
            token_pepper=env.get("SCIMSERVER_TOKEN_PEPPER") or None,
            auto_migrate=env.get("SCIMSERVER_AUTO_MIGRATE", "1") not in ("0", "false", "no"),
            secret_keys=_secret_keys(env),
            prepared_statements=env.get("SCIMSERVER_DATABASE_PREPARED_STATEMENTS", "1")
            not in ("0", "false", "no"),
            event_retention_days=_int(env, "SCIMSERVER_EVENT_RETENTION_DAYS", 90, minimum=0),
            rate_limit_auth_failures=_int(
                env, "SCIMSERVER_RATE_LIMIT_AUTH_FAILURES", 50, minimum=0
            ),
            rate_limit_auth_window=_int(env, "SCIMSERVER_RATE_LIMIT_AUTH_WINDOW", 60),
            rate_limit_org_requests=_int(
                env, "SCIMSERVER_RATE_LIMIT_ORG_REQUESTS", 12_000, minimum=0
            ),
            rate_limit_org_window=_int(env, "SCIMSERVER_RATE_LIMIT_ORG_WINDOW", 60),
            rate_limit_org_batch=_int(env, "SCIMSERVER_RATE_LIMIT_ORG_BATCH", 100),
            forwarded_allow_ips=_proxies(env),
        )
        if settings.default_page_size > settings.max_page_size:
            raise ConfigError(
                "SCIMSERVER_DEFAULT_PAGE_SIZE must not exceed SCIMSERVER_MAX_PAGE_SIZE"
            )
        if url.startswith("sqlite:///") and ":memory:" not in url:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return settings

    def rate_limits(self) -> RateLimitSettings:
        """The rate limits these settings ask for (docs/security.md, "Rate limits")."""
        return RateLimitSettings(
            failures=Limit(self.rate_limit_auth_failures, self.rate_limit_auth_window),
            organization_requests=Limit(self.rate_limit_org_requests, self.rate_limit_org_window),
            organization_batch=self.rate_limit_org_batch,
        )

    def tenant_url(self, slug: str, fallback_base: str = "http://127.0.0.1:8000") -> str:
        return f"{self.public_url or fallback_base}/scim/v2/organizations/{slug}"
