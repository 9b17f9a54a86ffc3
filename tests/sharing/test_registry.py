"""The sharing registry on both of its backends, SQLite (the embedded default) and a real
PostgreSQL (the cluster profile): consumers and their credentials, grants and the servers' caches,
access requests answered twice at once, staff logins and sessions, two deliverers over one
outbox; and an old SQLite registry, made by the SQLite-only versions, adopted without losing a row."""

from __future__ import annotations

import sqlite3
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from lgsp.core.errors import ConfigError
from lgsp.core.settings import Settings
from lgsp.sharing import consumers, registry, staff, webhooks
from lgsp.sharing.consumers import Authenticator, Caller
from lgsp.sharing.deliveries import Deliverer, deliveries
from lgsp.sharing.errors import RegistryError
from lgsp.sharing.grants import Grants, add_grant, list_grants, revoke_grant
from lgsp.sharing.requests import add_request, approve, list_requests, refuse
from tests.conftest import CONTRACTS
from tests.sharing.test_webhooks import Receiver, receiver, subscribe  # noqa: F401 - the receiver fixture


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """A hub home whose registry is the default SQLite file, or a fresh PostgreSQL database."""
    extra: dict[str, Any] = {}
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        extra = {"profile": "cluster", "state_url": server.create_database(f"registry_{uuid.uuid4().hex[:12]}")}
    settings = Settings(home=tmp_path / "home", contracts_dir=CONTRACTS, webhook_networks=["127.0.0.0/8"], **extra)
    yield settings
    registry.dispose(settings)


def test_keys_rotate_and_revoke_at_once_and_tokens_follow_their_client(state: Settings) -> None:
    consumers.add_consumer(state, "TTPVHCC", "Trung tâm Phục vụ hành chính công", "a@example.gov.vn", "provincial")
    with pytest.raises(RegistryError, match="already registered"):
        consumers.add_consumer(state, "TTPVHCC", "again", "b@example.gov.vn")
    auth = Authenticator(state)
    first = consumers.issue_key(state, "TTPVHCC")
    key_id = first.split(".")[0].removeprefix("lgsp_")
    assert auth.api_key(first) == Caller("TTPVHCC", key_id)
    second = consumers.issue_key(state, "TTPVHCC", replace=True)
    assert auth.api_key(first) is None and auth.api_key(second) is not None  # the very next request
    client_id, secret = consumers.issue_client(state, "TTPVHCC")
    assert consumers.issue_token(state, client_id, "wrong") is None
    issued = consumers.issue_token(state, client_id, secret)
    assert issued is not None and auth.bearer(issued[0]) == Caller("TTPVHCC", client_id)
    [listed] = consumers.list_consumers(state)
    assert listed["keys"] == [second.split(".")[0].removeprefix("lgsp_")] and listed["clients"] == [client_id]
    assert consumers.revoke(state, "TTPVHCC") == "consumer TTPVHCC"
    assert auth.api_key(second) is None and auth.bearer(issued[0]) is None


def test_a_grant_replaced_or_revoked_is_seen_by_the_servers_cache_at_once(state: Settings) -> None:
    consumers.add_consumer(state, "TTPVHCC", "Trung tâm", "a@example.gov.vn", "provincial")
    auth = Authenticator(state)
    grants = Grants(state, auth.query)
    auth.on_change(grants.forget)
    contract = grants.contracts()["schools"]
    auth.fresh()
    assert grants.decision("TTPVHCC", contract) is None  # deny by default
    first = add_grant(state, "TTPVHCC", "schools", purpose="tra cứu", granted_by="sgddt")
    auth.fresh()
    assert grants.decision("TTPVHCC", contract) is not None
    second = add_grant(state, "TTPVHCC", "schools", purpose="tra cứu lại", granted_by="sgddt")
    assert second.id > first.id and [g.id for g in list_grants(state)] == [second.id]  # one grant a dataset
    revoke_grant(state, second.id)
    auth.fresh()
    assert grants.decision("TTPVHCC", contract) is None
    assert len(list_grants(state, include_inactive=True)) == 2


