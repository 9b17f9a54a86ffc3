"""Webhook subscriptions of registered consumers, and the events queued for them.

A consumer subscribes a URL to some datasets (or to all it may read) and is told when one changes:
an open dataset's new release, a shared dataset's new publication. Payloads carry metadata only
(ids, titles, versions, checksums, row counts, links), never rows. A consumer is told only about
what it may read (open, or an active grant), checked when the event is queued and again when it is
sent. Events go to a durable outbox in the registry (one row per subscription and event), which
`lgsp.sharing.deliveries` sends with Standard Webhooks signatures and retries.

The signing secret is generated here and shown once; unlike an API key it cannot be stored as a
hash (the hub signs with it), so it stays in the registry, which is the hub user's alone (0600).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection

from lgsp.core.settings import Settings
from lgsp.publishing.versions import Release
from lgsp.schemas.contract import Classification, Contract
from lgsp.sharing import registry
from lgsp.sharing.consumers import get_consumer
from lgsp.sharing.errors import RegistryError
from lgsp.sharing.grants import Grant, load_contract
from lgsp.sharing.receivers import refusal

log = logging.getLogger(__name__)

RELEASED = "dataset.released"  # an open dataset's new release
PUBLISHED = "dataset.published"  # a shared or restricted dataset's new publication (no files: the sharing API)
PING = "webhook.ping"  # `lgsp webhooks test`


def moment(when: dt.datetime | None = None) -> str:
    """Outbox times: UTC with microseconds, always the same shape, so they compare as text."""
    return (when or registry.now()).astimezone(dt.UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Subscription:
    id: str
    consumer: str
    url: str
    datasets: tuple[str, ...] | None  # None: every dataset the consumer may read
    created_at: str
    active: bool
    deactivated_why: str | None = None

    @classmethod
    def from_row(cls, row: Any) -> Subscription:
        names = json.loads(row["datasets"]) if row["datasets"] else None
        return cls(row["id"], row["consumer"], row["url"], tuple(names) if names is not None else None,
                   row["created_at"], bool(row["active"]), row["deactivated_why"])  # fmt: skip

    def covers(self, dataset: str | None) -> bool:
        return dataset is None or self.datasets is None or dataset in self.datasets

    def public(self) -> dict[str, Any]:
        """What the consumer and the CLI see: everything but the secret."""
        return {"id": self.id, "consumer": self.consumer, "url": self.url,
                "datasets": list(self.datasets) if self.datasets is not None else None,
                "created_at": self.created_at, "active": self.active, "deactivated_why": self.deactivated_why}  # fmt: skip


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_url(url: str, settings: Settings | None = None) -> str:
    """An http(s) URL without credentials; with `settings`, not an address of a network that
    webhooks may not reach (lgsp.sharing.receivers; names are judged when a delivery is sent)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RegistryError(f"url {url!r}: an http:// or https:// address", field="url")
    if parts.username or parts.password or len(url) > 2000:
        raise RegistryError("url: no user or password in it, at most 2000 characters", field="url")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError as exc:
        raise RegistryError(f"url {url!r}: {exc}", field="url") from None
    if settings is not None and (why := refusal(settings, url.strip(), resolve=False)) is not None:
        raise RegistryError(f"url: {why}", field="url")
    return url.strip()


def may_read(
    con: Connection,
    settings: Settings,
    consumer: str,
    dataset: str | None,
    contracts: dict[str, Contract | None] | None = None,
) -> bool:
    """Whether `consumer` may be told about `dataset`: it is active, and the dataset is open or it
    holds an active grant on it (a ping names no dataset). `contracts`: the caller's cache of
    contracts read, so that many subscriptions do not parse one contract many times."""
    row = registry.one(con, "SELECT revoked_at FROM consumers WHERE code = :code", code=consumer)
    if row is None or row["revoked_at"]:
        return False
    if dataset is None:
        return True
    cache = {} if contracts is None else contracts
    if dataset not in cache:
        try:
            cache[dataset] = load_contract(settings, dataset)
        except RegistryError:
            cache[dataset] = None  # a contract removed or broken since: tell no one
    contract = cache[dataset]
    if contract is None:
        return False
    if contract.classification is Classification.open:
        return True
    rows = registry.rows(
        con, "SELECT * FROM grants WHERE consumer = :consumer AND dataset = :dataset AND revoked_at IS NULL",
        consumer=consumer, dataset=dataset,
    )  # fmt: skip
    return any(Grant.from_row(r).active() for r in rows)


