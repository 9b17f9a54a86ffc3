"""Sending the webhook outbox: signed (Standard Webhooks), retried with backoff, every attempt kept.

A delivery is claimed by a conditional UPDATE (pending and due, or a claim whose lease ran out),
so two deliverers, say two `lgsp serve` processes, never send the same row at once (on PostgreSQL
the candidate is picked `FOR UPDATE SKIP LOCKED`, so deliverers do not queue behind each other). 2xx:
delivered. 410 Gone: the receiver wants no more, the subscription is deactivated. Anything else,
a timeout or a refused connection included: retried after `Settings.webhook_backoff` (±20%
jitter); after the last attempt the delivery is `failed`. Redirects are not followed (a 3xx is a
failure): the hub posts only where the subscription says.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import Connection, RowMapping
from standardwebhooks.webhooks import Webhook

from lgsp.core.settings import Settings
from lgsp.sharing import registry
from lgsp.sharing.receivers import Refused, pinned
from lgsp.sharing.webhooks import deactivate, may_read, moment

log = logging.getLogger(__name__)
JITTER = 0.2
USER_AGENT = "lgsp-hub-webhooks/1"
STATES = ("pending", "sending", "delivered", "failed", "cancelled")


@dataclass
class Pass:
    """What one delivery pass did, by outcome (`failed`: failed for good, at its last attempt)."""

    delivered: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"{len(self.delivered)} delivered, {len(self.retrying)} to retry, {len(self.failed)} failed, "
                f"{len(self.cancelled)} cancelled")  # fmt: skip


def max_attempts(settings: Settings) -> int:
    return len(settings.webhook_backoff) + 1


def retry_delay(settings: Settings, attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones, with jitter so that many
    deliveries failing together (a receiver down) do not all come back at the same instant."""
    base = settings.webhook_backoff[attempts - 1]
    return base * random.uniform(1 - JITTER, 1 + JITTER)


