"""Webhooks end to end: real publications on the sandbox province, a real HTTP receiver on loopback
that checks every signature with standardwebhooks, retries with backoff, 410 Gone, failing for
good, who may be told what, and two deliverers racing over one outbox."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import re
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from typer.testing import CliRunner

from lgsp.cli import app
from lgsp.core.settings import Settings
from lgsp.pipeline import Pipeline
from lgsp.publishing.versions import latest_release
from lgsp.sharing import consumers, registry, webhooks
from lgsp.sharing.deliveries import Deliverer, deliveries
from lgsp.sharing.errors import RegistryError
from lgsp.sharing.grants import add_grant, revoke_grant
from tests.conftest import serve

runner = CliRunner()


@dataclass
class Receiver:
    """A webhook receiver on loopback: answers the scripted statuses in turn (then 200), keeps what
    it got, and verifies each message with the secret of the path it was posted to."""

    url: str
    secrets: dict[str, str] = field(default_factory=dict)  # path -> secret
    script: dict[str, list[int]] = field(default_factory=dict)  # path -> statuses still to answer
    got: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0
    gates: dict[str, threading.Event] = field(default_factory=dict)  # path -> answered once set

    def verified(self, path: str | None = None) -> list[dict[str, Any]]:
        return [m["json"] for m in self.got if m["verified"] and (path is None or m["path"] == path)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    lock = threading.Lock()
    state: dict[str, Receiver] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            me = state["r"]
            body = self.rfile.read(int(self.headers["content-length"]))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                parsed, ok = Webhook(me.secrets[self.path]).verify(body, headers), True
            except (WebhookVerificationError, KeyError):
                parsed, ok = None, False
            time.sleep(me.delay)
            if self.path in me.gates:
                me.gates[self.path].wait(timeout=30)
            with lock:
                queue = me.script.get(self.path, [])
                status = queue.pop(0) if queue else 200
                me.got.append({"path": self.path, "body": body, "headers": headers, "json": parsed,
                               "verified": ok, "status": status, "at": time.time()})  # fmt: skip
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["r"] = Receiver(f"http://127.0.0.1:{server.server_port}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["r"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def loopback_receivers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receivers here listen on loopback, a network webhooks may reach only when listed
    (lgsp.sharing.receivers); set before `hub` reads the environment."""
    monkeypatch.setenv("LGSP_WEBHOOK_NETWORKS", "127.0.0.0/8,::1/128")  # localhost may name ::1 too


def subscribe(
    settings: Settings, receiver: Receiver, consumer: str, path: str, datasets: list[str] | None = None
) -> str:
    sub, secret = webhooks.add_subscription(settings, consumer, receiver.url + path, datasets)
    receiver.secrets[path] = secret
    return sub.id


def agency(settings: Settings, code: str) -> None:
    consumers.add_consumer(settings, code, f"Agency {code}", f"{code.lower()}@example.gov.vn")


def quick(settings: Settings, *backoff: float) -> Settings:
    return settings.model_copy(update={"webhook_backoff": backoff})


