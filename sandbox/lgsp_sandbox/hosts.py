"""Test hosts on this machine: Linux network namespaces on a private switch, for multi-host tests.

Each host is a network namespace with its loopback and one interface on a bridge that lives in a
namespace of its own (the switch), with an address of a private /24 used only inside these
namespaces. The root namespace gets no link to that network and must never send to it: its
default route leads out of the machine, so a packet for a test host's address would leave. A
test therefore talks to its servers from a host of its own (`Host.run`, `Host.popen`), and the
network checks, before any traffic, that every host reaches the others on its own link and has no
route anywhere else. Everything is removed at the end, pass or fail, and namespaces a killed run
left behind are removed before a new network is made. Needs root (`ip netns`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

PREFIX = "lgsp"  # namespace names: lgsp<pid>-<host>, so a leftover's creator can be told dead or alive
NETNS_DIR = Path("/run/netns")


class HostsError(RuntimeError):
    """The test network could not be made (no root, no `ip`), or a host cannot reach another."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise HostsError(f"ip {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done


@dataclass(frozen=True)
class Host:
    """One test host: its namespace and its address on the test network."""

    name: str
    netns: str
    address: str

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` as run on this host (in its network namespace; the file system is shared)."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def run(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(self.command(argv), **kwargs)

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        return subprocess.Popen(self.command(argv), **kwargs)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers() -> list[str]:
    """Remove namespaces of test networks whose creator is dead (a killed run); returns their names."""
    removed = []
    for entry in sorted(NETNS_DIR.glob(f"{PREFIX}*-*")) if NETNS_DIR.exists() else []:
        owner = entry.name[len(PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and not _alive(int(owner)):
            _remove(entry.name)
            removed.append(entry.name)
    return removed


def _remove(netns: str) -> None:
    """Kill what runs in a namespace, then delete it."""
    for _ in range(3):
        pids = [int(p) for p in _ip("netns", "pids", netns, check=False).stdout.split() if p.isdigit()]
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    _ip("netns", "delete", netns, check=False)


class TestNetwork:
    """Hosts `names` on one switch, addresses `<subnet>.11`, `.12`, … in the order given.

    A context manager: entering makes the network and checks it; leaving removes every namespace
    (killing what still runs in them), whatever happened in between."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(self, names: Sequence[str], subnet: str = "10.231.7") -> None:
        if len(set(names)) != len(names) or not names:
            raise ValueError("host names must be given, each once")
        self.names = list(names)
        self.subnet = subnet
        self.tag = f"{PREFIX}{os.getpid()}"
        self.switch = f"{self.tag}-switch"
        self.hosts: dict[str, Host] = {}
        self._made: list[str] = []

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def start(self) -> Self:
        if os.geteuid() != 0:
            raise HostsError("test hosts are network namespaces: run as root")
        remove_leftovers()
        try:
            self._make()
            self.check()
        except BaseException:
            self.stop()
            raise
        return self

    def _make(self) -> None:
        self._add(self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for i, name in enumerate(self.names):
            host = Host(name, f"{self.tag}-{name}", f"{self.subnet}.{11 + i}")
            self._add(host.netns)
            port = f"p{i}"
            _ip("link", "add", port, "netns", self.switch, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
            _ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
            _ip("-n", host.netns, "link", "set", "lo", "up")
            _ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
            _ip("-n", host.netns, "link", "set", "eth0", "up")
            self.hosts[name] = host

    def _add(self, netns: str) -> None:
        _ip("netns", "add", netns)
        self._made.append(netns)

    def check(self) -> None:
        """Before any traffic: each host's only route is its link to the test network (no default
        route, so nothing can leave the machine), and each reaches every other host on that link."""
        network = f"{self.subnet}.0/24"
        for host in self.hosts.values():
            routes = _ip("-n", host.netns, "route", "show").stdout.split("\n")
            if [r.split()[0] for r in routes if r.strip()] != [network]:
                raise HostsError(f"{host.name}: routes other than the test network's: {routes}")
            for other in self.hosts.values():
                if other is host:
                    continue
                found = _ip("-n", host.netns, "route", "get", other.address).stdout
                if "dev eth0" not in found or " via " in found:
                    raise HostsError(f"{host.name} would not reach {other.name} on its own link: {found.strip()}")

    def stop(self) -> None:
        """Remove every namespace this network made (killing what runs in them); safe to call twice."""
        for netns in reversed(self._made):
            _remove(netns)
        self._made.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
