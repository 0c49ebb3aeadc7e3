"""Service settings: command-line options that also travel to uvicorn's worker processes.

With `--workers N` uvicorn starts N processes that each import the app factory; they cannot receive
Python objects from the parent, so the settings go through the environment: `FERX_SERVE_SETTINGS`
(JSON of this dataclass, without the key) and `FERX_API_KEY` (the key is never written into the JSON,
so it does not show up in a process listing of the settings).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields

ENV_SETTINGS = "FERX_SERVE_SETTINGS"
ENV_API_KEY = "FERX_API_KEY"


@dataclass(frozen=True)
class ServeSettings:
    """How the service runs and what it accepts.

    Attributes:
        host, port: where uvicorn listens.
        workers: processes, each with its own models (one analyzer per process).
        threads: analyses run at once per worker (off the event loop, in a thread pool sharing the
            worker's one Analyzer); default: the machine's cores. One process whose threads share one
            Analyzer is the default (issue 24) because requests then wait for the first free core,
            whatever connection they came on; with a process per core, uvicorn hands each keep-alive
            connection to one process, and 4 clients on 2 processes were often split 3 + 1, the
            3 waiting on one core while the other idled (p95 216 ms; docs/service.md).
        api_key: when set, /v1/* needs it (header `X-API-Key` or `Authorization: Bearer KEY`).
        config: an analyzer YAML config (None: the defaults).
        max_upload_bytes: largest request body; larger → 413 before the body is read.
        max_pixels: largest decoded image area; larger → 413, checked from the header.
        max_faces: faces analysed per image (the largest ones); more are dropped with a note.
        litert_threads: CPU threads per model (None: cores / (workers × threads), at least 1), set on
            every stage that declares a threads option when the config does not set them.
        warmup: analyse the bundled example photo at start-up (so the first request is not slow).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    threads: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    api_key: str | None = None
    config: str | None = None
    max_upload_bytes: int = 20_000_000
    max_pixels: int = 40_000_000
    max_faces: int = 32
    litert_threads: int | None = None
    warmup: bool = True

    def __post_init__(self) -> None:
        for name in ("port", "workers", "threads", "max_upload_bytes", "max_pixels", "max_faces"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == "port" else 1):
                raise ValueError(f"ServeSettings.{name} must be a positive integer, got {value!r}")

    def to_env(self) -> dict[str, str]:
        """Environment variables that carry these settings to worker processes."""
        data = asdict(self)
        key = data.pop("api_key")
        env = {ENV_SETTINGS: json.dumps(data)}
        if key:
            env[ENV_API_KEY] = key
        return env

    @classmethod
    def from_env(cls) -> ServeSettings:
        """Settings from `FERX_SERVE_SETTINGS` (defaults when unset) and the key from `FERX_API_KEY`."""
        raw = os.environ.get(ENV_SETTINGS)
        data = json.loads(raw) if raw else {}
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known and k != "api_key"}
        return cls(**data, api_key=os.environ.get(ENV_API_KEY) or None)


__all__ = ["ENV_API_KEY", "ENV_SETTINGS", "ServeSettings"]
