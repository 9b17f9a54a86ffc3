"""Department staff who log in to the admin pages: each belongs to one department (its
publisher code) and manages only that department's datasets."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from dataclasses import dataclass

from lgsp.core.settings import Settings
from lgsp.sharing import registry
from lgsp.sharing.credentials import hash_secret, new_secret, verify_secret
from lgsp.sharing.errors import RegistryError

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")


@dataclass(frozen=True)
class Staff:
    username: str
    department: str
    session_version: int = 1  # raised by a password reset, a department move or disabling: old sessions end


def add_staff(settings: Settings, username: str, department: str, password: str | None = None) -> str:
    """Add a staff login, or reset one (password and department, enabled again, its sessions
    ended); returns the password, generated unless given (shown once)."""
    if not USERNAME.match(username):
        raise RegistryError("username: lower-case letters, digits, . _ -", field="username")
    if not re.match(r"^[A-Z][A-Z0-9_]*$", department):
        raise RegistryError("department: a publisher code such as SXD", field="department")
    password = password or new_secret()[:20]
    with registry.transaction(settings) as con:
        registry.run(
            con,
            "INSERT INTO staff (username, department, hash, created_at) VALUES (:username, :department, :hash, :at) "
            "ON CONFLICT (username) DO UPDATE SET department = excluded.department, hash = excluded.hash, "
            "session_version = staff.session_version + 1, disabled_at = NULL",
            username=username, department=department, hash=hash_secret(password), at=registry.stamp(registry.now()),
        )  # fmt: skip
    return password


# Failed logins within the window before logins are refused: a user who mistyped waits a quarter of
# an hour, guessing a password takes years. Counted per username from one address (so one
# attacker cannot lock a user out everywhere), per address (whatever usernames it tries), and
# per username from anywhere (a guess spread over many addresses is slowed too).
LOCKOUT_FAILURES = 5
ADDRESS_FAILURES = 20
USERNAME_FAILURES = 50
LOCKOUT_WINDOW = dt.timedelta(minutes=15)
# An unknown username is checked against this hash, so it takes the same work as a known one.
_NOBODY = hash_secret(new_secret())


class LockedOut(RegistryError):
    """Too many failed logins for this username lately; `until` is when it may try again."""

    def __init__(self, username: str, until: dt.datetime) -> None:
        super().__init__(
            f"too many failed logins for '{username}'; try again after {until:%H:%M} UTC", field="username"
        )
        self.until = until


def client_network(address: str) -> str:
    """Whom failures are counted against: an IPv4 address, or an IPv6 address's /64 (one host
    holds a whole /64, so counting single IPv6 addresses would let it guess without end)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False)) if parsed.version == 6 else str(parsed)


def login(settings: Settings, username: str, password: str, address: str = "") -> Staff | None:
    """The staff member, or None for a wrong username or password (the failure is counted).

    Raises LockedOut, without checking the password, while `username` has LOCKOUT_FAILURES
    failures from `address` within LOCKOUT_WINDOW, `address` ADDRESS_FAILURES for any usernames,
    or `username` USERNAME_FAILURES from anywhere. Failures are counted for usernames known or
    not, and an unknown one costs the same scrypt work, so neither answer nor time tells which
    usernames exist. It hashes (~50 ms): call it off the event loop.
    """
    address = client_network(address)
    moment = registry.now()
    since = registry.stamp(moment - LOCKOUT_WINDOW)
    con = registry.connect(settings)
    try:
        recent = registry.rows(
            con,
            "SELECT username, address, at FROM login_failures "
            "WHERE at > :since AND (username = :username OR address = :address) ORDER BY at",
            since=since, username=username, address=address,
        )  # fmt: skip
        row = registry.one(con, "SELECT * FROM staff WHERE username = :username", username=username)
    finally:
        con.close()
    for limit, counted in (
        (LOCKOUT_FAILURES, [r["at"] for r in recent if r["username"] == username and r["address"] == address]),
        (ADDRESS_FAILURES, [r["at"] for r in recent if r["address"] == address]),
        (USERNAME_FAILURES, [r["at"] for r in recent if r["username"] == username]),
    ):
        if len(counted) >= limit:
            oldest = registry.parse(counted[-limit])
            assert oldest is not None
            raise LockedOut(username, oldest + LOCKOUT_WINDOW)
    matches = verify_secret(password, row["hash"] if row is not None else _NOBODY)
    if row is None or row["disabled_at"] or not matches:
        with registry.transaction(settings, bump=False) as con:  # no cache depends on failures
            registry.run(con, "DELETE FROM login_failures WHERE at <= :since", since=since)
            registry.run(
                con, "INSERT INTO login_failures (username, address, at) VALUES (:username, :address, :at)",
                username=username, address=address, at=registry.stamp(moment),
            )  # fmt: skip
        return None
    with registry.transaction(settings, bump=False) as con:
        registry.run(
            con, "DELETE FROM login_failures WHERE username = :username AND address = :address",
            username=username, address=address,
        )  # fmt: skip
    return Staff(row["username"], row["department"], row["session_version"])


def current_staff(settings: Settings, username: str, session_version: object) -> Staff | None:
    """The staff member a session was opened for, as the registry has them now; None if the login
    was disabled or reset (password, department) since, which ends the session."""
    con = registry.connect(settings)
    try:
        row = registry.one(con, "SELECT * FROM staff WHERE username = :username", username=username)
    finally:
        con.close()
    if row is None or row["disabled_at"] or row["session_version"] != session_version:
        return None
    return Staff(row["username"], row["department"], row["session_version"])


def disable_staff(settings: Settings, username: str) -> None:
    """Refuse a staff login from now on and end its sessions (`lgsp staff add` enables it again)."""
    with registry.transaction(settings) as con:
        found = registry.run(
            con,
            "UPDATE staff SET disabled_at = :at, session_version = session_version + 1 WHERE username = :username",
            at=registry.stamp(registry.now()), username=username,
        ).rowcount  # fmt: skip
    if not found:
        raise RegistryError(f"no staff login '{username}'", field="username")


def list_staff(settings: Settings) -> list[Staff]:
    """Every staff login that may log in (disabled ones are left out)."""
    con = registry.connect(settings)
    try:
        rows = registry.rows(con, "SELECT * FROM staff WHERE disabled_at IS NULL ORDER BY username")
        return [Staff(r["username"], r["department"], r["session_version"]) for r in rows]
    finally:
        con.close()
