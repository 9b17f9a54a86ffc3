"""The exchange log cannot be stopped by a request, and nothing is served that it cannot record.

Issue 14, point 1: a lone UTF-16 surrogate in `filters` used to kill the log's writer thread, after
which the API served unlogged and `lgsp audit verify` still said intact.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lgsp.sharing import consumers
from lgsp.sharing.audit import verify
from lgsp.sharing.exchange_log import ExchangeLog, entries, log_paths
from lgsp.sharing.grants import add_grant
from tests.sharing.conftest import Hub

ROWS = "/api/share/v1/datasets/driving_licences/rows"


@pytest.fixture(scope="module")
def agency(live: Hub) -> Iterator[dict[str, Any]]:
    settings = live.settings
    consumers.add_consumer(settings, "TTPVHCC", "Trung tâm Phục vụ hành chính công", "a@example.gov.vn", "provincial")
    add_grant(settings, "TTPVHCC", "driving_licences", purpose="thủ tục hành chính", granted_by="sxd")
    with httpx.Client(
        base_url=live.url, timeout=30, headers={"X-API-Key": consumers.issue_key(settings, "TTPVHCC")}
    ) as http:
        yield {"http": http, "live": live, "log": live.app.state.sharing.log}


@pytest.mark.parametrize(
    "filters",
    [
        '{"commune_code": "\\ud800"}',  # a lone high surrogate, as JSON escapes it
        '{"commune_code": ["\\udfff", "19333"]}',
        '{"\\ud83d": "x"}',  # in a key
        '{"commune_code": "' + "\\ud800" * 2000 + '"}',
    ],
)
def test_text_that_is_not_unicode_is_logged_escaped_and_the_log_goes_on(agency: dict[str, Any], filters: str) -> None:
    http, live = agency["http"], agency["live"]
    answered = http.get(ROWS, params={"filters": filters, "limit": 1})
    assert answered.status_code < 500, answered.text
    after = http.get(ROWS, params={"limit": 1})
    assert after.status_code == 200  # the API still serves, because the log still writes
    logged = live.logged()
    assert verify(live.settings.sharing_dir).ok
    odd, last = logged[-2], logged[-1]
    assert "\\ud" in json.dumps(odd["filters"]) or "\\\\ud" in json.dumps(odd)  # kept as its escape
    assert last["outcome"] == "data" and last["seq"] == odd["seq"] + 1


def test_a_log_that_cannot_be_written_stops_the_api_until_it_can(
    agency: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills up (writes to the log fail with ENOSPC, from /dev/full): the request under
    way is not answered, since its entry could not be stored (503, and an entry saying its answer
    was withheld); every later one is refused with 503 and a Retry-After; once writing works again
    the API serves, and every request of the outage, refused ones included, is in the chain, which
    verifies."""
    from lgsp.sharing import api

    monkeypatch.setattr(api, "LOG_WAIT", 3.0)
    http, live, log = agency["http"], agency["live"], agency["log"]
    before = len(live.logged())
    full = os.open("/dev/full", os.O_WRONLY)
    saved = os.dup(log._log)
    os.dup2(full, log._log)  # the log's own descriptor now writes to a full disk
    try:
        first = http.get(ROWS, params={"limit": 1})  # its entry cannot be stored: withheld
        assert first.status_code == 503 and "no data was sent" in first.json()["error"]["message"]
        assert not log.flush(timeout=2) and not log.healthy
        began = time.monotonic()
        refused = [http.get(ROWS, params={"limit": 1}) for _ in range(3)]
        assert {r.status_code for r in refused} == {503}
        unknown = http.get("/api/share/v1/no-such-path")  # a refusal the exception handler logs
        assert unknown.status_code == 503 and time.monotonic() - began < 2  # refusals wait for nothing
        body = refused[0].json()
        assert body["result"] == "error" and body["error"]["code"] == "log_unavailable"
        assert "No space left" in body["error"]["message"] and refused[0].headers["retry-after"] == "5"
        assert http.get("/api/share/v1/datasets").status_code == 503  # every operation, not only rows
    finally:
        os.dup2(saved, log._log)  # space again
        os.close(full)
        os.close(saved)
    assert log.flush(timeout=10) and log.healthy
    assert http.get(ROWS, params={"limit": 1}).status_code == 200
    logged = live.logged()
    assert verify(live.settings.sharing_dir).ok
    outcomes = [e["outcome"] for e in logged[before:]]
    assert outcomes[:2] == ["data", "withheld"]  # what would have been answered, and that it was not
    assert logged[before + 1]["answer_at"] == logged[before]["at"] and logged[before + 1]["status"] == 503
    assert outcomes.count("log_unavailable") == 5 and outcomes[-1] == "data"
    assert [e["seq"] for e in logged] == list(range(1, len(logged) + 1))


