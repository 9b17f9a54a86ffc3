"""Zero-copy file bodies for `lgsp serve`: uvicorn's HTTP protocol with ASGI's
`http.response.pathsend` extension, sent by the kernel's sendfile.

Starlette's FileResponse sends a whole file as one `pathsend` message when the server offers the
extension (ranges still go in chunks). uvicorn does not offer it; this protocol does, on plain TCP
(TLS needs the bytes in user space: no offer there). The file goes from the page cache to the
socket without passing through Python, which is what lets a 66 MB `.csv.gz` leave at close to the
speed of reading it from disk (benchmarks/bench_download.py). The copy runs in a worker thread,
polling the non-blocking socket for room, while the event loop serves other requests.
"""

from __future__ import annotations

import asyncio
import os
import select
from typing import Any

import anyio
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

PATHSEND = "http.response.pathsend"
STALL_SECONDS = 60  # a client that takes nothing for this long is dropped, as uvicorn would time out


def _sendfile_all(sock_fd: int, file_fd: int, count: int) -> None:
    offset = 0
    while offset < count:
        try:
            sent = os.sendfile(sock_fd, file_fd, offset, count - offset)
        except BlockingIOError:
            if not select.select([], [sock_fd], [], STALL_SECONDS)[1]:
                raise TimeoutError("client stalled") from None
            continue
        if sent == 0:
            raise BrokenPipeError("file shorter than announced")
        offset += sent


class _Cycle(RequestResponseCycle):
    async def send(self, message: Any) -> None:
        if message["type"] != PATHSEND:
            return await super().send(message)
        if not self.response_started or self.response_complete or self.chunked_encoding:
            raise RuntimeError(f"'{PATHSEND}' must follow a response start with a Content-Length")
        with open(message["path"], "rb") as file:
            size = os.fstat(file.fileno()).st_size
            while self.transport.get_write_buffer_size() and not self.disconnected:
                await asyncio.sleep(0.001)  # the headers leave first
            if not self.disconnected and self.scope["method"] != "HEAD":
                socket = self.transport.get_extra_info("socket")
                try:
                    await anyio.to_thread.run_sync(_sendfile_all, socket.fileno(), file.fileno(), size)
                except OSError:  # the client went away (or stalled): end as uvicorn ends a lost connection
                    self.transport.close()
                    self.disconnected = True
                    return
        self.expected_content_length -= size
        await super().send({"type": "http.response.body", "body": b"", "more_body": False})


class SendfileHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, offering `http.response.pathsend` on plain TCP connections."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.transport.get_extra_info("sslcontext") is None:
            self.scope["extensions"] = {**self.scope.get("extensions", {}), PATHSEND: {}}

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if type(self.cycle) is RequestResponseCycle:  # the cycle just made for this request
            self.cycle.__class__ = _Cycle
