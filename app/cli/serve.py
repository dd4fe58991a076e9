"""``sluice serve`` and ``sluice openapi``: the service over HTTP, and its API document."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from app.settings import ConfigurationError, Settings


def add_commands(commands: Any) -> None:
    serve = commands.add_parser("serve", help="migrate, then serve the API (and the workers)")
    serve.add_argument("--host", help="default: SLUICE_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, help="default: SLUICE_PORT or 8000")
    serve.add_argument(
        "--workers",
        help="processes serving the port: a number, or auto (one per CPU);"
        " default SLUICE_WORKERS or 1",
    )
    serve.add_argument(
        "--role",
        choices=("all", "api", "workers"),
        help="api: HTTP and WebSockets; workers: sequencer, consumers, timers, webhook"
        " deliveries; all (default: SLUICE_ROLE or all): both",
    )
    serve.add_argument("--no-migrate", action="store_true", help="skip the migrations")
    serve.add_argument(
        "--reload", action="store_true", help="restart when a .py file here changes (development)"
    )
    serve.set_defaults(run=run_serve)
    openapi = commands.add_parser("openapi", help="print (or write) the OpenAPI document")
    openapi.add_argument("--output", type=Path, help="write here instead of stdout")
    openapi.set_defaults(run=run_openapi)


def run_serve(settings: Settings, args: argparse.Namespace) -> int:
    from app.cli.migrations import migrated_database
    from app.main import create_app
    from app.sdk.service import load_service
    from app.shutdown import DrainingServer

    process = {"role": args.role, "workers": args.workers}
    settings = settings.but(**{name: value for name, value in process.items() if value})
    service = load_service(settings.service)
    url = migrated_database(settings, service, migrate=not args.no_migrate)
    count = settings.process.process_count()
    if args.reload:
        if count > 1:
            raise ConfigurationError("--reload runs one process: it cannot go with --workers")
        return _serve_reloading(settings, args)
    if count > 1:
        return _serve_group(settings, url, args, count)
    app = create_app(settings, service=service, database_url=url)
    config = server_config(settings, app, args.host, args.port)
    # uvicorn re-raises the signal that stopped it once it has shut down. SIGTERM's default
    # would end the process on the spot, skipping atexit, and with it the embedded server's
    # stop: a normal exit instead, as for Ctrl-C.
    signal.signal(signal.SIGTERM, exit_normally)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn re-raises it once shut down
        DrainingServer(config).run()
    return 0


def server_config(settings: Settings, app: Any, host: str | None, port: int | None) -> Any:
    import uvicorn

    from app.api.connections import with_header_timeout

    return uvicorn.Config(
        app,
        host=host or settings.http.host,
        port=port or settings.http.port,
        log_config=None,  # the root handler's format (JSON by default), not uvicorn's own
        log_level=settings.logs.level.lower(),
        access_log=False,  # RequestLog writes one line per request, with its ids
        timeout_graceful_shutdown=10,
        ws_max_size=settings.stream.max_message_bytes,
        ws_ping_interval=settings.stream.ping_interval_seconds,
        ws_ping_timeout=settings.stream.ping_timeout_seconds,
        http=with_header_timeout(settings.http.header_timeout_seconds),
        limit_concurrency=settings.http.max_connections,
        timeout_keep_alive=settings.http.keep_alive_seconds,
    )


def _serve_reloading(settings: Settings, args: argparse.Namespace) -> int:
    """uvicorn's reloader: a child process runs the app and is started again when a source
    file under the current folder changes. This process keeps the embedded database (if
    any) running across the restarts; the child finds it through the same data folder."""
    import uvicorn

    os.environ["SLUICE_ROLE"] = settings.process.role  # the child reads its settings anew
    uvicorn.run(
        "app.cli.serve:reloaded_app",
        factory=True,
        reload=True,
        reload_dirs=[str(Path.cwd())],
        host=args.host or settings.http.host,
        port=args.port or settings.http.port,
        log_config=None,
        log_level=settings.logs.level.lower(),
        access_log=False,
    )
    return 0


def reloaded_app() -> Any:
    """The app in a ``--reload`` child: its logging as the parent's, its settings re-read."""
    from app.api.logs import configure_logging
    from app.main import create_app
    from app.settings import get_settings

    settings = get_settings()
    configure_logging(settings.logs.level, settings.logs.format)
    return create_app(settings)


def _serve_group(settings: Settings, url: str, args: argparse.Namespace, count: int) -> int:
    from app.cli.processes import ProcessGroup, bind

    sock = bind(args.host or settings.http.host, args.port or settings.http.port)
    return ProcessGroup(settings, url, sock, count).run()


def exit_normally(signum: int, frame: object) -> None:
    raise SystemExit(0)


def run_openapi(settings: Settings, args: argparse.Namespace) -> int:
    from app.main import create_app

    document = json.dumps(create_app(settings).openapi(), indent=2, sort_keys=True) + "\n"
    if args.output is None:
        sys.stdout.write(document)
    else:
        args.output.write_text(document)
    return 0