def test_the_writer_survives_anything_a_caller_can_put_in_an_entry(tmp_path: Any) -> None:
    log = ExchangeLog(tmp_path)
    odd: list[Any] = [b"bytes", {1: "int key"}, 2**70, float("nan"), object(), "\ud800", {"\udfff": ["\ud83d"]}]
    for value in odd:
        log.append({"operation": "rows", "filters": value})
    log.append({"operation": "rows", "filters": {"commune_code": "19333"}})
    assert log.flush() and log.healthy
    log.close()
    written = list(entries(tmp_path))
    assert len(written) == len(odd) + 1 and verify(tmp_path).ok
    assert written[-1]["filters"] == {"commune_code": "19333"}
    assert log_paths(tmp_path)[0].read_bytes().decode("utf-8")  # the file is valid UTF-8 throughout


def test_requests_the_router_refuses_are_logged_too(agency: dict[str, Any]) -> None:
    """Issue 14, point 8: no such path, a wrong method and a malformed Basic header on /token
    reached the sharing prefix without a log entry."""
    http, live = agency["http"], agency["live"]
    before = len(live.logged())
    missing = http.get("/api/share/v1/no-such-endpoint")
    wrong_method = http.delete("/api/share/v1/datasets")
    bad_basic = httpx.post(f"{live.url}/api/share/v1/token", headers={"Authorization": "Basic !!!not-base64"})
    assert (missing.status_code, wrong_method.status_code, bad_basic.status_code) == (404, 405, 401)
    for answer, code in ((missing, "not_found"), (wrong_method, "method_not_allowed"), (bad_basic, "unauthenticated")):
        assert answer.headers["lgsp-result"] == "error" and answer.json()["error"]["code"] == code
    logged = live.logged()[before:]
    assert [(e["operation"], e["outcome"], e["status"]) for e in logged] == [
        ("no-such-endpoint", "not_found", 404),
        ("datasets", "method_not_allowed", 405),
        ("token", "unauthenticated", 401),
    ]
    assert verify(live.settings.sharing_dir).ok
    assert httpx.get(f"{live.url}/no-such-page").status_code == 404  # outside the sharing API: as before


def test_deeply_nested_filters_are_a_bad_request(agency: dict[str, Any]) -> None:
    """Issue 14, point 9: JSON nested deeper than Python parses was a 500."""
    nested = "[" * 5_000 + "]" * 5_000  # deeper than Python's recursion limit
    answer = agency["http"].get(ROWS, params={"filters": '{"commune_code": ' + nested + "}"})
    assert answer.status_code == 400 and answer.json()["error"]["field"] == "filters"


