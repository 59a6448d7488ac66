"""Pacing: every request to a service waits for the integration's next shared slot.

Connectors apply ``ctx.auth`` to every request they send (:mod:`.http` does it for
them), so wrapping the integration's authenticator is the one place that sees each
request without a connector knowing about rate limits. The slot itself is reserved
in the database (:meth:`~scimcore.provisioning.store.ProvisioningStore.reserve_call`),
which makes the limit hold over every worker sharing it.
"""

from __future__ import annotations

from collections.abc import Callable

from .connector import Auth, HttpRequest


class PacedAuth:
    """Waits (``wait()``) before each request, then applies the real authenticator.

    The wait comes before the inner ``apply``, so a signature or a token is made at
    the moment the request leaves, and before :func:`.http.send` starts the request's
    deadline, so waiting for a slot never eats into the request timeout.
    """

    def __init__(self, inner: Auth, wait: Callable[[], None]) -> None:
        self._inner = inner
        self._wait = wait

    @property
    def inner(self) -> Auth:
        """The wrapped authenticator (a connector that signs in itself looks for its own)."""
        return self._inner

    def apply(self, request: HttpRequest) -> None:
        self._wait()
        self._inner.apply(request)

    def __repr__(self) -> str:
        return f"PacedAuth({self._inner!r})"
