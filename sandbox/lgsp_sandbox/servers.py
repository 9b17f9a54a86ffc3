"""What the throwaway database servers of the tests and benchmarks share: a free loopback port,
a check that the server's OS user can reach its directory, and the clean-up."""

from __future__ import annotations

import grp
import pwd
import shutil
import socket
import stat
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import Self


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reachable_by(path: Path, user: pwd.struct_passwd) -> bool:
    """Whether `user` may traverse every directory down to `path` (pytest makes 0700 temp dirs as root)."""
    groups = {g.gr_gid for g in _groups(user)} | {user.pw_gid}
    for directory in [path, *path.parents]:
        st = directory.stat()
        if st.st_uid == user.pw_uid:
            bit = stat.S_IXUSR
        elif st.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


def _groups(user: pwd.struct_passwd) -> list[grp.struct_group]:
    return [g for g in grp.getgrall() if user.pw_name in g.gr_mem]


class ThrowawayServer(ABC):
    """A server in a directory of its own (`root`), deleted when it stops unless `keep`;
    a context manager: `start()` on entry, `stop()` on exit."""

    root: Path | None
    keep: bool

    @abstractmethod
    def start(self) -> Self: ...

    @abstractmethod
    def stop(self) -> None: ...

    def _cleanup(self) -> None:
        if self.root is not None and not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