class Deliverer:
    """Sends due deliveries; one per process (`lgsp webhooks deliver`, or `lgsp serve`'s loop)."""

    def __init__(self, settings: Settings, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.name = "d" + secrets.token_hex(6)  # this deliverer's claims
        self.client = client or httpx.Client(timeout=settings.webhook_timeout, follow_redirects=False)
        self._contracts: dict[str, Any] = {}

    def close(self) -> None:
        self.client.close()

    def _claim(self, con: Connection, now: str, only: int | None) -> RowMapping | None:
        """The next due delivery, claimed by this deliverer, or None. The UPDATE's condition is the
        claim: of two deliverers that picked the same row, only one changes it (PostgreSQL re-checks
        it on the row as the other left it); on PostgreSQL, rows another deliverer is claiming are
        skipped rather than waited for."""
        lease = moment(registry.now() + dt.timedelta(seconds=self.settings.webhook_timeout * 2 + 30))
        due = "((status = 'pending' AND next_attempt_at <= :now) OR (status = 'sending' AND claimed_until < :now))"
        where = " AND id = :only" if only is not None else ""
        claim = "UPDATE webhook_deliveries SET status = 'sending', claim = :name, claimed_until = :lease"
        params = {"now": now, "only": only, "name": self.name, "lease": lease}
        if con.dialect.name == "postgresql":
            candidate = registry.value(
                con, f"{claim} WHERE id = (SELECT id FROM webhook_deliveries WHERE {due}{where} "
                "ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) AND " + due + " RETURNING id", **params,
            )  # fmt: skip
            return None if candidate is None else self._claimed(con, candidate)
        while True:
            candidates = [r["id"] for r in registry.rows(
                con, f"SELECT id FROM webhook_deliveries WHERE {due}{where} ORDER BY next_attempt_at, id LIMIT 10",
                **params,
            )]  # fmt: skip
            if not candidates:
                return None
            for candidate in candidates:
                if registry.run(con, f"{claim} WHERE id = :id AND {due}", id=candidate, **params).rowcount:
                    return self._claimed(con, candidate)

    def _claimed(self, con: Connection, delivery: int) -> RowMapping | None:
        return registry.one(
            con,
            "SELECT d.*, e.payload, e.dataset, s.url, s.secret, s.consumer FROM webhook_deliveries d "
            "JOIN webhook_events e ON e.id = d.event JOIN webhook_subscriptions s ON s.id = d.subscription "
            "WHERE d.id = :id",
            id=delivery,
        )

    def run_once(self, only: int | None = None) -> Pass:
        """Send every delivery due when the pass began (`only`: that one, due or not yet), with
        `webhook_senders` threads at once, so a receiver that hangs until the timeout holds up no
        other; a delivery rescheduled during the pass waits for a later one."""
        done = Pass()
        lock = threading.Lock()
        self._contracts = {}  # contracts read once per pass (a contract edited later counts at the next)
        now = moment()
        if only is not None:
            con = registry.connect(self.settings)
            try:
                registry.run(
                    con, "UPDATE webhook_deliveries SET next_attempt_at = :now WHERE id = :id AND status = 'pending'",
                    now=now, id=only,
                )  # fmt: skip
            finally:
                con.close()

        def sender() -> None:
            con = registry.connect(self.settings)  # one registry connection per thread
            try:
                while (row := self._claim(con, now, only)) is not None:
                    outcome = self._send(con, row)
                    with lock:
                        getattr(done, outcome).append(int(row["id"]))
            finally:
                con.close()

        senders = 1 if only is not None else self.settings.webhook_senders
        with ThreadPoolExecutor(max_workers=senders, thread_name_prefix="lgsp-webhook") as pool:
            for future in [pool.submit(sender) for _ in range(senders)]:
                future.result()  # a sender's error is this pass's
        for outcome in (done.delivered, done.retrying, done.failed, done.cancelled):
            outcome.sort()
        return done

    def _send(self, con: Connection, row: RowMapping) -> str:
        if not may_read(con, self.settings, row["consumer"], row["dataset"], self._contracts):
            self._finish(
                con, row, "cancelled", None, "no longer permitted (grant revoked or expired, consumer revoked)"
            )
            return "cancelled"
        body = row["payload"].encode()
        message = f"msg_{row['event']}_{row['subscription']}"  # the same on every retry: receivers dedupe on it
        started = time.perf_counter()
        at = registry.now()
        status: int | None = None
        error: str | None = None
        try:
            targets = pinned(self.settings, row["url"])
            signed = {
                "content-type": "application/json",
                "user-agent": USER_AGENT,
                "webhook-id": message,
                "webhook-timestamp": str(int(at.timestamp())),
                "webhook-signature": Webhook(row["secret"]).sign(message, at, body),
            }
            for n, target in enumerate(targets):
                try:
                    with self.client.stream(
                        "POST", target.url, content=body, headers={**target.headers, **signed},
                        extensions=target.extensions,
                    ) as response:  # fmt: skip
                        status = response.status_code
                    break
                except httpx.ConnectError:
                    if n == len(targets) - 1:
                        raise  # the name's last address: the attempt failed
        except Refused as exc:
            error = f"not sent: {exc}"[:500]
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        ms = (time.perf_counter() - started) * 1000
        # A claim taken over after its lease ran out may find the first sender's attempt recorded.
        recorded = registry.value(con, "SELECT max(attempt) FROM webhook_attempts WHERE delivery = :id", id=row["id"])
        attempt = max(int(row["attempts"]), int(recorded or 0)) + 1
        if status is not None and 200 <= status < 300:
            outcome, next_at = "delivered", None
        elif status == 410:
            outcome, next_at, error = "cancelled", None, "410 Gone: subscription deactivated"
        elif attempt >= max_attempts(self.settings):
            outcome, next_at = "failed", None
        else:
            outcome = "retrying"
            next_at = moment(at + dt.timedelta(seconds=retry_delay(self.settings, attempt)))
        if status is not None and error is None and outcome in ("retrying", "failed"):
            error = f"HTTP {status}"
        # The attempt and its outcome together, in one write transaction of their own.
        with registry.transaction(self.settings, bump=False) as tx:
            registry.run(
                tx,
                "INSERT INTO webhook_attempts (delivery, attempt, at, status_code, error, ms, next_attempt_at) "
                "VALUES (:id, :attempt, :at, :status, :error, :ms, :next_at)",
                id=row["id"], attempt=attempt, at=moment(at), status=status, error=error, ms=round(ms, 3),
                next_at=next_at,
            )  # fmt: skip
            if outcome == "retrying":
                registry.run(
                    tx,
                    "UPDATE webhook_deliveries SET status = 'pending', attempts = :attempt, next_attempt_at = :next_at, "
                    "last_status = :status, last_error = :error, claim = NULL, claimed_until = NULL "
                    "WHERE id = :id AND claim = :name",
                    attempt=attempt, next_at=next_at, status=status, error=error, id=row["id"], name=self.name,
                )  # fmt: skip
            else:
                self._finish(tx, row, outcome, status, error, attempt)
                if status == 410:
                    deactivate(tx, row["subscription"], "410 Gone from the receiver")
        return outcome

    def _finish(self, con: Connection, row: RowMapping, state: str, status: int | None,
                error: str | None, attempts: int | None = None) -> None:  # fmt: skip
        registry.run(
            con,
            "UPDATE webhook_deliveries SET status = :state, attempts = :attempts, last_status = :status, "
            "last_error = :error, finished_at = :at, claim = NULL, claimed_until = NULL WHERE id = :id AND claim = :name",
            state=state, attempts=attempts if attempts is not None else row["attempts"], status=status, error=error,
            at=moment(), id=row["id"], name=self.name,
        )  # fmt: skip


def deliveries(settings: Settings, *, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The outbox, newest first, each delivery with its attempts."""
    con = registry.connect(settings)
    try:
        rows = registry.rows(
            con,
            "SELECT d.*, e.type, e.dataset, s.consumer, s.url FROM webhook_deliveries d "
            "JOIN webhook_events e ON e.id = d.event JOIN webhook_subscriptions s ON s.id = d.subscription "
            + ("WHERE d.status = :status " if status else "") + "ORDER BY d.id DESC LIMIT :limit",
            status=status, limit=limit,
        )  # fmt: skip
        out = []
        for row in rows:
            attempts = registry.rows(
                con, "SELECT attempt, at, status_code, error, ms, next_attempt_at FROM webhook_attempts "
                "WHERE delivery = :id ORDER BY attempt", id=row["id"],
            )  # fmt: skip
            found = {k: row[k] for k in row.keys() if k not in ("claim", "claimed_until")}
            out.append({**found, "attempt_log": [dict(a) for a in attempts]})
        return out
    finally:
        con.close()


class Background:
    """The delivery loop of `lgsp serve`: a daemon thread, a pass every `webhook_poll` seconds,
    stopped (waiting for the pass under way) when the server shuts down."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.settings.webhook_poll <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="lgsp-webhooks", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        deliverer = Deliverer(self.settings)
        try:
            while not self._stop.is_set():
                try:
                    if registry.exists(self.settings):
                        deliverer.run_once()
                except Exception as exc:  # a locked or broken registry: try again next pass
                    log.warning("webhook delivery pass failed: %s", exc)
                self._stop.wait(self.settings.webhook_poll)
        finally:
            deliverer.close()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
