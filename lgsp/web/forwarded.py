"""Who asked, and at which address: forwarded headers believed only from trusted proxies.

X-Forwarded-For and -Proto go through uvicorn's own middleware; X-Forwarded-Host, which uvicorn
ignores, is handled here with the same trust list, so a portal behind nginx builds its links from
the address people typed, and no client can make the hub print another host's links.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from typing import Any

from starlette.requests import Request
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from lgsp.core.settings import Settings

_HOST = re.compile(rb"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


class ForwardedHeaders:
    """ASGI middleware: X-Forwarded-For/-Proto/-Host from the addresses in `trusted` only."""

    def __init__(self, app: Any, trusted: list[str]) -> None:
        self.proxy = ProxyHeadersMiddleware(app, trusted_hosts=trusted)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        client = scope.get("client")
        # On `lgsp serve --uds` there is no client address: whoever may open the socket (mode
        # 0660, the proxy's group) is the proxy, so its headers are believed.
        server = scope.get("server")
        unix = client is None and isinstance(server, tuple | list) and len(server) == 2 and server[1] is None
        web = scope["type"] in ("http", "websocket")
        if web and (unix or (client and client[0] in self.proxy.trusted_hosts)):
            forwarded = [v for n, v in scope["headers"] if n == b"x-forwarded-host"]
            host = forwarded[0].split(b",")[0].strip() if forwarded else b""
            if _HOST.match(host):  # the client-facing host, as the first proxy saw it
                headers = [(n, v) for n, v in scope["headers"] if n != b"host"]
                scope = {**scope, "headers": [(b"host", host), *headers]}
        if web and unix:
            await self.proxy.app(_from_proxy(scope), receive, send)
            return
        await self.proxy(scope, receive, send)


def _from_proxy(scope: Any) -> Any:
    """The client's address (the last X-Forwarded-For entry: the one the proxy added) and scheme."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in (b"x-forwarded-for", b"x-forwarded-proto"):
            found[name] = found[name] + b"," + value if name in found else value
    scope = dict(scope)
    address = found.get(b"x-forwarded-for", b"").split(b",")[-1].strip().decode("latin-1")
    with contextlib.suppress(ValueError):
        scope["client"] = (str(ipaddress.ip_address(address)), 0)
    proto = found.get(b"x-forwarded-proto", b"").split(b",")[0].strip().decode("latin-1").lower()
    if proto in ("http", "https"):
        scope["scheme"] = proto if scope["type"] == "http" else {"http": "ws", "https": "wss"}[proto]
    return scope


def public_base(request: Request, settings: Settings) -> str:
    """Where links point: $LGSP_BASE_URL when it is set, else the address the request came to."""
    if "base_url" in settings.model_fields_set:
        return settings.base_url
    return str(request.base_url).rstrip("/")
