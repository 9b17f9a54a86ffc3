"""The sharing registry's tables as SQLAlchemy Core metadata: the same on SQLite and PostgreSQL.

Times are ISO 8601 text in UTC (they compare as text); flags are integers (0/1); lists and filters
are JSON text. A change to a table here needs a migration in lgsp/sharing/migrations/versions.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()
# Tables with ids say sqlite_autoincrement: ids are never reused on SQLite (SERIAL on PostgreSQL).


def _revoked() -> Column[str]:
    return Column("revoked_at", Text)


consumers = Table(
    "consumers", metadata,
    Column("code", Text, primary_key=True), Column("name", Text, nullable=False), Column("contact", Text, nullable=False),
    Column("kind", Text, nullable=False), Column("created_at", Text, nullable=False), _revoked(),
)  # fmt: skip
api_keys = Table(
    "api_keys", metadata,
    Column("key_id", Text, primary_key=True), Column("consumer", Text, ForeignKey("consumers.code"), nullable=False),
    Column("hash", Text, nullable=False), Column("created_at", Text, nullable=False), _revoked(),
)  # fmt: skip
clients = Table(
    "clients", metadata,
    Column("client_id", Text, primary_key=True), Column("consumer", Text, ForeignKey("consumers.code"), nullable=False),
    Column("hash", Text, nullable=False), Column("created_at", Text, nullable=False), _revoked(),
)  # fmt: skip
tokens = Table(
    "tokens", metadata,
    Column("token_hash", Text, primary_key=True),
    Column("client_id", Text, ForeignKey("clients.client_id"), nullable=False),
    Column("consumer", Text, nullable=False), Column("expires_at", Text, nullable=False),
)  # fmt: skip
grants = Table(
    "grants", metadata,
    Column("id", Integer, primary_key=True), Column("consumer", Text, ForeignKey("consumers.code"), nullable=False),
    Column("dataset", Text, nullable=False), Column("columns", Text), Column("row_filter", Text, nullable=False),
    Column("purpose", Text, nullable=False), Column("expires_at", Text), Column("granted_by", Text, nullable=False),
    Column("created_at", Text, nullable=False), _revoked(),
    sqlite_autoincrement=True,
)  # fmt: skip
access_requests = Table(
    "access_requests", metadata,
    Column("id", Integer, primary_key=True), Column("consumer", Text, ForeignKey("consumers.code"), nullable=False),
    Column("dataset", Text, nullable=False), Column("purpose", Text, nullable=False), Column("columns", Text),
    Column("requested_at", Text, nullable=False), Column("due_on", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="pending"), Column("answered_at", Text),
    Column("answered_by", Text), Column("reason", Text), Column("grant_id", Integer),
    sqlite_autoincrement=True,
)  # fmt: skip
staff = Table(
    "staff", metadata,
    Column("username", Text, primary_key=True), Column("department", Text, nullable=False),
    Column("hash", Text, nullable=False), Column("created_at", Text, nullable=False),
    Column("session_version", Integer, nullable=False, server_default=text("1")), Column("disabled_at", Text),
)  # fmt: skip
# Older versions kept the hub's secrets here; registry.hub_secret moves them to key files.
hub_secrets = Table(
    "hub_secrets", metadata, Column("name", Text, primary_key=True), Column("value", Text, nullable=False)
)
login_failures = Table(
    "login_failures", metadata,
    Column("username", Text, nullable=False), Column("at", Text, nullable=False),
    Column("address", Text, nullable=False, server_default=""),
    Index("login_failures_by_user", "username", "at"), Index("login_failures_by_address", "address", "at"),
)  # fmt: skip
# Webhooks (lgsp.sharing.webhooks): subscriptions keep their signing secret (it must sign), events
# are queued once each, and the outbox holds one delivery per subscription and event.
webhook_subscriptions = Table(
    "webhook_subscriptions", metadata,
    Column("id", Text, primary_key=True), Column("consumer", Text, ForeignKey("consumers.code"), nullable=False),
    Column("url", Text, nullable=False), Column("datasets", Text), Column("secret", Text, nullable=False),
    Column("created_at", Text, nullable=False), Column("active", Integer, nullable=False, server_default=text("1")),
    Column("deactivated_at", Text), Column("deactivated_why", Text),
)  # fmt: skip
webhook_events = Table(
    "webhook_events", metadata,
    Column("id", Text, primary_key=True), Column("key", Text, nullable=False, unique=True),
    Column("type", Text, nullable=False), Column("dataset", Text), Column("payload", Text, nullable=False),
    Column("created_at", Text, nullable=False), Column("contents", Text),
)  # fmt: skip
webhook_deliveries = Table(
    "webhook_deliveries", metadata,
    Column("id", Integer, primary_key=True),
    Column("subscription", Text, ForeignKey("webhook_subscriptions.id"), nullable=False),
    Column("event", Text, ForeignKey("webhook_events.id"), nullable=False),
    Column("status", Text, nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", Text, nullable=False), Column("claim", Text), Column("claimed_until", Text),
    Column("last_status", Integer), Column("last_error", Text), Column("finished_at", Text),
    UniqueConstraint("subscription", "event"), Index("webhook_deliveries_due", "status", "next_attempt_at"),
    sqlite_autoincrement=True,
)  # fmt: skip
webhook_attempts = Table(
    "webhook_attempts", metadata,
    Column("delivery", Integer, ForeignKey("webhook_deliveries.id"), primary_key=True),
    Column("attempt", Integer, primary_key=True, autoincrement=False), Column("at", Text, nullable=False),
    Column("status_code", Integer), Column("error", Text), Column("ms", Float, nullable=False),
    Column("next_attempt_at", Text),
)  # fmt: skip
# One row, bumped first thing in every write transaction (registry.transaction): on PostgreSQL its
# row lock serialises the registry's writers, as BEGIN IMMEDIATE does on SQLite, and servers key
# their credential and grant caches on it.
registry_version = Table(
    "registry_version", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False, server_default=text("0")),  # a bump per write: 32 bits run out
)  # fmt: skip
# The exchange log in the cluster profile (lgsp.sharing.log_database): each entry's JSON as written
# (its hash covers it), numbered by seq; the one-row head whose row lock puts the replicas' appends
# in one order; and the signed checkpoints of that head. Made on SQLite too, where they stay empty.
exchange_log = Table(
    "exchange_log", metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False), Column("entry", Text, nullable=False),
)  # fmt: skip
exchange_log_head = Table(
    "exchange_log_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("count", BigInteger, nullable=False), Column("hash", Text, nullable=False),
)  # fmt: skip
exchange_log_checkpoints = Table(
    "exchange_log_checkpoints", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("count", BigInteger, nullable=False), Column("hash", Text, nullable=False),
    Column("at", Text, nullable=False), Column("signature", Text, nullable=False),
    sqlite_autoincrement=True,
)  # fmt: skip
