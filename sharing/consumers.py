"""Consumers (the agencies that read shared data) and how they authenticate: API keys
(`lgsp_<key id>.<secret>`) and OAuth2 client credentials that buy short-lived bearer tokens.

Secrets are generated here, returned once and stored as scrypt hashes. The API checks a
credential through `Authenticator`, which caches successful checks in memory and drops the cache
whenever the registry changes, so a revoked or rotated key stops working at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, RowMapping

from lgsp.core.settings import Settings
from lgsp.sharing import registry
from lgsp.sharing.credentials import fast_hash, hash_secret, new_id, new_secret, verify_secret
from lgsp.sharing.errors import RegistryError

KINDS = ("provincial", "commune", "ministry", "national", "other")
"""Agency types: what the anonymised exchange statistics show instead of the consumer."""
CODE = re.compile(r"^[A-Z][A-Z0-9_]{1,31}$")
KEY = re.compile(r"^lgsp_(k[0-9a-f]{12})\.([A-Za-z0-9_-]{20,100})$")


@dataclass(frozen=True)
class Caller:
    """Who is calling: the consumer and the credential it used (key id or client id)."""

    consumer: str
    credential: str


def add_consumer(settings: Settings, code: str, name: str, contact: str, kind: str = "other") -> dict[str, Any]:
    """Register an agency; raises RegistryError for a bad or taken code."""
    if not CODE.match(code):
        raise RegistryError(f"consumer code {code!r}: upper-case letters, digits and _ (e.g. TTPVHCC)", field="code")
    if kind not in KINDS:
        raise RegistryError(f"kind {kind!r}: one of {', '.join(KINDS)}", field="kind")
    with registry.transaction(settings) as con:
        if registry.one(con, "SELECT 1 FROM consumers WHERE code = :code", code=code):
            raise RegistryError(f"consumer {code} is already registered", field="code")
        registry.run(
            con,
            "INSERT INTO consumers (code, name, contact, kind, created_at) VALUES (:code, :name, :contact, :kind, :at)",
            code=code, name=name, contact=contact, kind=kind, at=registry.stamp(registry.now()),
        )  # fmt: skip
    return {"code": code, "name": name, "contact": contact, "kind": kind}


def get_consumer(con: Connection, code: str, active: bool = True) -> RowMapping:
    row = registry.one(con, "SELECT * FROM consumers WHERE code = :code", code=code)
    if row is None:
        raise RegistryError(f"no consumer {code!r} (lgsp consumers list)", field="consumer")
    if active and row["revoked_at"]:
        raise RegistryError(f"consumer {code} is revoked", field="consumer")
    return row


def list_consumers(settings: Settings) -> list[dict[str, Any]]:
    """Every consumer with its active keys and clients."""
    con = registry.connect(settings)
    try:
        out = []
        for row in registry.rows(con, "SELECT * FROM consumers ORDER BY code"):
            keys = [r["key_id"] for r in registry.rows(
                con, "SELECT key_id FROM api_keys WHERE consumer = :code AND revoked_at IS NULL ORDER BY created_at",
                code=row["code"],
            )]  # fmt: skip
            clients = [r["client_id"] for r in registry.rows(
                con, "SELECT client_id FROM clients WHERE consumer = :code AND revoked_at IS NULL ORDER BY created_at",
                code=row["code"],
            )]  # fmt: skip
            out.append({**dict(row), "keys": keys, "clients": clients})
        return out
    finally:
        con.close()


def issue_key(settings: Settings, consumer: str, *, replace: bool = False) -> str:
    """A new API key for a consumer, returned once. With `replace` (rotation) the consumer's other
    keys are revoked in the same transaction."""
    key_id, secret = new_id("k"), new_secret()
    hashed = hash_secret(secret)
    with registry.transaction(settings) as con:
        get_consumer(con, consumer)
        moment = registry.stamp(registry.now())
        if replace:
            registry.run(
                con, "UPDATE api_keys SET revoked_at = :at WHERE consumer = :consumer AND revoked_at IS NULL",
                at=moment, consumer=consumer,
            )  # fmt: skip
        registry.run(
            con, "INSERT INTO api_keys (key_id, consumer, hash, created_at) VALUES (:key_id, :consumer, :hash, :at)",
            key_id=key_id, consumer=consumer, hash=hashed, at=moment,
        )  # fmt: skip
    return f"lgsp_{key_id}.{secret}"


def issue_client(settings: Settings, consumer: str) -> tuple[str, str]:
    """New OAuth2 client credentials (client id, client secret) for a consumer; the secret is shown once."""
    client_id, secret = new_id("c"), new_secret()
    hashed = hash_secret(secret)
    with registry.transaction(settings) as con:
        get_consumer(con, consumer)
        registry.run(
            con, "INSERT INTO clients (client_id, consumer, hash, created_at) VALUES (:client_id, :consumer, :hash, :at)",
            client_id=client_id, consumer=consumer, hash=hashed, at=registry.stamp(registry.now()),
        )  # fmt: skip
    return client_id, secret


def revoke(settings: Settings, what: str) -> str:
    """Revoke a consumer (with all its keys, clients and tokens), one key id or one client id.
    Returns what was revoked; takes effect on the next request."""
    moment = registry.stamp(registry.now())
    with registry.transaction(settings) as con:
        if registry.one(con, "SELECT 1 FROM consumers WHERE code = :what", what=what):
            for sql in (
                "UPDATE consumers SET revoked_at = :at WHERE code = :what AND revoked_at IS NULL",
                "UPDATE api_keys SET revoked_at = :at WHERE consumer = :what AND revoked_at IS NULL",
                "UPDATE clients SET revoked_at = :at WHERE consumer = :what AND revoked_at IS NULL",
            ):
                registry.run(con, sql, at=moment, what=what)
            registry.run(con, "DELETE FROM tokens WHERE consumer = :what", what=what)
            return f"consumer {what}"
        key_id = what.removeprefix("lgsp_").split(".")[0]
        if registry.run(con, "UPDATE api_keys SET revoked_at = :at WHERE key_id = :id", at=moment, id=key_id).rowcount:
            return f"API key {key_id}"
        if registry.run(con, "UPDATE clients SET revoked_at = :at WHERE client_id = :id", at=moment, id=what).rowcount:
            registry.run(con, "DELETE FROM tokens WHERE client_id = :id", id=what)
            return f"OAuth2 client {what}"
    raise RegistryError(f"nothing called {what!r}: give a consumer code, a key id or a client id", field="what")


def issue_token(settings: Settings, client_id: str, client_secret: str) -> tuple[str, int] | None:
    """A bearer token for valid, active client credentials (token, lifetime in seconds), else None."""
    con = registry.connect(settings)
    try:
        row = registry.one(
            con,
            "SELECT c.hash, c.consumer FROM clients c JOIN consumers k ON k.code = c.consumer "
            "WHERE c.client_id = :client_id AND c.revoked_at IS NULL AND k.revoked_at IS NULL",
            client_id=client_id,
        )
    finally:
        con.close()
    if row is None or not verify_secret(client_secret, row["hash"]):
        return None
    token = "lgspt_" + new_secret()
    moment = registry.now()
    with registry.transaction(settings) as con:
        registry.run(con, "DELETE FROM tokens WHERE expires_at < :now", now=registry.stamp(moment))  # keep it small
        registry.run(
            con,
            "INSERT INTO tokens (token_hash, client_id, consumer, expires_at) VALUES (:hash, :client_id, :consumer, :at)",
            hash=fast_hash(token), client_id=client_id, consumer=row["consumer"],
            at=registry.stamp(moment + dt.timedelta(seconds=settings.token_ttl)),
        )  # fmt: skip
    return token, settings.token_ttl


class Authenticator:
    """Turns an API key or a bearer token into a Caller, fast.

    A key's scrypt check runs once; afterwards its SHA-256 finds it in memory. Every lookup first
    asks the registry for its change marker (registry.change_marker: SQLite's `data_version`, or
    PostgreSQL's `registry_version`), which moves when a revocation, a rotation or a new grant is
    committed; after a change, a remembered key is looked up again by its id (a cheap query, no
    scrypt): revoked or rotated, it fails on the very next request.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._local = threading.local()  # one registry connection per thread: no lock on the hot path
        self._lock = threading.Lock()
        self._generation = 0  # moves whenever some thread saw the registry change
        self._keys: dict[str, tuple[Caller, str, int]] = {}  # sha256(key) -> caller, stored hash, generation
        self._tokens: dict[str, tuple[Caller, dt.datetime]] = {}
        self._listeners: list[Any] = []
        self._sqlite = registry.is_sqlite(settings)

    def on_change(self, callback: Any) -> None:
        """Call `callback()` whenever the registry changed (grant caches hang on this)."""
        self._listeners.append(callback)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        """SQLite: this thread's own connection, kept (data_version counts other connections'
        commits). PostgreSQL: one from the pool for the query, so server threads hold none."""
        if not self._sqlite:
            with registry.connect(self.settings) as con:
                yield con
            return
        kept: Connection | None = getattr(self._local, "con", None)
        if kept is None:
            kept = self._local.con = registry.connect(self.settings)  # only reads: its own commits would not count
        yield kept

    def fresh(self) -> int:
        """The cache generation, moved (and caches dropped) if the registry changed since this
        thread last looked. A thread's first look counts as a change: it cannot know."""
        with self._connection() as con:
            version = registry.change_marker(con)
        if version != getattr(self._local, "version", None):
            self._local.version = version
            with self._lock:
                self._generation += 1
                self._tokens.clear()
            for callback in self._listeners:
                callback()
        return self._generation

    def query(self, sql: str, **params: Any) -> list[RowMapping]:
        with self._connection() as con:
            return registry.rows(con, sql, **params)

    def _active_key(self, key_id: str) -> RowMapping | None:
        rows = self.query(
            "SELECT a.hash, a.consumer FROM api_keys a JOIN consumers c ON c.code = a.consumer "
            "WHERE a.key_id = :key_id AND a.revoked_at IS NULL AND c.revoked_at IS NULL",
            key_id=key_id,
        )
        return rows[0] if rows else None

    def api_key(self, key: str) -> Caller | None:
        generation = self.fresh()
        cache_key = fast_hash(key)
        found = self._keys.get(cache_key)
        if found is not None:
            caller, stored, seen = found
            if seen == generation:
                return caller
            row = self._active_key(caller.credential)
            if row is not None and row["hash"] == stored:
                self._keys[cache_key] = (caller, stored, generation)
                return caller
            self._keys.pop(cache_key, None)
            return None
        match = KEY.match(key.strip())
        if not match:
            return None
        row = self._active_key(match.group(1))
        if row is None or not verify_secret(match.group(2), row["hash"]):
            return None
        caller = Caller(row["consumer"], match.group(1))
        self._keys[cache_key] = (caller, row["hash"], generation)
        return caller

    def bearer(self, token: str) -> Caller | None:
        self.fresh()
        token_hash = fast_hash(token.strip())
        found = self._tokens.get(token_hash)
        if found is None:
            rows = self.query(
                "SELECT t.client_id, t.consumer, t.expires_at FROM tokens t JOIN clients c USING (client_id) "
                "JOIN consumers k ON k.code = t.consumer "
                "WHERE t.token_hash = :token_hash AND c.revoked_at IS NULL AND k.revoked_at IS NULL",
                token_hash=token_hash,
            )
            if not rows:
                return None
            expires = registry.parse(rows[0]["expires_at"])
            assert expires is not None
            found = (Caller(rows[0]["consumer"], rows[0]["client_id"]), expires)
            self._tokens[token_hash] = found
        caller, expires = found
        return caller if registry.now() < expires else None
