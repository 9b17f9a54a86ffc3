"""Where webhooks may go: addresses on the public Internet, and the networks the province lists.

A consumer names its own receiver through the sharing API, so an unchecked URL would let it make
the hub send requests inside the hub's own network: to its PostgreSQL, an admin page on loopback,
or a cloud metadata service (server-side request forgery). Loopback, private, link-local and other
non-public addresses are refused unless `$LGSP_WEBHOOK_NETWORKS` lists their network (a provincial
government network, 10.0.0.0/8, is the usual one). A name is resolved when each delivery is sent,
and refused if any of its addresses is, so a name that later points inside is caught then.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from lgsp.core.settings import Settings


def _allowed(settings: Settings, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address.version == net.version and address in net for net in settings.webhook_networks):
        return True
    return address.is_global and not address.is_multicast


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


def refusal(settings: Settings, url: str, *, resolve: bool) -> str | None:
    """Why `url` may not receive webhooks, or None. With `resolve`, a host name is looked up and
    every address it has must be allowed; without, only an address written in the URL is judged."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    elif not resolve:
        return None
    else:
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError, ValueError) as exc:
            return f"không phân giải được {host} / cannot resolve {host}: {exc}"
        addresses = [a for a in (_literal(str(info[4][0])) for info in found) if a is not None]
    for address in addresses:
        if not _allowed(settings, address):
            return (
                f"{host} là địa chỉ nội bộ {address}, không nằm trong LGSP_WEBHOOK_NETWORKS / {host} is the "
                f"non-public address {address}, outside $LGSP_WEBHOOK_NETWORKS"
            )
    return None
