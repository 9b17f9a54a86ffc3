"""A live `lgsp serve` on loopback, over a hub whose open datasets have been run and released."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from lgsp.pipeline import Pipeline
from lgsp.settings import Settings
from portal.app import create_app


@pytest.fixture
def served(hub: Settings) -> Iterator[tuple[str, Settings]]:
    pipeline = Pipeline(hub)
    for dataset_id in ("schools", "price_observations", "ict_indicators", "driving_licences"):
        assert pipeline.run(dataset_id)["status"] == "published"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(hub), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", hub
    finally:
        server.should_exit = True
        thread.join(timeout=10)