def test_two_answers_to_one_request_at_once_make_one_grant_or_none(state: Settings) -> None:
    consumers.add_consumer(state, "CA_TINH", "Công an tỉnh", "ca@example.gov.vn", "provincial")
    outcomes: list[str] = []
    for round_ in range(3):
        request = add_request(state, "CA_TINH", "schools", f"đối chiếu {round_}")
        start = threading.Barrier(3)

        def answer(how: str, request_id: int = request.id, start: threading.Barrier = start) -> None:
            start.wait()
            try:
                if how == "refuse":
                    refuse(state, request_id, "sgddt", "không đủ căn cứ")
                else:
                    approve(state, request_id, "sgddt")
                outcomes.append(how)
            except RegistryError:
                outcomes.append("refused again")

        threads = [threading.Thread(target=answer, args=(how,)) for how in ("approve", "approve", "refuse")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert outcomes.count("refused again") == 6  # of three answers to each request, one counted
    answered = list_requests(state)
    assert len(answered) == 3 and all(r.status in ("approved", "refused") for r in answered)
    approved = [r for r in answered if r.status == "approved"]
    active = [g for g in list_grants(state, include_inactive=True) if g.dataset == "schools"]
    assert sorted(g.id for g in active) == sorted(r.grant_id for r in approved)  # one grant per approval


def test_staff_log_in_are_locked_out_and_lose_their_sessions(state: Settings) -> None:
    password = staff.add_staff(state, "sgddt", "SGDDT")
    found = staff.login(state, "sgddt", password, "10.0.0.7")
    assert found is not None and found.department == "SGDDT"
    assert staff.current_staff(state, "sgddt", found.session_version) == found
    for _ in range(staff.LOCKOUT_FAILURES):
        assert staff.login(state, "sgddt", "wrong", "10.0.0.8") is None
    with pytest.raises(staff.LockedOut):
        staff.login(state, "sgddt", password, "10.0.0.8")
    assert staff.login(state, "sgddt", password, "10.0.0.7") is not None  # another address is untouched
    staff.disable_staff(state, "sgddt")
    assert staff.current_staff(state, "sgddt", found.session_version) is None
    assert staff.login(state, "sgddt", password, "10.0.0.7") is None and staff.list_staff(state) == []
    again = staff.add_staff(state, "sgddt", "SXD")  # enabled again, in another department
    [listed] = staff.list_staff(state)
    assert listed.department == "SXD" and listed.session_version == found.session_version + 2
    assert staff.login(state, "sgddt", again, "10.0.0.7") == listed


def test_two_deliverers_send_each_delivery_once(state: Settings, receiver: Receiver) -> None:  # noqa: F811
    receiver.delay = 0.01
    subs = []
    for n in range(3):
        consumers.add_consumer(state, f"RACE_{n}", f"Agency {n}", f"race{n}@example.gov.vn")
        subs.append(subscribe(state, receiver, f"RACE_{n}", f"/race/{n}"))
    made = [webhooks.ping(state, sub) for sub in subs for _ in range(8)]
    passes: list[Any] = []

    def deliver() -> None:
        deliverer = Deliverer(state)
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
    assert len(sent) == len(made) == len(set(sent))  # every delivery sent, none twice
    assert sorted(passes[0].delivered + passes[1].delivered) == sorted(made)
    assert all(d["status"] == "delivered" and d["attempts"] == 1 for d in deliveries(state))
    assert webhooks.queue(state, webhooks.PING, "ping:once", None, {}) != []
    assert webhooks.queue(state, webhooks.PING, "ping:once", None, {}) == []  # an event is queued once


# The registry as the SQLite-only versions made it (their SCHEMA text), before the columns they
# added later (staff.session_version and disabled_at, login_failures.address).
OLD_SCHEMA = """
CREATE TABLE consumers (code TEXT PRIMARY KEY, name TEXT NOT NULL, contact TEXT NOT NULL, kind TEXT NOT NULL,
    created_at TEXT NOT NULL, revoked_at TEXT);
CREATE TABLE api_keys (key_id TEXT PRIMARY KEY, consumer TEXT NOT NULL REFERENCES consumers(code), hash TEXT NOT NULL,
    created_at TEXT NOT NULL, revoked_at TEXT);
CREATE TABLE clients (client_id TEXT PRIMARY KEY, consumer TEXT NOT NULL REFERENCES consumers(code),
    hash TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT);
CREATE TABLE tokens (token_hash TEXT PRIMARY KEY, client_id TEXT NOT NULL REFERENCES clients(client_id),
    consumer TEXT NOT NULL, expires_at TEXT NOT NULL);
CREATE TABLE grants (id INTEGER PRIMARY KEY AUTOINCREMENT, consumer TEXT NOT NULL REFERENCES consumers(code),
    dataset TEXT NOT NULL, columns TEXT, row_filter TEXT NOT NULL, purpose TEXT NOT NULL, expires_at TEXT,
    granted_by TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT);
CREATE TABLE access_requests (id INTEGER PRIMARY KEY AUTOINCREMENT, consumer TEXT NOT NULL REFERENCES consumers(code),
    dataset TEXT NOT NULL, purpose TEXT NOT NULL, columns TEXT, requested_at TEXT NOT NULL, due_on TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', answered_at TEXT, answered_by TEXT, reason TEXT, grant_id INTEGER);
CREATE TABLE staff (username TEXT PRIMARY KEY, department TEXT NOT NULL, hash TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE hub_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE login_failures (username TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX login_failures_by_user ON login_failures (username, at);
"""


def test_an_old_sqlite_registry_is_adopted_without_losing_a_row(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", contracts_dir=CONTRACTS)
    path = registry.registry_path(settings)
    path.parent.mkdir(parents=True)
    key = "lgsp_k0123456789ab." + "s" * 32
    with sqlite3.connect(path) as old:
        old.executescript(OLD_SCHEMA)
        old.execute("INSERT INTO consumers VALUES ('TTPVHCC', 'Trung tâm', 'a@example.gov.vn', 'provincial', "
                    "'2026-01-05T08:00:00+00:00', NULL)")  # fmt: skip
        old.execute("INSERT INTO api_keys VALUES ('k0123456789ab', 'TTPVHCC', ?, '2026-01-05T08:00:00+00:00', NULL)",
                    [consumers.hash_secret("s" * 32)])  # fmt: skip
        old.execute("INSERT INTO grants VALUES (7, 'TTPVHCC', 'schools', NULL, '{}', 'tra cứu', NULL, 'sgddt', "
                    "'2026-01-05T08:00:00+00:00', NULL)")  # fmt: skip
        old.execute("INSERT INTO staff VALUES ('sgddt', 'SGDDT', ?, '2026-01-05T08:00:00+00:00')",
                    [consumers.hash_secret("mật-khẩu-cũ")])  # fmt: skip
        old.execute("INSERT INTO login_failures VALUES ('sgddt', '2026-01-05T08:00:00+00:00')")
        old.execute("INSERT INTO hub_secrets VALUES ('session', 'the-old-key')")
    path.chmod(0o644)
    assert Authenticator(settings).api_key(key) == Caller("TTPVHCC", "k0123456789ab")  # the first use adopts it
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [g.id for g in list_grants(settings)] == [7]
    newer = add_grant(settings, "TTPVHCC", "schools", purpose="tra cứu lại", granted_by="sgddt")
    assert newer.id == 8  # ids go on from the old ones
    found = staff.login(settings, "sgddt", "mật-khẩu-cũ", "10.0.0.7")
    assert found is not None and found.session_version == 1  # the added column, with its default
    assert registry.hub_secret(settings, "session") == "the-old-key"
    with registry.connect(settings) as con:
        assert registry.value(con, "SELECT version_num FROM alembic_version") == "0004"
        assert registry.value(con, "SELECT count(*) FROM login_failures WHERE address = ''") == 1
    registry.dispose(settings)
    assert registry.upgrade(registry.engine(settings)) == "0004"  # once more: nothing to do


def test_the_cluster_profile_needs_a_state_url_given_privately(tmp_path: Path) -> None:
    env = {"LGSP_HOME": str(tmp_path), "LGSP_PROFILE": "cluster"}
    with pytest.raises(ConfigError, match=r"^LGSP_PROFILE=cluster cần LGSP_STATE_URL.* / LGSP_PROFILE=cluster needs"):
        Settings.from_env(env)
    url_file = tmp_path / "state-url"
    url_file.write_text("postgresql+psycopg2://lgsp:hemmelig@db.example/lgsp\n")
    url_file.chmod(0o644)
    with pytest.raises(ConfigError, match="can be read by other users"):
        Settings.from_env({**env, "LGSP_STATE_URL_FILE": str(url_file)})
    url_file.chmod(0o600)
    settings = Settings.from_env({**env, "LGSP_STATE_URL_FILE": str(url_file)})
    assert settings.registry_url == "postgresql+psycopg2://lgsp:hemmelig@db.example/lgsp"
    assert "hemmelig" not in repr(settings)
    embedded = Settings.from_env({"LGSP_HOME": str(tmp_path)})
    assert embedded.profile == "embedded" and embedded.registry_url == f"sqlite:///{tmp_path}/sharing/registry.sqlite"


@pytest.mark.postgres
def test_lgsp_serve_with_its_registry_in_postgresql_acts_on_a_rotation_at_once(
    published: Settings, postgres: Any
) -> None:
    """The sharing API of `lgsp serve` in the cluster profile: many requests at once (server threads
    share the pool), then a rotated key and a revoked grant are refused on the very next request."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from pydantic import SecretStr

    from tests.conftest import serve

    url = postgres.create_database(f"served_{uuid.uuid4().hex[:12]}")
    settings = published.model_copy(update={"profile": "cluster", "state_url": SecretStr(url)})
    consumers.add_consumer(settings, "TTPVHCC", "Trung tâm", "a@example.gov.vn", "provincial")
    grant = add_grant(settings, "TTPVHCC", "schools", purpose="tra cứu", granted_by="sgddt")
    key = consumers.issue_key(settings, "TTPVHCC")
    rows = "/api/share/v1/datasets/schools/rows"
    try:
        for base, _ in serve(settings):
            with httpx.Client(base_url=base, timeout=30, headers={"X-API-Key": key}) as http:
                with ThreadPoolExecutor(16) as pool:
                    answers = list(pool.map(lambda _: http.get(rows, params={"limit": 5}).status_code, range(64)))
                assert answers == [200] * 64
                newer = consumers.issue_key(settings, "TTPVHCC", replace=True)
                assert http.get(rows).status_code == 401
                assert http.get(rows, headers={"X-API-Key": newer}).status_code == 200
                revoke_grant(settings, grant.id)
                refused = http.get(rows, headers={"X-API-Key": newer})
                assert refused.status_code == 403 and refused.json()["reason"] == "no_grant"
    finally:
        registry.dispose(settings)


def test_the_change_marker_has_room_for_years_of_writes(state: Settings) -> None:
    """Every write bumps registry_version (each token issued, each webhook event): it is a 64-bit
    integer on every backend, migrated so on a registry made with 32 bits."""
    consumers.add_consumer(state, "TTPVHCC", "Trung tâm Phục vụ hành chính công", "a@example.gov.vn", "provincial")
    with registry.transaction(state) as con:
        con.execute(text("UPDATE registry_version SET version = :big"), {"big": 2**31 + 5})
    consumers.add_consumer(state, "STTTT", "Sở Thông tin", "b@example.gov.vn", "provincial")  # bumps past 2**31
    with registry.transaction(state) as con:
        assert con.execute(text("SELECT version FROM registry_version")).scalar_one() > 2**31 + 5
