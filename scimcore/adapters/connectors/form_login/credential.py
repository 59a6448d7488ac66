"""The administrator's login as an :class:`~scimcore.provisioning.connector.Auth`.

The worker hands a connector its credentials only as ``ctx.auth``; for form_login that
is a :class:`FormLoginAuth`, which holds the username, password and TOTP seed
privately for the sign-in code (:mod:`.session`) and adds nothing to requests: its
``apply`` is a no-op, so the integration's pacing wrapper still sees (and spaces out)
every request while no header ever carries the password. The password and seed are
never in its ``repr``, and the code is computed at the moment it is typed in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

from ....provisioning.connector import Auth, HttpRequest
from ....provisioning.errors import AuthenticationFailed
from ..totp import DEFAULT_STEP, TotpSecretError, decode_base32_secret, totp

#: A random key of this process: fingerprints of a login can be compared (the cached
#: session belongs to this credential) but not reversed or compared across processes.
_PROCESS_KEY = secrets.token_bytes(32)


class FormLoginAuth:
    """A username, password and optional base32 TOTP seed, used only to sign in."""

    def __init__(self, username: str, password: str, totp_secret: str | None = None) -> None:
        if not username or not password:
            raise AuthenticationFailed("form_login needs the administrator's username and password")
        self.username = username
        self._password = password
        self._totp_key: bytes | None = None
        if totp_secret:
            try:
                self._totp_key = decode_base32_secret(totp_secret)
            except TotpSecretError as exc:
                raise AuthenticationFailed(f"form_login: {exc}") from None
        self.fingerprint = hmac.new(
            _PROCESS_KEY,
            b"\0".join((username.encode(), password.encode(), self._totp_key or b"")),
            hashlib.sha256,
        ).hexdigest()

    def apply(self, request: HttpRequest) -> None:
        """Nothing: the password goes only into the sign-in form, never into a header."""
        return None

    def __repr__(self) -> str:
        second = ", TOTP" if self._totp_key else ""
        return f"FormLoginAuth({self.username!r}, <secret>{second})"

    @property
    def has_totp(self) -> bool:
        return self._totp_key is not None

    def password(self) -> str:
        return self._password

    def totp_code(self, at: float | None = None) -> tuple[str, int]:
        """The current RFC 6238 code (SHA-1, 30 s, 6 digits) and its time step."""
        if self._totp_key is None:
            raise AuthenticationFailed("the credential has no TOTP seed")
        moment = time.time() if at is None else at
        return totp(self._totp_key, moment), int(moment // DEFAULT_STEP)


def from_credential(credential: Any) -> FormLoginAuth:
    """A vault credential (an ``id_password``) as a :class:`FormLoginAuth`; any other kind
    is refused with a message naming the kind, never a value."""
    if isinstance(credential, FormLoginAuth):
        return credential
    kind = getattr(credential, "kind", type(credential).__name__)
    username = getattr(credential, "username", None)
    password = getattr(credential, "password", None)
    if kind != "id_password" or not isinstance(username, str) or not password:
        raise AuthenticationFailed(
            f"form_login signs in with an id_password credential (username, password and "
            f"an optional TOTP seed), not a {kind} credential: store one with "
            "'scimserver integrations credential set ... --kind id_password'"
        )
    reveal = getattr(password, "get_secret_value", None)
    seed = getattr(credential, "totp_secret", None)
    return FormLoginAuth(username, str(reveal() if callable(reveal) else password), seed)


def find_login(auth: Auth) -> FormLoginAuth:
    """The :class:`FormLoginAuth` in ``ctx.auth``, through wrappers (pacing) that keep
    the authenticator they wrap as ``inner``."""
    current: object = auth
    for _ in range(8):
        if isinstance(current, FormLoginAuth):
            return current
        current = getattr(current, "inner", None)
        if current is None:
            break
    raise AuthenticationFailed(
        "form_login has no administrator login for this integration: store an "
        "id_password credential (username, password, optional TOTP seed)"
    )
