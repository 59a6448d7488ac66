"""The client address behind trusted reverse proxies (scimserver.forwarded)."""

from __future__ import annotations

import pytest

from scimserver.config import ConfigError, Settings
from scimserver.forwarded import TrustedProxies, client_address

LOCAL = TrustedProxies.parse("127.0.0.1,::1")
TWO_PROXIES = TrustedProxies.parse("10.0.0.0/8, 2001:db8::/32")


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "trusted", "client"),
    [
        # A direct client: its own address, whatever it claims.
        ("203.0.113.7", "198.51.100.1", LOCAL, "203.0.113.7"),
        ("203.0.113.7", None, LOCAL, "203.0.113.7"),
        # nginx on the same host: the address it appended.
        ("127.0.0.1", "198.51.100.1", LOCAL, "198.51.100.1"),
        ("::ffff:127.0.0.1", "198.51.100.1", LOCAL, "198.51.100.1"),
        # What the client wrote itself (left of the proxy's entry) is never believed.
        ("127.0.0.1", "6.6.6.6, 198.51.100.1", LOCAL, "198.51.100.1"),
        # Chained proxies: skip the trusted ones, from the right.
        ("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.3", TWO_PROXIES, "198.51.100.1"),
        ("10.0.0.2", "198.51.100.1,10.1.2.3", TWO_PROXIES, "198.51.100.1"),
        ("10.0.0.2", "[2001:db9::5]:4711, 2001:db8::1", TWO_PROXIES, "2001:db9::5"),
        ("10.0.0.2", "198.51.100.1:443", TWO_PROXIES, "198.51.100.1"),
        # Only proxies in the header: the farthest of them.
        ("10.0.0.2", "10.0.0.9", TWO_PROXIES, "10.0.0.9"),
        # Garbage stops the walk at the last address believed.
        ("10.0.0.2", "198.51.100.1, unknown", TWO_PROXIES, "10.0.0.2"),
        ("10.0.0.2", "198.51.100.1, <script>, 10.0.0.3", TWO_PROXIES, "10.0.0.3"),
        # '*': any peer forwards, but an address in the header is never a proxy.
        ("192.0.2.1", "6.6.6.6, 198.51.100.1", TrustedProxies.parse("*"), "198.51.100.1"),
        (None, "198.51.100.1", LOCAL, ""),
    ],
)
def test_the_client_is_the_nearest_address_no_trusted_proxy_wrote(
    peer: str | None, forwarded_for: str | None, trusted: TrustedProxies, client: str
) -> None:
    assert client_address(peer, forwarded_for, trusted) == client


def test_a_bad_trusted_proxy_setting_stops_the_service_at_start() -> None:
    memory = {"SCIMSERVER_DATABASE_URL": "sqlite:///:memory:"}
    with pytest.raises(ConfigError, match=r"SCIMSERVER_FORWARDED_ALLOW_IPS.*'nginx'"):
        Settings.from_env({**memory, "SCIMSERVER_FORWARDED_ALLOW_IPS": "10.0.0.1,nginx"})
    settings = Settings.from_env({**memory, "SCIMSERVER_FORWARDED_ALLOW_IPS": "10.0.0.0/8"})
    assert settings.forwarded_allow_ips == "10.0.0.0/8"