def lgsp(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_a_release_sends_one_signed_event_per_subscription_and_an_unchanged_run_none(
    hub: Settings, receiver: Receiver
) -> None:
    agency(hub, "ALL_OPEN")
    agency(hub, "SCHOOLS_ONLY")
    agency(hub, "OTHER_DATA")
    subscribe(hub, receiver, "ALL_OPEN", "/all")
    subscribe(hub, receiver, "SCHOOLS_ONLY", "/schools", ["schools"])
    subscribe(hub, receiver, "OTHER_DATA", "/other", ["ict_indicators"])
    pipeline = Pipeline(hub)
    assert pipeline.run("schools").status == "published"
    release = latest_release(hub.home, "schools")
    assert release is not None
    done = Deliverer(hub).run_once()
    assert len(done.delivered) == 2 and not done.retrying and not done.failed
    assert [m["path"] for m in receiver.got if m["verified"]] and all(m["verified"] for m in receiver.got)
    assert sorted(m["path"] for m in receiver.got) == ["/all", "/schools"]  # /other follows another dataset
    event = receiver.verified("/schools")[0]
    assert event["type"] == "dataset.released"
    data = event["data"]
    assert data["dataset"] == "schools" and data["version"] == release.version and data["rows"] == release.rows
    assert data["title"]["vi"] and data["title"]["en"]
    assert {f["sha256"] for f in data["files"]} == {d.sha256 for d in release.distributions}
    assert all(
        f["url"].endswith(f"/releases/schools/v{release.version}/{f['url'].rsplit('/', 1)[1]}") for f in data["files"]
    )
    assert data["links"]["feed"].endswith("/dataset/schools/feed.atom")
    assert "rows" not in json.dumps(data["files"]) and "school_name" not in json.dumps(event)  # metadata, never rows
    ids = {m["headers"]["webhook-id"] for m in receiver.got}
    assert len(ids) == 2 and all(m["headers"]["webhook-signature"].startswith("v1,") for m in receiver.got)

    # The same data again: no new release, nothing queued; `lgsp release` of it neither.
    assert pipeline.run("schools").status == "published"
    lgsp("release", "schools")
    assert len(deliveries(hub)) == 2
    assert Deliverer(hub).run_once().delivered == []


def test_500_twice_then_200_is_delivered_at_the_third_attempt_after_the_backoff(
    hub: Settings, receiver: Receiver
) -> None:
    settings = quick(hub, 0.3, 0.6, 5)
    agency(settings, "FLAKY")
    sub = subscribe(settings, receiver, "FLAKY", "/flaky")
    receiver.script["/flaky"] = [500, 500]
    delivery = webhooks.ping(settings, sub)
    deliverer = Deliverer(settings)
    deadline = time.monotonic() + 20
    while not deliverer.run_once().delivered:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    row = next(d for d in deliveries(settings) if d["id"] == delivery)
    assert row["status"] == "delivered" and row["attempts"] == 3 and row["last_status"] == 200
    log = row["attempt_log"]
    assert [a["status_code"] for a in log] == [500, 500, 200]
    assert [a["error"] for a in log] == ["HTTP 500", "HTTP 500", None]
    for attempt, wait in zip(log[:2], (0.3, 0.6), strict=True):  # each retry waited its backoff, ±20% jitter
        planned = dt.datetime.fromisoformat(attempt["next_attempt_at"]) - dt.datetime.fromisoformat(attempt["at"])
        assert wait * 0.8 - 0.001 <= planned.total_seconds() <= wait * 1.2 + 0.001
    sent = [m["at"] for m in receiver.got]
    assert sent[1] - sent[0] >= 0.3 * 0.8 and sent[2] - sent[1] >= 0.6 * 0.8
    assert len({m["headers"]["webhook-id"] for m in receiver.got}) == 1  # one message, retried


def test_410_gone_deactivates_the_subscription(hub: Settings, receiver: Receiver) -> None:
    agency(hub, "GONE")
    sub = subscribe(hub, receiver, "GONE", "/gone")
    receiver.script["/gone"] = [410]
    delivery = webhooks.ping(hub, sub)
    done = Deliverer(hub).run_once()
    assert done.cancelled == [delivery] and not done.failed
    (found,) = webhooks.list_subscriptions(hub, "GONE")
    assert not found.active and "410" in (found.deactivated_why or "")
    assert next(d for d in deliveries(hub) if d["id"] == delivery)["status"] == "cancelled"
    with pytest.raises(RegistryError, match="inactive"):
        webhooks.ping(hub, sub)


def test_a_receiver_that_keeps_failing_is_failed_after_the_last_attempt(
    hub: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LGSP_WEBHOOK_BACKOFF", "0.05,0.05")  # three attempts in all
    agency(hub, "BROKEN")
    sub = subscribe(hub, receiver, "BROKEN", "/broken")
    receiver.script["/broken"] = [503] * 10
    assert "Not delivered" in lgsp("webhooks", "test", sub, code=1)  # attempt 1
    time.sleep(0.1)
    assert "1 to retry" in lgsp("webhooks", "deliver")  # attempt 2: still to retry, exit 0
    time.sleep(0.1)
    out = lgsp("webhooks", "deliver", code=1)  # attempt 3, the last: failed for good, exit 1
    assert "1 failed" in out
    assert "0 delivered" in lgsp("webhooks", "deliver")  # nothing due: exit 0
    listed = lgsp("webhooks", "deliveries", "--failed")
    assert sub in listed and "failed" in listed and "HTTP 503" in listed
    (row,) = deliveries(hub, status="failed")
    assert row["attempts"] == 3 and [a["status_code"] for a in row["attempt_log"]] == [503, 503, 503]
    assert len(receiver.got) == 3


def test_a_consumer_without_a_grant_hears_nothing_of_a_dataset_that_is_not_open(
    hub: Settings, receiver: Receiver
) -> None:
    agency(hub, "GRANTED")
    agency(hub, "UNGRANTED")
    add_grant(hub, "GRANTED", "driving_licences", purpose="thủ tục hành chính", granted_by="sxd")
    subscribe(hub, receiver, "GRANTED", "/granted")
    subscribe(hub, receiver, "UNGRANTED", "/ungranted")
    with pytest.raises(RegistryError, match="may not read driving_licences"):
        webhooks.add_subscription(hub, "UNGRANTED", receiver.url + "/x", ["driving_licences"])
    pipeline = Pipeline(hub)
    assert pipeline.run("driving_licences").status == "published"
    Deliverer(hub).run_once()
    assert [m["path"] for m in receiver.got] == ["/granted"]
    (event,) = receiver.verified("/granted")
    assert event["type"] == "dataset.published" and event["data"]["dataset"] == "driving_licences"
    assert event["data"]["links"]["rows"].endswith("/api/share/v1/datasets/driving_licences/rows")
    assert "rows" not in event["data"] and "full_name" not in json.dumps(event)  # no count, no rows, no columns
    # The same rows published again: nothing to tell.
    assert pipeline.run("driving_licences").status == "published"
    assert Deliverer(hub).run_once().delivered == [] and len(receiver.got) == 1


def test_a_grant_revoked_before_sending_cancels_the_delivery(hub: Settings, receiver: Receiver) -> None:
    agency(hub, "SOON_REVOKED")
    grant = add_grant(hub, "SOON_REVOKED", "driving_licences", purpose="t", granted_by="sxd")
    subscribe(hub, receiver, "SOON_REVOKED", "/revoked")
    assert Pipeline(hub).run("driving_licences").status == "published"
    revoke_grant(hub, grant.id)
    done = Deliverer(hub).run_once()
    assert len(done.cancelled) == 1 and not receiver.got
    assert "no longer permitted" in deliveries(hub)[0]["last_error"]


def test_a_tampered_payload_or_a_wrong_secret_fails_verification(hub: Settings, receiver: Receiver) -> None:
    agency(hub, "CAREFUL")
    sub = subscribe(hub, receiver, "CAREFUL", "/careful")
    webhooks.ping(hub, sub)
    Deliverer(hub).run_once()
    (message,) = receiver.got
    verifier = Webhook(receiver.secrets["/careful"])
    assert verifier.verify(message["body"], message["headers"])["type"] == "webhook.ping"
    tampered = message["body"].replace(b"webhook.ping", b"webhook.pong")
    with pytest.raises(WebhookVerificationError):
        verifier.verify(tampered, message["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(message["body"], message["headers"])
    with pytest.raises(WebhookVerificationError):
        verifier.verify(message["body"], {**message["headers"], "webhook-id": "msg_other"})


def test_two_deliverers_racing_send_each_event_once(hub: Settings, receiver: Receiver) -> None:
    receiver.delay = 0.01
    subs = []
    for n in range(4):
        agency(hub, f"RACE_{n}")
        subs.append(subscribe(hub, receiver, f"RACE_{n}", f"/race/{n}"))
    made = [webhooks.ping(hub, sub) for sub in subs for _ in range(6)]
    passes: list[Any] = []

    def deliver() -> None:
        deliverer = Deliverer(hub)
        try:
            passes.append(deliverer.run_once())
        finally:
            deliverer.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    sent = [m["headers"]["webhook-id"] for m in receiver.got]
    assert len(sent) == len(made) == len(set(sent))  # every event sent, none twice
    assert sorted(passes[0].delivered + passes[1].delivered) == sorted(made)
    assert all(p.delivered for p in passes)  # both took part
    assert all(d["status"] == "delivered" and d["attempts"] == 1 for d in deliveries(hub))


def test_the_consumer_manages_its_own_subscriptions_and_lgsp_serve_delivers(hub: Settings, receiver: Receiver) -> None:
    settings = hub.model_copy(update={"webhook_poll": 0.1})
    agency(settings, "SELF_SERVE")
    agency(settings, "NEIGHBOUR")
    key = consumers.issue_key(settings, "SELF_SERVE")
    other = consumers.issue_key(settings, "NEIGHBOUR")
    for url, served in serve(settings):
        loop = served.state.webhooks
        with httpx.Client(base_url=url, timeout=30) as http:
            assert http.get("/api/share/v1/webhooks").status_code == 401
            bad = http.post("/api/share/v1/webhooks", json={"url": "ftp://x"}, headers={"X-API-Key": key})
            assert bad.status_code == 400 and bad.json()["error"]["field"] == "url"
            refused = http.post("/api/share/v1/webhooks", headers={"X-API-Key": key},
                                json={"url": receiver.url + "/self", "datasets": ["driving_licences"]})  # fmt: skip
            assert refused.status_code == 400
            empty = http.post(
                "/api/share/v1/webhooks", json={"url": receiver.url, "datasets": []}, headers={"X-API-Key": key}
            )
            assert empty.status_code == 400 and empty.json()["error"]["field"] == "datasets"
            made = http.post("/api/share/v1/webhooks", json={"url": receiver.url + "/self"}, headers={"X-API-Key": key})
            assert made.status_code == 201 and made.json()["secret"].startswith("whsec_")
            sub = made.json()["webhook"]["id"]
            receiver.secrets["/self"] = made.json()["secret"]
            listed = http.get("/api/share/v1/webhooks", headers={"X-API-Key": key}).json()["webhooks"]
            assert [s["id"] for s in listed] == [sub] and "secret" not in listed[0]
            assert http.get("/api/share/v1/webhooks", headers={"X-API-Key": other}).json()["webhooks"] == []
            assert http.delete(f"/api/share/v1/webhooks/{sub}", headers={"X-API-Key": other}).status_code == 404

            webhooks.ping(settings, sub)  # the server's own loop sends it
            deadline = time.monotonic() + 10
            while not receiver.verified("/self"):
                assert time.monotonic() < deadline, "lgsp serve did not deliver"
                time.sleep(0.05)
            assert http.delete(f"/api/share/v1/webhooks/{sub}", headers={"X-API-Key": key}).status_code == 204
            (gone,) = webhooks.list_subscriptions(settings, "SELF_SERVE")
            assert not gone.active
    assert loop._thread is None  # the server's shutdown stopped its delivery loop


def test_the_cli_shows_the_secret_once_and_keeps_the_registry_private(hub: Settings, receiver: Receiver) -> None:
    old = os.umask(0o022)  # a process that never called keep_private
    try:
        agency(hub, "CLI_AGENCY")
        out = lgsp("webhooks", "add", "CLI_AGENCY", receiver.url + "/cli", "--dataset", "schools")
    finally:
        os.umask(old)
    secret = re.search(r"whsec_\S+", out).group(0)  # type: ignore[union-attr]
    sub = re.search(r"wh_[0-9a-f]{12}", out).group(0)  # type: ignore[union-attr]
    assert stat.S_IMODE(registry.registry_path(hub).stat().st_mode) == 0o600
    listed = lgsp("webhooks", "list")
    assert sub in listed and secret not in listed and "schools" in listed
    receiver.secrets["/cli"] = secret
    assert "Delivered" in lgsp("webhooks", "test", sub)
    assert receiver.verified("/cli")[0]["type"] == "webhook.ping"
    assert "Removed" in lgsp("webhooks", "remove", sub)
    assert "inactive" in lgsp("webhooks", "list")
    assert "no webhook subscription" in lgsp("webhooks", "remove", "wh_nothere", code=1)
    assert "http:// or https://" in lgsp("webhooks", "add", "CLI_AGENCY", "file:///etc/passwd", code=1)


def test_a_broken_registry_never_fails_a_publication(hub: Settings) -> None:
    agency(hub, "ANYONE")
    webhooks.add_subscription(hub, "ANYONE", "http://127.0.0.1:9/never")
    path = registry.registry_path(hub)
    for part in path.parent.glob(path.name + "*"):
        part.unlink()
    path.write_bytes(b"this is not a database" * 100)  # every registry query now raises
    pipeline = Pipeline(hub)
    run = pipeline.run("schools")
    assert run.status == "published" and run.release == 1
    assert pipeline.run("driving_licences").status == "published"


def test_a_claim_left_by_a_deliverer_that_died_is_taken_over_after_its_lease(hub: Settings, receiver: Receiver) -> None:
    agency(hub, "ORPHANED")
    sub = subscribe(hub, receiver, "ORPHANED", "/orphaned")
    delivery = webhooks.ping(hub, sub)
    with registry.transaction(hub) as con:  # as a deliverer killed while sending leaves it
        registry.run(
            con, "UPDATE webhook_deliveries SET status = 'sending', claim = 'dead', claimed_until = :until WHERE id = :id",
            until=webhooks.moment(registry.now() + dt.timedelta(minutes=1)), id=delivery,
        )  # fmt: skip
    assert Deliverer(hub).run_once().delivered == []  # its lease still runs: left alone
    with registry.transaction(hub) as con:
        registry.run(con, "UPDATE webhook_deliveries SET claimed_until = :until WHERE id = :id",
                     until=webhooks.moment(registry.now() - dt.timedelta(seconds=1)), id=delivery)  # fmt: skip
    assert Deliverer(hub).run_once().delivered == [delivery]
    assert len(receiver.verified("/orphaned")) == 1


def test_receivers_inside_the_hubs_own_networks_are_refused(hub: Settings, receiver: Receiver) -> None:
    """Server-side request forgery: a consumer may not point the hub at loopback, private or
    link-local addresses (its database, a metadata service) unless $LGSP_WEBHOOK_NETWORKS lists them."""
    listed = quick(hub, 0.01)
    closed = listed.model_copy(update={"webhook_networks": ()})
    agency(closed, "PROBE")
    for url in ("http://127.0.0.1:5432/", "http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/hook",
                "http://[::1]:8000/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/",
                # the same addresses written as the C library also reads them, or inside IPv6
                "http://2130706433/", "http://0177.0.0.1/", "http://127.1/", "http://0x7f.1/",
                "http://[64:ff9b::a00:1]/", "http://[2002:7f00:1::]/", "http://[::127.0.0.1]/", "http://192.0.0.8/"):  # fmt: skip
        with pytest.raises(RegistryError, match="non-public address"):
            webhooks.add_subscription(closed, "PROBE", url)
    with pytest.raises(RegistryError, match="url"):
        webhooks.add_subscription(closed, "PROBE", "http://example.gov.vn:99999/")  # no such port
    # A name is judged when a delivery is sent: `localhost` resolves to loopback, so nothing leaves.
    sub, secret = webhooks.add_subscription(closed, "PROBE", receiver.url.replace("127.0.0.1", "localhost") + "/named")
    receiver.secrets["/named"] = secret
    delivery = webhooks.ping(closed, sub.id)
    done = Deliverer(closed).run_once()
    assert not done.delivered and not receiver.got
    [row] = [d for d in deliveries(closed) if d["id"] == delivery]
    assert row["status"] == "pending" and "localhost is the non-public address" in row["last_error"]
    # Once the province lists the network, the retry reaches the same receiver.
    time.sleep(0.05)
    assert Deliverer(listed).run_once().delivered == [delivery]
    assert [m["type"] for m in receiver.verified("/named")] == ["webhook.ping"]


def test_a_delivery_connects_to_the_address_that_was_judged(hub: Settings) -> None:
    """DNS rebinding: the name is resolved once, judged, and the connection goes to that address
    with the original Host header and TLS server name; an address written in the URL is used as is."""
    from lgsp.sharing.receivers import Refused, Target, pinned

    targets = pinned(hub, "https://localhost:8443/hook?x=1")  # ::1 as well where the hosts file says so
    assert (
        Target("https://127.0.0.1:8443/hook?x=1", {"host": "localhost:8443"}, {"sni_hostname": "localhost"}) in targets
    )
    assert all(
        t.headers == {"host": "localhost:8443"} and t.extensions == {"sni_hostname": "localhost"} for t in targets
    )
    assert pinned(hub, "http://127.0.0.1:9/") == [Target("http://127.0.0.1:9/")]
    with pytest.raises(Refused, match="non-public address"):
        pinned(hub.model_copy(update={"webhook_networks": ()}), "http://localhost/")


def test_a_receiver_that_hangs_holds_up_no_other(hub: Settings, receiver: Receiver) -> None:
    """Deliveries go out several at a time: one to a receiver that does not answer does not keep
    the next one, to another receiver, waiting for the timeout."""
    agency(hub, "SLOWPOKE")
    slow, fast = subscribe(hub, receiver, "SLOWPOKE", "/slow"), subscribe(hub, receiver, "SLOWPOKE", "/fast")
    receiver.gates["/slow"] = gate = threading.Event()
    first, second = webhooks.ping(hub, slow), webhooks.ping(hub, fast)  # the hanging one is due first
    passes: list[Any] = []
    runner = threading.Thread(target=lambda: passes.append(Deliverer(hub).run_once()))
    runner.start()
    try:
        deadline = time.monotonic() + hub.webhook_timeout / 2  # well before the hanging one would time out
        while not receiver.verified("/fast") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert receiver.verified("/fast") and not receiver.verified("/slow"), (
            "the fast receiver waited for the slow one"
        )
    finally:
        gate.set()
        runner.join(timeout=60)
    assert passes and passes[0].delivered == sorted([first, second])
