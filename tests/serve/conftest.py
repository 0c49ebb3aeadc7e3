"""A real uvicorn server on 127.0.0.1 (in a thread, sharing the session's Analyzer), for tests that
talk HTTP to the running app."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

pytest.importorskip("fastapi", reason="the service needs ferx[serve]: pip install 'ferx[serve]'")
pytest.importorskip("httpx", reason="the service tests need httpx (ferx[dev])")

#: Small limits, so that the tests of the limits send little data.
TEST_LIMITS = {"max_upload_bytes": 3_000_000, "max_pixels": 20_000_000, "max_faces": 8}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(analyzer, **settings) -> Iterator[str]:
    """Start the app with `analyzer` on a free loopback port; yields its base URL."""
    import uvicorn

    from ferx.serve.app import create_app
    from ferx.serve.settings import ServeSettings

    port = free_port()
    app = create_app(ServeSettings(port=port, **{**TEST_LIMITS, **settings}), analyzer=analyzer)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # a bound on start-up (warm-up included), not a performance check
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def server(analyzer) -> Iterator[str]:
    with running_server(analyzer) as url:
        yield url


@pytest.fixture()
def client(server):
    import httpx

    with httpx.Client(base_url=server, timeout=60) as c:
        yield c
