"""The admin pages, attacked (issue 14, points 2 to 4): sessions are checked against the staff
record at every request, so a disabled login, a password reset or a department move ends the
sessions opened before it, and a cookie signed with the hub's key but naming another user or an
old session is refused; approving a request grants exactly the columns ticked on the page."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import itsdangerous
import pytest

from lgsp.sharing import consumers, registry
from lgsp.sharing.grants import list_grants
from lgsp.sharing.requests import add_request
from lgsp.sharing.staff import add_staff, disable_staff
from tests.sharing.conftest import Hub


def logged_in(live: Hub, username: str, password: str) -> httpx.Client:
    browser = httpx.Client(base_url=live.url, follow_redirects=True)
    csrf = browser.get("/admin/login").text.split('name="csrf" value="')[1].split('"')[0]
    assert (
        browser.post("/admin/login", data={"csrf": csrf, "username": username, "password": password}).url.path
        == "/admin/"
    )
    return browser


def still_in(browser: httpx.Client) -> bool:
    return browser.get("/admin/", follow_redirects=False).status_code == 200


@pytest.mark.parametrize("change", ["disable", "reset_password", "move_department"])
def test_a_change_to_the_login_ends_its_open_sessions(live: Hub, change: str) -> None:
    username = f"staff_{change.replace('_', '')}"[:30]
    password = add_staff(live.settings, username, "SGDDT")
    browser, other = (
        logged_in(live, username, password),
        logged_in(live, "sxd_keep", add_staff(live.settings, "sxd_keep", "SXD")),
    )
    assert still_in(browser) and still_in(other)
    if change == "disable":
        disable_staff(live.settings, username)
    elif change == "reset_password":
        password = add_staff(live.settings, username, "SGDDT")
    else:
        add_staff(live.settings, username, "SNNMT", password=password)
    assert not still_in(browser)  # ended at its next request
    assert still_in(other)  # another login's session is untouched
    if change == "disable":
        with httpx.Client(base_url=live.url, follow_redirects=True) as again:
            csrf = again.get("/admin/login").text.split('name="csrf" value="')[1].split('"')[0]
            refused = again.post("/admin/login", data={"csrf": csrf, "username": username, "password": password})
            assert refused.url.path == "/admin/login"
    else:
        assert still_in(logged_in(live, username, password))  # a new login works
    if change == "move_department":
        data = logged_in(live, username, password).get("/admin/", params={"format": "json"}).json()
        assert data["staff"]["department"] == "SNNMT"  # from the record, not the cookie


def test_a_cookie_forged_with_the_key_names_no_one(live: Hub) -> None:
    """Even with the session key (which now lives in a 0600 key file, not the registry), a cookie
    for a user or session version the registry does not have opens nothing."""
    key = registry.hub_secret(live.settings, "session")
    signer = itsdangerous.TimestampSigner(key)

    def opens(user: dict[str, object]) -> bool:
        cookie = signer.sign(base64.b64encode(json.dumps({"user": user, "csrf": "t"}).encode())).decode()
        answer = httpx.get(f"{live.url}/admin/", cookies={"lgsp_admin": cookie}, follow_redirects=False)
        return answer.status_code == 200

    add_staff(live.settings, "forged_target", "SXD")
    assert opens({"username": "forged_target", "version": 1})  # the forging itself works (the key is the key)
    assert not opens({"username": "forged_target", "department": "SXD"})  # the old cookie shape: no version
    assert not opens({"username": "forged_target", "version": 0})
    assert not opens({"username": "nobody", "version": 1})


def test_approving_a_request_grants_only_the_columns_ticked_on_the_page(live: Hub) -> None:
    """Issue 14, point 2: approving granted the personal columns a request asked for, though the
    approve form never showed them. Now the form lists every column with its personal-data class,
    ticks what was asked, and the grant holds exactly what is ticked when it is sent."""
    consumers.add_consumer(live.settings, "BCA_X", "Công an X", "x@example.gov.vn", "provincial")
    asked = add_request(live.settings, "BCA_X", "driving_licences", "Đối chiếu", columns=["licence_no", "citizen_id"])
    browser = logged_in(live, "sxd_approver", add_staff(live.settings, "sxd_approver", "SXD"))
    page = browser.get("/admin/").text
    form = page[page.index(f'action="/admin/requests/{asked.id}/approve"') :].split("</form>")[0]
    for column in ("licence_no", "citizen_id", "full_name", "birth_date", "licence_class", "commune_code"):
        assert f'name="column" value="{column}"' in form, column
    assert "citizen_id</code> <strong>dữ liệu cá nhân cơ bản / basic personal data" in form
    ticked = [line.split('value="')[1].split('"')[0] for line in form.splitlines() if " checked>" in line]
    assert ticked == ["licence_no", "citizen_id"]  # what was asked, shown and marked
    twin = browser.get("/admin/", params={"format": "json"}).json()
    [shown] = [r for r in twin["requests"] if r["id"] == asked.id]
    assert {c["name"]: c["personal_data"] for c in shown["columns"]}["citizen_id"] == "basic"

    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    nothing = browser.post(f"/admin/requests/{asked.id}/approve", data={"csrf": csrf})
    assert "tick the columns to grant" in nothing.text  # nothing ticked grants nothing
    done = browser.post(
        f"/admin/requests/{asked.id}/approve", data={"csrf": csrf, "column": ["licence_no", "licence_class"]}
    )  # citizen_id unticked
    assert "approved" in done.text
    [grant] = [g for g in list_grants(live.settings) if g.consumer == "BCA_X"]
    assert grant.columns == ("licence_no", "licence_class")


def _from(live: Hub, address: str) -> httpx.Client:
    """A browser at another loopback address (the server sees it as another client)."""
    return httpx.Client(base_url=live.url, follow_redirects=True, transport=httpx.HTTPTransport(local_address=address))


def _attempt(browser: httpx.Client, username: str, password: str) -> str:
    csrf = browser.get("/admin/login").text.split('name="csrf" value="')[1].split('"')[0]
    answer = browser.post("/admin/login", data={"csrf": csrf, "username": username, "password": password})
    return "in" if answer.url.path == "/admin/" else "locked" if "Too many failed" in answer.text else "wrong"


def test_a_guesser_locks_out_only_itself(live: Hub) -> None:
    """Issue 14, point 7: failed logins counted by username alone let anyone lock a user out.
    Now five wrong passwords lock that username from that address; the user at another address
    still logs in, and an address that guesses many usernames is stopped too."""
    from lgsp.sharing.staff import ADDRESS_FAILURES, LOCKOUT_FAILURES

    password = add_staff(live.settings, "target_user", "SXD")
    with _from(live, "127.0.0.2") as attacker, _from(live, "127.0.0.3") as user, _from(live, "127.0.0.4") as sprayer:
        assert [_attempt(attacker, "target_user", "guess") for _ in range(LOCKOUT_FAILURES)] == ["wrong"] * 5
        assert _attempt(attacker, "target_user", password) == "locked"  # even the right password, from there
        assert _attempt(user, "target_user", password) == "in"  # the user, elsewhere, is not locked out
        for n in range(ADDRESS_FAILURES):
            assert _attempt(sprayer, f"user{n}", "guess") == "wrong"
        assert _attempt(sprayer, "target_user", password) == "locked"  # the address is stopped


def test_a_login_hashes_off_the_event_loop_and_an_unknown_user_costs_the_same(
    live: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14, point 7: scrypt ran on the event loop (one login held up every request) and an
    unknown username skipped it (its answer came faster, telling which usernames exist)."""
    import hashlib
    import threading

    real, calls = hashlib.scrypt, []

    def counting(*args: Any, **kwargs: Any) -> bytes:
        calls.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    add_staff(live.settings, "known_user", "SXD", password="the-right-one")
    calls.clear()
    with _from(live, "127.0.0.5") as browser:
        assert _attempt(browser, "known_user", "a-wrong-one") == "wrong"
        known = len(calls)
        assert _attempt(browser, "no_such_user", "a-wrong-one") == "wrong"
    assert known == 1 and len(calls) == 2  # one scrypt each, known or not
    assert all(name.startswith("AnyIO worker thread") for name in calls), calls  # never the loop's thread
