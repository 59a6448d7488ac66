"""Who the client is, behind the reverse proxies the service is told to trust.

gunicorn sets ``REMOTE_ADDR`` to the peer of the connection and never reads
``X-Forwarded-For``, so behind nginx or a load balancer every request comes from the
proxy. The rate limit on failed authentications counts per client address; without
this, one client with a bad token would exhaust the budget of every client behind
the same proxy. The proxies are the ones gunicorn already trusts for
``X-Forwarded-Proto`` (``SCIMSERVER_FORWARDED_ALLOW_IPS``, ``serve
--forwarded-allow-ips``), so one setting decides both.

The client is the nearest address in ``X-Forwarded-For``, read from the right, that is
not a trusted proxy: each trusted proxy appends the address it received the request
from, so every entry to the left of the first untrusted one may have been written by
the client itself and is never believed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from flask import Request, current_app

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class TrustedProxies:
    """The peers whose ``X-Forwarded-For`` is believed: addresses and networks, or
    any peer (``*``: only when nothing but the proxies can reach the service)."""

    networks: tuple[_Network, ...] = ()
    any_peer: bool = False

    @classmethod
    def parse(cls, text: str) -> TrustedProxies:
        """``127.0.0.1,::1,10.0.0.0/8`` or ``*``; :class:`ValueError` names a bad entry."""
        entries = [e.strip() for e in text.split(",") if e.strip()]
        if "*" in entries:
            return cls(any_peer=True)
        networks = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return cls(tuple(networks))

    def trusts(self, address: str) -> bool:
        """Whether ``address`` is one of the proxies (``*`` trusts any peer, but never
        an address read from ``X-Forwarded-For``: see :func:`client_address`)."""
        ip = _ip(address)
        return ip is not None and any(ip in network for network in self.networks)


def client_address(peer: str | None, forwarded_for: str | None, trusted: TrustedProxies) -> str:
    """The client's address for a request from ``peer`` carrying ``forwarded_for``
    (several headers joined by commas, as gunicorn joins them)."""
    if not peer or not forwarded_for or not (trusted.any_peer or trusted.trusts(peer)):
        return peer or ""
    nearest = peer
    for entry in reversed(forwarded_for.split(",")):
        address = _bare(entry)
        if _ip(address) is None:
            break  # garbage: the last proxy we believe is as near as we can tell
        nearest = address
        if not trusted.trusts(address):
            break
    return nearest


def _bare(entry: str) -> str:
    """An address from an ``X-Forwarded-For`` entry, without a port or brackets."""
    entry = entry.strip()
    if entry.startswith("["):  # [2001:db8::1]:443
        return entry[1:].split("]", 1)[0]
    if entry.count(":") == 1:  # 203.0.113.7:443
        return entry.split(":", 1)[0]
    return entry


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


#: Where :func:`create_app` keeps the service's :class:`TrustedProxies`.
EXTENSION = "scimserver_trusted_proxies"


def request_client(req: Request) -> str:
    """The client's address of a request to this app (see :func:`client_address`)."""
    trusted = current_app.extensions.get(EXTENSION) or TrustedProxies()
    return client_address(req.remote_addr, req.headers.get("X-Forwarded-For"), trusted)
