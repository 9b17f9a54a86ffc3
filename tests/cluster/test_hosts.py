"""The test hosts themselves (Linux network namespaces on a private switch, lgsp_sandbox.hosts): the
root namespace has no route to them, and they are gone, with what ran in them, when the network is
removed. The cluster test that runs the province on them is tests/cluster/test_province.py."""

from __future__ import annotations

import os
import subprocess

import pytest

pytestmark = [pytest.mark.cluster]

if os.geteuid() != 0:  # network namespaces need root; CI runs as root
    pytest.skip("test hosts are network namespaces: run as root", allow_module_level=True)


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
