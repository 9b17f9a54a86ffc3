"""A Unix socket for `lgsp serve --uds`: how a reverse proxy on the same host reaches the hub.

Loopback TCP caps a download at about a fifth of reading the file from the page cache on our
2-core machine, whoever serves it (benchmarks/bench_download.py); a Unix socket carries the same
sendfile about twice as fast. uvicorn would make the socket world-writable (0666); this one is
0660, so only the hub's user and group (the proxy's) can connect.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

MODE = 0o660


class SocketInUse(RuntimeError):
    """Another process answers on the socket, or the path is not a socket."""


def unix_listener(path: Path, backlog: int = 2048) -> socket.socket:
    """A listening socket at `path`, mode 0660. A stale socket left by a killed server is
    replaced; a live one, or any other kind of file, is refused rather than removed."""
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise SocketInUse(f"{path} tồn tại và không phải socket / exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1)  # a stopped or swamped server still counts as one
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            path.unlink(missing_ok=True)  # nothing listens: left by a server that did not end cleanly
        except OSError:
            raise SocketInUse(f"{path}: một tiến trình khác giữ socket / another process holds it") from None
        else:
            raise SocketInUse(f"{path}: một tiến trình khác đang phục vụ / another process is serving on it")
        finally:
            probe.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o117)  # created 0660: never a moment open to every local user
    try:
        listener.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, MODE)
    listener.listen(backlog)
    return listener


def remove_if_ours(path: Path, listener: socket.socket, inode: int) -> None:
    """Close the listener and remove its socket file, unless another server has put its own
    there since (a file with another inode is left alone)."""
    listener.close()
    try:
        if path.lstat().st_ino == inode:
            path.unlink()
    except FileNotFoundError:
        pass
