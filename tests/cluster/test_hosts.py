"""Several hosts on this machine (Linux network namespaces on a private switch, lgsp_sandbox.hosts):
PostgreSQL on one, an `lgsp serve` replica on each of two others, the consumers' side on a fourth.
The replicas share nothing but the registry in PostgreSQL and the hub's files, as two servers
behind a load balancer would: a grant revoked through one replica's admin pages is refused by the
other within a second. The root namespace never sends to a test host (it has no route there)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from lgsp.core.settings import Settings
from tests.sharing.conftest import published  # noqa: F401 (the fixture: a hub home with its datasets run once)

pytestmark = [pytest.mark.timeout(600), pytest.mark.cluster, pytest.mark.postgres]

if os.geteuid() != 0:  # network namespaces need root; CI runs as root
    pytest.skip("test hosts are network namespaces: run as root", allow_module_level=True)

PORT = 8000  # every host has its own address, so each replica listens on the same port

# Run on the client host: the registry is reachable there, not from the root namespace.
SETUP = """
import json
from lgsp.core.settings import Settings
from lgsp.sharing import consumers
from lgsp.sharing.grants import add_grant
from lgsp.sharing.staff import add_staff
settings = Settings.from_env()
consumers.add_consumer(settings, "TTPVHCC", "Trung tâm Phục vụ hành chính công", "a@example.gov.vn", "provincial")
grant = add_grant(settings, "TTPVHCC", "schools", purpose="tra cứu", granted_by="sgddt")
print(json.dumps({"grant": grant.id, "key": consumers.issue_key(settings, "TTPVHCC"),
                  "password": add_staff(settings, "sgddt", "SGDDT")}))
"""

# Run on the client host: read through both replicas, revoke through one, time the other's refusal.
CLIENT = """
import json, sys, time
import httpx
web1, web2, key, password, grant = sys.argv[1:6]
rows = "/api/share/v1/datasets/schools/rows"
for base in (web1, web2):
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{base}/api/3/action/status_show", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{base} never answered"
        time.sleep(0.2)
before = [httpx.get(f"{b}{rows}", params={"limit": 5}, headers={"X-API-Key": key}).status_code for b in (web1, web2)]
with httpx.Client(base_url=web1, follow_redirects=True) as browser:
    csrf = browser.get("/admin/login").text.split('name="csrf" value="')[1].split('"')[0]
    browser.post("/admin/login", data={"csrf": csrf, "username": "sgddt", "password": password})
    csrf = browser.get("/admin/").text.split('name="csrf" value="')[1].split('"')[0]
    revoked = browser.post(f"/admin/grants/{grant}/revoke", data={"csrf": csrf})
    done = time.monotonic()
after = []
while time.monotonic() - done < 5:
    status = httpx.get(f"{web2}{rows}", headers={"X-API-Key": key}).status_code
    after.append((round(time.monotonic() - done, 3), status))
    if status == 403:
        break
    time.sleep(0.05)
print(json.dumps({"before": before, "revoked": f"revoked: grant #{grant}" in revoked.text, "after": after,
                  "web1_after": httpx.get(f"{web1}{rows}", headers={"X-API-Key": key}).status_code}))
"""


@pytest.fixture
def network() -> Iterator[object]:
    from lgsp_sandbox.hosts import TestNetwork

    with TestNetwork(["db", "web1", "web2", "client"]) as net:
        yield net


def _python(host: object, code: str, *args: str, env: dict[str, str]) -> str:
    done = host.run([sys.executable, "-c", textwrap.dedent(code), *args], env=env, timeout=300)  # type: ignore[attr-defined]
    assert done.returncode == 0, done.stderr[-3000:]
    return str(done.stdout)


def test_a_grant_revoked_through_one_replica_is_refused_by_the_other(
    published: Settings,  # noqa: F811
    network: object,
    tmp_path: Path,
) -> None:
    from lgsp_sandbox.postgres import PostgresServer

    db, web1, web2, client = (network[n] for n in ("db", "web1", "web2", "client"))  # type: ignore[index]
    with PostgresServer(tmp_path / "pg", host=db.address, netns=db.netns) as server:
        state = tmp_path / "state-url"
        state.write_text(server.create_database("lgsp_state") + "\n")
        state.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LGSP_")}
        env.update(
            LGSP_HOME=str(published.home),
            LGSP_CONTRACTS=str(published.contracts_dir),
            LGSP_PROFILE="cluster",
            LGSP_STATE_URL_FILE=str(state),
        )
        setup = json.loads(_python(client, SETUP, env=env).strip().splitlines()[-1])
        logs = {name: (tmp_path / f"{name}.log").open("wb") for name in ("web1", "web2")}
        replicas = [
            host.popen(
                [sys.executable, "-m", "lgsp.cli", "serve", "--host", host.address, "--port", str(PORT)],
                env=env,
                stdout=logs[host.name],
                stderr=subprocess.STDOUT,
            )
            for host in (web1, web2)
        ]
        try:
            found = json.loads(
                _python(
                    client, CLIENT, f"http://{web1.address}:{PORT}", f"http://{web2.address}:{PORT}",
                    setup["key"], setup["password"], str(setup["grant"]), env=env,
                ).strip().splitlines()[-1]
            )  # fmt: skip
        finally:
            for replica in replicas:
                replica.terminate()
            for replica in replicas:
                try:
                    replica.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    replica.kill()
            for log in logs.values():
                log.close()
        output = "\n".join(f"== {n}\n{(tmp_path / f'{n}.log').read_text(errors='replace')[-2000:]}" for n in logs)
        assert found["before"] == [200, 200], output
        assert found["revoked"], "the admin page did not say the grant was revoked"
        seconds, status = found["after"][-1]
        assert status == 403 and seconds <= 1.0, found["after"]
        assert found["web1_after"] == 403


def test_the_test_network_is_removed_and_unreachable_from_here() -> None:
    from lgsp_sandbox.hosts import PREFIX, TestNetwork

    with TestNetwork(["a", "b"], subnet="10.231.9") as net:
        here = subprocess.run(["ip", "route", "get", net["a"].address], capture_output=True, text=True).stdout
        assert "10.231.9." not in subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
        # The root namespace has no link to the test network: only its default route would take a
        # packet there (out of the machine), which is why nothing here sends to a test host.
        assert " via " in here or "unreachable" in here
        made = [n.netns for n in net.hosts.values()]
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert all(n in listed for n in made)
        blocker = net["a"].popen(["sleep", "300"])
    blocker.wait(timeout=10)  # killed with its namespace
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not [line for line in listed.splitlines() if line.startswith(f"{PREFIX}{os.getpid()}-")]
