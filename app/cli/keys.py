"""``sluice keys``: create, list and revoke API keys, straight in the database."""

from __future__ import annotations

import argparse
import logging
import sys
import uuid
from typing import Any

from app.config import ConfigurationError
from app.keys.ratelimit import check_rate
from app.keys.scopes import ALL_SCOPES, parse_scopes
from app.settings import Settings


def add_commands(commands: Any) -> None:
    keys = commands.add_parser("keys", help="create, list or revoke API keys")
    keys.set_defaults(run=run_keys)
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--name", required=True, help="who or what uses the key")
    known = f"{', '.join(ALL_SCOPES)}, streams:read:<stream id>"
    create.add_argument("--scopes", required=True, help=f"comma-separated, of: {known}")
    create.add_argument("--rate-limit", type=float, help="requests/s for this key; 0: none")
    listing = key_commands.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--all", action="store_true", help="revoked keys too")
    revoke = key_commands.add_parser("revoke", help="revoke a key at once, everywhere")
    revoke.add_argument("key_id", type=uuid.UUID)


def run_keys(settings: Settings, args: argparse.Namespace) -> int:
    from app.cli.migrations import migrated_database
    from app.db.urls import libpq_url
    from app.keys.store import SyncKeyStore
    from app.sdk.service import load_service

    logging.getLogger("alembic").setLevel(logging.WARNING)  # stdout/stderr are for the keys
    # The keys live in Sluice's tables; the service's history shares the version table, so
    # both are brought to the latest together, as `sluice serve` would.
    url = migrated_database(settings, load_service(settings.service))
    store = SyncKeyStore(libpq_url(url))
    if args.keys_command == "create":
        return _create(store, args)
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


def _create(store: Any, args: argparse.Namespace) -> int:
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
