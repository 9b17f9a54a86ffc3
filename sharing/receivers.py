"""Where webhooks may go: addresses on the public Internet, and the networks the province lists.

A consumer names its own receiver through the sharing API, so an unchecked URL would let it make
the hub send requests inside the hub's own network: to its PostgreSQL, an admin page on loopback,
or a cloud metadata service (server-side request forgery). Loopback, private, link-local and other
non-public addresses are refused unless `$LGSP_WEBHOOK_NETWORKS` lists their network (a provincial
government network, 10.0.0.0/8, is the usual one). A name is resolved when each delivery is sent,
and refused if any of its addresses is; the delivery then connects to the address judged (Host
header and TLS server name kept), so a name that points elsewhere a moment later changes nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from lgsp.core.settings import Settings

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
# Refused whatever Python's tables say (they lag the registries): this network, private, shared
# (carrier NAT), loopback, link-local, IETF protocol assignments, benchmarking, multicast, reserved.
DENIED = tuple(
    ipaddress.ip_network(n)
    for n in ("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
              "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
              "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8")
)  # fmt: skip
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated IPv4-compatible addresses, ::a.b.c.d


def _inner(address: IP) -> IP:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64, IPv4-compatible), or itself."""
    if not isinstance(address, ipaddress.IPv6Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in net for net in NAT64) or (address in COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def _allowed(settings: Settings, address: IP) -> bool:
    candidates = {address, _inner(address)}
    if all(any(a.version == net.version and a in net for net in settings.webhook_networks) for a in candidates):
        return True
    return all(a.is_global and not any(a.version == n.version and a in n for n in DENIED) for a in candidates)


def _literal(host: str) -> IP | None:
    """The address a host written as numbers stands for, in any form the C library reads
    (`127.1`, `2130706433`, `0x7f.1`, `[::1]`), without asking DNS; None for a name."""
    host = host.strip("[]").split("%")[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return ipaddress.ip_address(str(found[0][4][0]))


def _judged(settings: Settings, url: str, resolve: bool) -> tuple[str | None, list[IP]]:
    """(why `url` may not receive webhooks or None, the addresses it stands for)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    elif not resolve:
        return None, []
    else:
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError, ValueError) as exc:
            return f"không phân giải được {host} / cannot resolve {host}: {exc}", []
        addresses = [a for a in (_literal(str(info[4][0])) for info in found) if a is not None]
    for address in addresses:
        if not _allowed(settings, address):
            return (
                f"{host} là địa chỉ nội bộ {address}, không nằm trong LGSP_WEBHOOK_NETWORKS / {host} is the "
                f"non-public address {address}, outside $LGSP_WEBHOOK_NETWORKS"
            ), addresses
    return None, addresses


def refusal(settings: Settings, url: str, *, resolve: bool) -> str | None:
    """Why `url` may not receive webhooks, or None. With `resolve`, a host name is looked up and
    every address it has must be allowed; without, only an address written in the URL is judged."""
    return _judged(settings, url, resolve)[0]


class Refused(Exception):
    """The receiver's address is not one webhooks may go to (the message says why)."""


@dataclass(frozen=True)
class Target:
    """Where a delivery is sent: the URL with its host replaced by the address that was judged,
    the Host header and the TLS server name of the original, so the connection goes to the very
    address checked (a name that resolves elsewhere a moment later, DNS rebinding, changes nothing)."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)


def pinned(settings: Settings, url: str) -> list[Target]:
    """The delivery targets for `url`, one per address it resolved to (tried in that order, as
    a client tries a name's addresses), resolved and judged once; raises Refused."""
    why, addresses = _judged(settings, url, resolve=True)
    if why is not None or not addresses:
        raise Refused(why or f"{url}: không có địa chỉ / no address")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if _literal(host) is not None:
        return [Target(url)]
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    targets = []
    for address in dict.fromkeys(addresses):
        netloc = f"[{address}]" if address.version == 6 else str(address)
        if parts.port:
            netloc += f":{parts.port}"
        targets.append(Target(urlunsplit(parts._replace(netloc=netloc)), {"host": parts.netloc}, extensions))
    return targets
