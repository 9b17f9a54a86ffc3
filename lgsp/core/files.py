"""The hub's files: its own (readable by the hub's user only) and appended whole or not at all.

Warehouse, registry, caches of citizen data and key files are readable by the hub's user only.

Every entry point (the `lgsp` command, `lgsp serve`, the Airflow tasks) calls `keep_private`
first: files are created 0600 and folders 0700 from then on, and `$LGSP_HOME` itself is 0700,
so files an older version made 0644 cannot be reached by other local users either.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from lgsp.core.errors import ConfigError
from lgsp.core.settings import Settings


def keep_private(settings: Settings) -> None:
    """umask 077 for this process, and `$LGSP_HOME` made (or kept) 0700."""
    os.umask(0o077)
    settings.home.mkdir(parents=True, exist_ok=True)
    if settings.home.stat().st_mode & 0o077:
        settings.home.chmod(0o700)


def secret_path(settings: Settings, name: str) -> Path:
    return settings.home / "secrets" / f"{name}.key"


def hub_secret(settings: Settings, name: str, *, initial: str | None = None) -> str:
    """A secret the hub keeps (the admin session key, the cursor key, the audit key): `$LGSP_SECRET_<NAME>`
    when set, else the key file `$LGSP_HOME/secrets/<name>.key` (mode 0600), made once from
    `initial` or at random. A key file others can read is refused, naming the file."""
    if name in settings.secrets:
        return settings.secrets[name].get_secret_value()
    path = secret_path(settings, name)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    value = initial or secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            raise ConfigError(
                f"{path} can be read by other users: `chmod 600 {path}`, then rotate the secret", file=str(path)
            ) from None
        text = path.read_text(encoding="utf-8").strip()
        if not text:
            raise ConfigError(f"{path} is empty: delete it to make a new secret", file=str(path)) from None
        return text
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def existing_secret(settings: Settings, name: str) -> str | None:
    """A hub secret if the hub has made or been given one (never makes one)."""
    if name in settings.secrets:
        return settings.secrets[name].get_secret_value()
    path = secret_path(settings, name)
    return hub_secret(settings, name) if path.exists() else None


def append_whole(fd: int, data: bytes) -> int:
    """Append `data` to the file open at `fd`, all of it or none: a write a full disk refuses part
    way is cut back off. Returns where the file ended before (the caller may cut back to it too)."""
    end = os.lseek(fd, 0, os.SEEK_END)
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        with contextlib.suppress(OSError):  # /dev/full and the like cannot be cut: the error stands
            os.ftruncate(fd, end)
        raise
    return end
