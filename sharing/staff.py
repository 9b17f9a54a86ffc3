"""Department staff who log in to the admin pages: each belongs to one department (its
publisher code) and manages only that department's datasets."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lgsp.settings import Settings
from sharing import registry
from sharing.credentials import hash_secret, new_secret, verify_secret
from sharing.errors import RegistryError

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")


@dataclass(frozen=True)
class Staff:
    username: str
    department: str


def add_staff(settings: Settings, username: str, department: str, password: str | None = None) -> str:
    """Add (or reset) a staff login; returns the password, generated unless given (shown once)."""
    if not USERNAME.match(username):
        raise RegistryError("username: lower-case letters, digits, . _ -", field="username")
    if not re.match(r"^[A-Z][A-Z0-9_]*$", department):
        raise RegistryError("department: a publisher code such as SGTVT", field="department")
    password = password or new_secret()[:20]
    with registry.transaction(settings) as con:
        con.execute(
            "INSERT INTO staff (username, department, hash, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (username) DO UPDATE SET department = excluded.department, hash = excluded.hash",
            [username, department, hash_secret(password), registry.stamp(registry.now())],
        )
    return password


def login(settings: Settings, username: str, password: str) -> Staff | None:
    con = registry.connect(settings)
    try:
        row = con.execute("SELECT * FROM staff WHERE username = ?", [username]).fetchone()
    finally:
        con.close()
    if row is None or not verify_secret(password, row["hash"]):
        return None
    return Staff(row["username"], row["department"])


def list_staff(settings: Settings) -> list[Staff]:
    con = registry.connect(settings)
    try:
        return [Staff(r["username"], r["department"]) for r in con.execute("SELECT * FROM staff ORDER BY username")]
    finally:
        con.close()
