"""The ``sluice`` command: serve, migrate, keys, openapi."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import uuid
from pathlib import Path

from app.api.logs import configure_logging
from app.keys.ratelimit import check_rate
from app.keys.scopes import ALL_SCOPES, parse_scopes
from app.settings import ConfigurationError, Settings, get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sluice", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate, then serve the API (and the workers)")
    serve.add_argument("--host", help="default: SLUICE_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, help="default: SLUICE_PORT or 8000")
    serve.add_argument("--no-migrate", action="store_true", help="skip `alembic upgrade head`")

    commands.add_parser("migrate", help="upgrade the database to the latest schema")

    keys = commands.add_parser("keys", help="create, list or revoke API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.add_argument(
        "--scopes", required=True, help=f"comma-separated, of: {', '.join(ALL_SCOPES)}"
    )
    create.add_argument("--rate-limit", type=float, help="requests/s for this key; 0: none")
    listing = key_commands.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--all", action="store_true", help="revoked keys too")
    revoke = key_commands.add_parser("revoke", help="revoke a key at once, everywhere")
    revoke.add_argument("key_id", type=uuid.UUID)

    openapi = commands.add_parser("openapi", help="print (or write) the OpenAPI document")
    openapi.add_argument("--output", type=Path, help="write here instead of stdout")

    args = parser.parse_args(argv)
    try:
        settings = get_settings()
        configure_logging(settings.logs.level, settings.logs.format)
        if args.command == "serve":
            return _serve(settings, args.host, args.port, migrate=not args.no_migrate)
        if args.command == "migrate":
            return _migrate(settings)
        if args.command == "keys":
            return _keys(settings, args)
        return _openapi(settings, args.output)
    except ConfigurationError as error:
        print(f"sluice: {error}", file=sys.stderr)
        return 2


def _serve(settings: Settings, host: str | None, port: int | None, *, migrate: bool) -> int:
    import uvicorn

    from app.api.connections import with_header_timeout
    from app.db.migrate import upgrade
    from app.db.runtime import resolve_database_url
    from app.db.wait import wait_for_database
    from app.main import create_app
    from app.shutdown import DrainingServer

    url = resolve_database_url(settings.database)
    wait_for_database(url, within=settings.database.wait_seconds)
    if migrate:
        upgrade(url)
    app = create_app(settings, database_url=url)
    config = uvicorn.Config(
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
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn re-raises it once shut down
        DrainingServer(config).run()
    return 0


def _migrate(settings: Settings) -> int:
    from app.db.migrate import upgrade
    from app.db.runtime import resolve_database_url
    from app.db.wait import wait_for_database

    url = resolve_database_url(settings.database)
    wait_for_database(url, within=settings.database.wait_seconds)
    upgrade(url)
    print("database at the latest schema")
    return 0


def _keys(settings: Settings, args: argparse.Namespace) -> int:
    from app.db.migrate import upgrade
    from app.db.runtime import resolve_database_url
    from app.db.urls import libpq_url
    from app.keys.store import SyncKeyStore

    url = resolve_database_url(settings.database)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # stdout/stderr are for the keys
    upgrade(url)
    store = SyncKeyStore(libpq_url(url))
    if args.keys_command == "create":
        try:
            scopes = parse_scopes(args.scopes)
            if args.rate_limit is not None:
                check_rate(args.rate_limit)
        except ValueError as error:
            raise ConfigurationError(str(error)) from None
        info, key = store.create(args.name, scopes, rate_limit=args.rate_limit)
        print(f"created key {info.id} ({info.name}: {', '.join(info.scopes)})", file=sys.stderr)
        print("it is shown once; only its hash is stored:", file=sys.stderr)
        print(key)
        return 0
    if args.keys_command == "list":
        for info in store.list(include_revoked=args.all):
            revoked = f"  revoked {info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else ""
            print(f"{info.id}  {info.hint}…  {info.name}  [{','.join(info.scopes)}]{revoked}")
        return 0
    revoked_key = store.revoke(args.key_id)
    if revoked_key is None:
        print(f"sluice: no active key {args.key_id}", file=sys.stderr)
        return 1
    print(f"revoked {revoked_key.id} ({revoked_key.name})")
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
