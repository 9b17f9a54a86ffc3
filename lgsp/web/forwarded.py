"""Who asked, and at which address: forwarded headers believed only from trusted proxies.

X-Forwarded-For and -Proto go through uvicorn's own middleware; X-Forwarded-Host, which uvicorn
ignores, is handled here with the same trust list, so a portal behind nginx builds its links from
the address people typed, and no client can make the hub print another host's links.
"""

from __future__ import annotations

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
        if scope["type"] in ("http", "websocket") and client and client[0] in self.proxy.trusted_hosts:
            forwarded = [v for n, v in scope["headers"] if n == b"x-forwarded-host"]
            host = forwarded[0].split(b",")[0].strip() if forwarded else b""
            if _HOST.match(host):  # the client-facing host, as the first proxy saw it
                headers = [(n, v) for n, v in scope["headers"] if n != b"host"]
                scope = {**scope, "headers": [(b"host", host), *headers]}
        await self.proxy(scope, receive, send)


def public_base(request: Request, settings: Settings) -> str:
    """Where links point: $LGSP_BASE_URL when it is set, else the address the request came to."""
    if "base_url" in settings.model_fields_set:
        return settings.base_url
    return str(request.base_url).rstrip("/")