def add_subscription(
    settings: Settings, consumer: str, url: str, datasets: list[str] | None = None
) -> tuple[Subscription, str]:
    """Subscribe a consumer's URL; returns the subscription and its secret (shown once). Each named
    dataset must exist and be readable by the consumer now."""
    url = check_url(url, settings)
    if datasets is not None and not datasets:
        raise RegistryError(
            "datasets: name at least one, or leave it out for all the consumer may read", field="datasets"
        )
    names = sorted(set(datasets)) if datasets else None
    secret = new_secret()
    with registry.transaction(settings) as con:
        get_consumer(con, consumer)
        for name in names or []:
            load_contract(settings, name)  # raises for an unknown dataset
            if not may_read(con, settings, consumer, name):
                raise RegistryError(
                    f"{consumer} may not read {name}: ask its owner for a grant first", field="datasets"
                )
        sub_id = "wh_" + secrets.token_hex(6)
        row = registry.one(
            con,
            "INSERT INTO webhook_subscriptions (id, consumer, url, datasets, secret, created_at) "
            "VALUES (:id, :consumer, :url, :datasets, :secret, :at) RETURNING *",
            id=sub_id, consumer=consumer, url=url, datasets=json.dumps(names) if names is not None else None,
            secret=secret, at=registry.stamp(registry.now()),
        )  # fmt: skip
    return Subscription.from_row(row), secret


def list_subscriptions(settings: Settings, consumer: str | None = None) -> list[Subscription]:
    con = registry.connect(settings)
    try:
        rows = registry.rows(con, "SELECT * FROM webhook_subscriptions ORDER BY consumer, created_at, id")
    finally:
        con.close()
    return [s for s in map(Subscription.from_row, rows) if consumer is None or s.consumer == consumer]


def remove_subscription(settings: Settings, sub_id: str, consumer: str | None = None) -> Subscription:
    """Deactivate a subscription (its deliveries stay, as history) and cancel what it still had to
    send; with `consumer`, only that consumer's own subscription."""
    with registry.transaction(settings) as con:
        row = registry.one(con, "SELECT * FROM webhook_subscriptions WHERE id = :id", id=sub_id)
        if row is None or (consumer is not None and row["consumer"] != consumer):
            raise RegistryError(f"no webhook subscription {sub_id!r}", field="subscription")
        deactivate(con, sub_id, "removed")
        row = registry.one(con, "SELECT * FROM webhook_subscriptions WHERE id = :id", id=sub_id)
    return Subscription.from_row(row)


def deactivate(con: Connection, sub_id: str, why: str) -> None:
    """Inside the caller's transaction: the subscription sends nothing more."""
    now = moment()
    registry.run(
        con,
        "UPDATE webhook_subscriptions SET active = 0, deactivated_at = :at, deactivated_why = :why "
        "WHERE id = :id AND active = 1",
        at=now, why=why, id=sub_id,
    )  # fmt: skip
    registry.run(
        con,
        "UPDATE webhook_deliveries SET status = 'cancelled', last_error = :error, finished_at = :at, claim = NULL "
        "WHERE subscription = :id AND status IN ('pending', 'sending')",
        error=f"subscription {why}", at=now, id=sub_id,
    )  # fmt: skip


# -- events -----------------------------------------------------------------------------------------


def _title(contract: Contract) -> dict[str, str]:
    return {"vi": contract.title.vi, "en": contract.title.en}


def release_event(settings: Settings, contract: Contract, release: Release) -> dict[str, Any]:
    """What subscribers hear of an open dataset's new release: metadata and links, never rows."""
    base = settings.base_url
    folder = f"{base}/releases/{contract.id}/v{release.version}"
    published = release.created_at.replace(tzinfo=release.created_at.tzinfo or dt.UTC)
    return {
        "dataset": contract.id,
        "title": _title(contract),
        "publisher": contract.publisher.code,
        "classification": contract.classification.value,
        "version": release.version,
        "run_id": release.run_id,
        "rows": release.rows,
        "published_at": published.isoformat(timespec="seconds"),
        "files": [
            {
                "format": d.format,
                "media_type": d.media_type,
                "bytes": d.bytes,
                "sha256": d.sha256,
                "url": f"{folder}/{d.file}",
            }
            for d in release.distributions
        ],
        "links": {
            "page": f"{base}/dataset/{contract.id}",
            "datapackage": f"{folder}/datapackage.json",
            "feed": f"{base}/dataset/{contract.id}/feed.atom",
        },
    }


def publication_event(
    settings: Settings, contract: Contract, run_id: str, published_at: dt.datetime | None
) -> dict[str, Any]:
    """What a consumer with a grant hears of a shared dataset's new publication: no row count or
    digest (its grant may cover only some rows); it reads what changed through the sharing API."""
    when = published_at or registry.now()
    return {
        "dataset": contract.id,
        "title": _title(contract),
        "publisher": contract.publisher.code,
        "classification": contract.classification.value,
        "run_id": run_id,
        "published_at": when.replace(tzinfo=when.tzinfo or dt.UTC).isoformat(timespec="seconds"),
        "links": {"rows": f"{settings.base_url}/api/share/v1/datasets/{contract.id}/rows"},
    }


