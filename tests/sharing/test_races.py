"""Races in the registry (issue 14, point 10): two answers to one access request at once, and a
revocation that lands while the API is reading the grants."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from lgsp.core.settings import Settings
from lgsp.sharing import consumers, registry
from lgsp.sharing.errors import RegistryError
from lgsp.sharing.grants import Grants, add_grant, list_grants, revoke_grant
from lgsp.sharing.requests import add_request, approve, get_request, refuse


def _at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together; each result is its return value or its error."""
    start, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_two_answers_to_one_request_give_one_grant_or_none(hub: Settings) -> None:
    consumers.add_consumer(hub, "TTPVHCC", "Trung tâm", "a@example.gov.vn", "provincial")
    for round_ in range(12):
        asked = add_request(hub, "TTPVHCC", "schools", f"lần {round_}")
        answers = _at_once(
            lambda r=asked.id: approve(hub, r, "sgddt"),
            lambda r=asked.id: approve(hub, r, "sgddt2"),
            lambda r=asked.id: refuse(hub, r, "sgddt3", "không cần"),
        )
        won = [a for a in answers if not isinstance(a, Exception)]
        assert len(won) == 1, answers  # exactly one answer counts; the others are told it was taken
        assert all(isinstance(a, RegistryError) and "already" in str(a) for a in answers if a not in won)
        final = get_request(hub, asked.id)
        made = [g for g in list_grants(hub, include_inactive=True) if g.purpose == f"lần {round_}"]
        if final.status == "approved":
            assert [g.id for g in made] == [final.grant_id]
        else:
            assert final.status == "refused" and made == []  # a refused request leaves no grant


def test_a_revocation_during_a_read_of_the_grants_is_not_undone(hub: Settings) -> None:
    """The API reads the grants (a slow read, held open here) while a revocation commits and
    drops the cache; the read must not put the revoked grant back for the requests after it."""
    consumers.add_consumer(hub, "TTPVHCC", "Trung tâm", "a@example.gov.vn", "provincial")
    grant = add_grant(hub, "TTPVHCC", "schools", purpose="tra cứu", granted_by="sgddt")
    reading, revoked = threading.Event(), threading.Event()
    con = registry.connect(hub)

    def slow_query(sql: str, **params: Any) -> list[Any]:
        rows = registry.rows(con, sql, **params)  # the grants as they were
        reading.set()
        revoked.wait(10)  # ...while the revocation commits and the cache is dropped
        return rows

    grants = Grants(hub, slow_query)
    contract = grants.contracts()["schools"]
    in_flight = threading.Thread(target=grants.decision, args=("TTPVHCC", contract))
    in_flight.start()
    assert reading.wait(10)
    revoke_grant(hub, grant.id)
    # What the Authenticator does when it sees the registry change, from another request's thread.
    noticing = threading.Thread(target=grants.forget)
    noticing.start()
    revoked.set()
    in_flight.join(10)
    noticing.join(10)
    grants._query = lambda sql, **params: registry.rows(con, sql, **params)  # reads are fast again
    assert grants.decision("TTPVHCC", contract) is None  # the next request sees the revocation
    assert grants.readable("TTPVHCC") == []
    con.close()