def test_cursors_are_signed_and_bound_to_the_grant(agency: dict[str, Any]) -> None:
    """Issue 14, point 6: a cursor was base64 JSON anyone could write, to start a page at any key."""
    import base64

    http, live = agency["http"], agency["live"]
    first = http.get(ROWS, params={"limit": 2}).json()
    second = http.get(ROWS, params={"limit": 2, "after": first["next"]})
    assert second.status_code == 200 and second.json()["rows"][0] != first["rows"][0]
    payload, _, mac = first["next"].rpartition(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded["k"] = ["000000000000"]  # a key of the caller's choosing
    forged = base64.urlsafe_b64encode(json.dumps(decoded).encode()).decode().rstrip("=")
    for cursor in (f"{forged}.{mac}", forged, payload, f"{payload}.{mac[:-1]}{'B' if mac.endswith('A') else 'A'}"):
        refused = http.get(ROWS, params={"limit": 2, "after": cursor})
        assert refused.status_code == 400 and refused.json()["error"]["field"] == "after", cursor
    # under another grant (the same consumer, the grant replaced), yesterday's cursor opens nothing
    add_grant(live.settings, "TTPVHCC", "driving_licences", purpose="thủ tục khác", granted_by="sxd")
    stale = http.get(ROWS, params={"limit": 2, "after": first["next"]})
    assert stale.status_code == 400 and "for this grant" in stale.json()["error"]["message"]


class _CountingCursor:
    """A DuckDB cursor that counts the statements a request runs on it."""

    def __init__(self, cursor: Any) -> None:
        self._cursor, self.statements = cursor, 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        self.statements += 1
        return self._cursor.execute(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def test_a_record_outside_the_grant_costs_the_same_whether_or_not_it_exists(
    agency: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14, point 6: a key outside a limited grant that exists ran one more query than one
    that does not, so the time of a `not_permitted` answer told whether the record exists."""
    from contextlib import contextmanager

    from lgsp.warehouse.store import Warehouse

    live = agency["live"]
    settings = live.settings
    with Warehouse(settings).reader() as con:
        commune, outside = con.execute(
            "SELECT a.commune_code, b.licence_no FROM main.driving_licences a, main.driving_licences b "
            "WHERE a.commune_code <> b.commune_code LIMIT 1"
        ).fetchone()
    consumers.add_consumer(settings, "UBND_Y", "UBND phường Y", "y@example.gov.vn", "commune")
    add_grant(
        settings, "UBND_Y", "driving_licences", purpose="x", granted_by="sxd", row_filter={"commune_code": [commune]}
    )
    key = consumers.issue_key(settings, "UBND_Y")
    snapshots = live.app.state.sharing.snapshots
    real, counts = snapshots.reading, []

    @contextmanager
    def counting() -> Iterator[Any]:
        with real() as cur:
            counted = _CountingCursor(cur)
            yield counted
            counts.append(counted.statements)

    monkeypatch.setattr(snapshots, "reading", counting)
    answers = [
        httpx.get(f"{live.url}/api/share/v1/datasets/driving_licences/records/{k}", headers={"X-API-Key": key})
        for k in (outside, "NO-SUCH-LICENCE")
    ]
    assert [a.status_code for a in answers] == [403, 403] and answers[0].json() == answers[1].json()
    assert counts == [2, 2]  # the same statements for an existing record and a missing one


def test_a_failed_checkpoint_neither_repeats_entries_nor_serves_unsigned(tmp_path: Any) -> None:
    """Review of issue 14: a checkpoint that could not be written made the writer append its
    batch again (the same entries under new numbers), and the log still verified."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    log = ExchangeLog(tmp_path, key)
    log.append({"operation": "rows", "n": 0})
    assert log.flush()
    full, saved = os.open("/dev/full", os.O_WRONLY), os.dup(log._checkpoints)  # type: ignore[arg-type]
    os.dup2(full, log._checkpoints)  # type: ignore[arg-type]
    try:
        for n in range(1, 4):
            log.append({"operation": "rows", "n": n})
        assert not log.flush(timeout=3) and not log.healthy  # refused until it can sign again
    finally:
        os.dup2(saved, log._checkpoints)  # type: ignore[arg-type]
        os.close(full)
        os.close(saved)
    assert log.flush(timeout=10) and log.healthy
    log.close()
    assert [e["n"] for e in entries(tmp_path)] == [0, 1, 2, 3]  # each once, in order
    assert verify(tmp_path, key=key.public_key()).ok


def test_a_crash_between_the_log_and_its_head_does_not_break_the_chain(tmp_path: Any) -> None:
    """The head written after the lines is lost (or a line is cut short) when the process dies
    between the writes: the next writer goes on from the log's last whole line."""
    log = ExchangeLog(tmp_path)
    for n in range(3):
        log.append({"operation": "rows", "n": n})
    log.close()
    path, head = log_paths(tmp_path)
    head.write_bytes(b'{"count":2,"hash":"stale"}'.ljust(159) + b"\n")  # the last head write was lost
    with path.open("ab") as handle:
        handle.write(b'{"seq":4,"operation":"rows","n":3,"prev_ha')  # a line cut short by the crash
    log = ExchangeLog(tmp_path)
    log.append({"operation": "rows", "n": 4})
    log.close()
    assert [e["n"] for e in entries(tmp_path)] == [0, 1, 2, 4] and verify(tmp_path).ok


@pytest.mark.parametrize("cut", ["to nothing", "mid-line"])
def test_a_log_cut_under_the_writer_goes_on_from_its_head_and_is_named(tmp_path: Any, cut: str) -> None:
    """The CI flake of test_a_log_that_cannot_be_written_stops_the_api_until_it_can: the writer read
    the size of /dev/full (0) as its log's, began a second chain at entry 1 from the genesis hash and
    signed it, so two checkpoints disagreed. A log shorter than its head (cut, or not the file the
    head describes) now continues the one chain: the cut is named, no checkpoint contradicts another."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    log = ExchangeLog(tmp_path, key)
    for n in range(3):
        log.append({"operation": "rows", "n": n})
    assert log.flush()
    path, _ = log_paths(tmp_path)
    kept = list(entries(tmp_path))
    os.truncate(path, 0 if cut == "to nothing" else path.stat().st_size - 20)
    for n in range(3, 5):
        log.append({"operation": "rows", "n": n})
    assert log.flush() and log.healthy
    log.close()
    lines = path.read_bytes().splitlines()
    added = [json.loads(line) for line in lines[-2:]]
    assert [e["seq"] for e in added] == [4, 5] and added[0]["prev_hash"] == kept[-1]["hash"]
    verdict = verify(tmp_path, key=key.public_key())
    assert not verdict.ok and "disagree" not in str(verdict), verdict
    if cut == "to nothing":
        assert verdict.line == 1 and "entries 1–3 deleted" in str(verdict)
    else:
        assert verdict.line == 3 and "not a JSON entry" in str(verdict)
