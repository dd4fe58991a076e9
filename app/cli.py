"""The ``sluice`` command: serve, migrate, openapi."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from app.settings import ConfigurationError, Settings, get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sluice", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate, then serve the API (and the workers)")
    serve.add_argument("--host", help="default: SLUICE_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, help="default: SLUICE_PORT or 8000")
    serve.add_argument("--no-migrate", action="store_true", help="skip `alembic upgrade head`")

    commands.add_parser("migrate", help="upgrade the database to the latest schema")

    openapi = commands.add_parser("openapi", help="print (or write) the OpenAPI document")
    openapi.add_argument("--output", type=Path, help="write here instead of stdout")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    try:
        settings = get_settings()
        if args.command == "serve":
            return _serve(settings, args.host, args.port, migrate=not args.no_migrate)
        if args.command == "migrate":
            return _migrate(settings)
        return _openapi(settings, args.output)
    except ConfigurationError as error:
        print(f"sluice: {error}", file=sys.stderr)
        return 2


def _serve(settings: Settings, host: str | None, port: int | None, *, migrate: bool) -> int:
    import uvicorn

    from app.db.migrate import upgrade
    from app.db.runtime import resolve_database_url
    from app.main import create_app

    url = resolve_database_url(settings)
    if migrate:
        upgrade(url)
    app = create_app(settings, database_url=url)
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=10,
        ws_ping_interval=settings.ws_ping_interval_seconds,
        ws_ping_timeout=settings.ws_ping_timeout_seconds,
    )
    return 0


def _migrate(settings: Settings) -> int:
    from app.db.migrate import upgrade
    from app.db.runtime import resolve_database_url

    upgrade(resolve_database_url(settings))
    print("database at the latest schema")
    return 0


def _openapi(settings: Settings, output: Path | None) -> int:
    from app.main import create_app

    document = json.dumps(create_app(settings).openapi(), indent=2, sort_keys=True) + "\n"
    if output is None:
        sys.stdout.write(document)
    else:
        output.write_text(document)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