def queue(settings: Settings, kind: str, key: str, dataset: str | None, data: dict[str, Any],
          only: str | None = None, contents: str | None = None) -> list[int]:  # fmt: skip
    """Queue one event (once per `key`: queued again, it is ignored) for every active subscription
    that covers the dataset and whose consumer may read it (`only`: one subscription); returns the
    deliveries made. A hub without a registry has no subscriber: nothing is created."""
    if not registry.exists(settings):
        return []
    event_id = "evt_" + secrets.token_hex(8)
    now = moment()
    payload = json.dumps({"type": kind, "timestamp": now, "data": data}, ensure_ascii=False, separators=(",", ":"))
    made = []
    with registry.transaction(settings) as con:  # serialised: two publications compare contents in turn
        subs = [Subscription.from_row(r) for r in registry.rows(
            con, "SELECT * FROM webhook_subscriptions WHERE active = 1" + (" AND id = :only" if only else ""), only=only
        )]  # fmt: skip
        contracts: dict[str, Contract | None] = {}
        readers = [s for s in subs if s.covers(dataset) and may_read(con, settings, s.consumer, dataset, contracts)]
        if not readers:
            return []
        if contents is not None:
            last = registry.one(
                con,
                "SELECT contents FROM webhook_events WHERE type = :kind AND dataset = :dataset "
                "ORDER BY created_at DESC LIMIT 1",
                kind=kind, dataset=dataset,
            )  # fmt: skip
            if last is not None and last["contents"] == contents:
                return []  # published again, the same rows: nothing to tell
        inserted = registry.run(
            con,
            "INSERT INTO webhook_events (id, key, type, dataset, payload, created_at, contents) "
            "VALUES (:id, :key, :kind, :dataset, :payload, :at, :contents) ON CONFLICT (key) DO NOTHING",
            id=event_id, key=key, kind=kind, dataset=dataset, payload=payload, at=now, contents=contents,
        ).rowcount  # fmt: skip
        if not inserted:
            return []  # this release or publication was queued before
        for sub in readers:
            made.append(int(registry.value(
                con, "INSERT INTO webhook_deliveries (subscription, event, next_attempt_at) "
                "VALUES (:subscription, :event, :at) RETURNING id",
                subscription=sub.id, event=event_id, at=now,
            )))  # fmt: skip
    return made


def announce_release(settings: Settings, contract: Contract, release: Release) -> list[int]:
    return queue(settings, RELEASED, f"release:{contract.id}:v{release.version}", contract.id,
                 release_event(settings, contract, release))  # fmt: skip


def announce_publication(
    settings: Settings, contract: Contract, run_id: str, contents: tuple[int, str], published_at: dt.datetime | None
) -> list[int]:
    """A shared dataset's run published: told unless the table holds what it held at the last event."""
    return queue(settings, PUBLISHED, f"publication:{contract.id}:{run_id}", contract.id,
                 publication_event(settings, contract, run_id, published_at), contents=f"{contents[0]}:{contents[1]}")  # fmt: skip


def subscribed(settings: Settings) -> bool:
    """Whether any subscription is active (else a publication need not look at its rows)."""
    if not registry.exists(settings):
        return False
    con = registry.connect(settings)
    try:
        return registry.one(con, "SELECT 1 FROM webhook_subscriptions WHERE active = 1 LIMIT 1") is not None
    finally:
        con.close()


def ping(settings: Settings, sub_id: str) -> int:
    """Queue a ping for one subscription (`lgsp webhooks test`); returns its delivery."""
    with registry.connect(settings) as con:
        row = registry.one(con, "SELECT * FROM webhook_subscriptions WHERE id = :id", id=sub_id)
        if row is None:
            raise RegistryError(f"no webhook subscription {sub_id!r} (lgsp webhooks list)", field="subscription")
        if not row["active"]:
            raise RegistryError(
                f"webhook subscription {sub_id} is inactive ({row['deactivated_why']})", field="subscription"
            )
    made = queue(settings, PING, f"ping:{sub_id}:{secrets.token_hex(8)}", None,
                 {"subscription": sub_id, "message": "Kiểm tra webhook / Webhook test"}, only=sub_id)  # fmt: skip
    if not made:
        raise RegistryError(f"consumer of {sub_id} is revoked: nothing to ping", field="subscription")
    return made[0]


def announce_quietly(announce: Any, *args: Any) -> None:
    """Queue an event for a publication that already happened: a registry problem is logged, never
    raised (the data is published either way; the Atom feeds still tell)."""
    try:
        announce(*args)
    except Exception as exc:
        log.warning("webhook event not queued: %s", exc)
