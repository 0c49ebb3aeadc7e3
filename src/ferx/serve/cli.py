"""`ferx serve [--host --port --workers --threads --api-key --config ...]`: the web service.

cli.py wires it: `add_arguments(subparsers)` adds the subcommand, `run(args)` runs it (blocking
until SIGINT/SIGTERM). The API key may also come from the environment (`FERX_API_KEY`), which keeps
it out of the process list.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ferx.argtypes import positive_float, positive_int

COMMAND = "serve"


def _port(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 1–65535, got {value}")
    return value


def add_arguments(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `serve` subcommand to an argparse subparsers object."""
    from ferx.serve.settings import ServeSettings

    d = ServeSettings()
    p = subparsers.add_parser(COMMAND, help="run the web service and page (needs ferx[serve])",
                              description="HTTP API (POST /v1/analyze, /v1/analyze/annotated, /v1/report; GET "
                              "/v1/models, /healthz; docs at /docs) and a web page at /.")
    p.add_argument("--host", default=d.host, help=f"address to listen on (default {d.host}; 0.0.0.0 for all)")
    p.add_argument("--port", type=_port, default=d.port, help=f"default {d.port}")
    p.add_argument("--workers", type=positive_int, default=d.workers,
                   help="processes, each with its own models (default 1: one process whose threads share its "
                   "models serves any mix of connections without leaving a core idle)")
    p.add_argument("--threads", type=positive_int, default=d.threads,
                   help=f"analyses at once per worker (default: the cores, here {d.threads})")
    p.add_argument("--api-key", help="require this key on /v1/* (X-API-Key or Authorization: Bearer); "
                   "default: $FERX_API_KEY, else none")
    p.add_argument("--config", help="analyzer YAML config (see `ferx config`)")
    p.add_argument("--max-upload-mb", type=positive_float, default=d.max_upload_bytes / 1e6,
                   help=f"largest request body in MB (default {d.max_upload_bytes / 1e6:g})")
    p.add_argument("--max-megapixels", type=positive_float, default=d.max_pixels / 1e6,
                   help=f"largest image in megapixels (default {d.max_pixels / 1e6:g})")
    p.add_argument("--max-faces", type=positive_int, default=d.max_faces,
                   help=f"faces analysed per image, largest first (default {d.max_faces})")
    p.add_argument("--litert-threads", type=positive_int,
                   help="CPU threads per model (default: cores / (workers × threads), at least 1)")
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"],
                   help="uvicorn's own log level (request lines are always written)")
    return p


def settings_from_args(args: argparse.Namespace) -> Any:
    from ferx.serve.settings import ENV_API_KEY, ServeSettings

    return ServeSettings(
        host=args.host, port=args.port, workers=args.workers, threads=args.threads,
        api_key=args.api_key or os.environ.get(ENV_API_KEY) or None, config=args.config,
        max_upload_bytes=int(args.max_upload_mb * 1e6), max_pixels=int(args.max_megapixels * 1e6),
        max_faces=args.max_faces, litert_threads=args.litert_threads,
    )


def register(subparsers: Any) -> None:
    """Add the subcommand; its parser runs `run`."""
    add_arguments(subparsers).set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run `ferx serve` until interrupted; 2 when ferx[serve] is not installed or an option is wrong."""
    try:
        import uvicorn

        import ferx.serve.app  # noqa: F401  (fails early when fastapi is missing)
    except ModuleNotFoundError as e:
        print(f"ferx: error: the service needs ferx[serve] ({e.name} is missing): pip install 'ferx[serve]'",
              file=sys.stderr)
        return 2
    settings = settings_from_args(args)
    if settings.config and not os.path.isfile(settings.config):
        print(f"ferx: error: --config {settings.config}: no such file", file=sys.stderr)
        return 2
    problem = _cannot_serve(settings)
    if problem:  # said in one line before "serving on", not as a traceback from inside uvicorn's start-up
        print(f"ferx: error: {problem}", file=sys.stderr)
        return 2
    auth = "with an API key" if settings.api_key else "without an API key"
    print(f"ferx: serving on http://{settings.host}:{settings.port}/ ({settings.workers} worker(s), {auth}); "
          f"API docs at /docs", file=sys.stderr)
    # Worker processes read the settings from the environment (ferx.serve.settings); one worker runs
    # in this process the same way, so both paths are the same code.
    os.environ.update(settings.to_env())
    uvicorn.run("ferx.serve.app:create_app_from_env", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, access_log=False, log_level=args.log_level,
                timeout_graceful_shutdown=10)
    return 0


def _cannot_serve(settings: Any) -> str | None:
    """Why the service could not start, checked before it starts: a config the analyzer refuses (its
    models are built once here, as every worker will build them), or an address already in use."""
    import socket

    from ferx.errors import FerxError
    from ferx.pipeline import Analyzer
    from ferx.serve.app import analyzer_config

    try:
        Analyzer(analyzer_config(settings)).close()
    except FerxError as e:
        return f"--config {settings.config}: {e}" if settings.config else str(e)
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((settings.host, settings.port))
        except OSError as e:
            return f"cannot listen on {settings.host}:{settings.port}: {e.strerror or e} (another server there?)"
    return None


def main(argv: list[str] | None = None) -> int:
    """`python -m ferx.serve [options]`: the same as `ferx serve [options]`."""
    parser = argparse.ArgumentParser(prog="ferx")
    add_arguments(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args([COMMAND, *(sys.argv[1:] if argv is None else argv)]))


__all__ = ["COMMAND", "add_arguments", "register", "main", "run", "settings_from_args"]
