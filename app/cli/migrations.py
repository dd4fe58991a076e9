"""``sluice migrate`` and ``sluice migrations new``: Sluice's schema and the service's own."""

from __future__ import annotations

import argparse
from typing import Any

from app.config import ConfigurationError
from app.sdk.service import Service
from app.settings import Settings


def add_commands(commands: Any) -> None:
    migrate = commands.add_parser(
        "migrate", help="upgrade the database: Sluice's tables and the service's own"
    )
    migrate.set_defaults(run=run_migrate)
    history = commands.add_parser("migrations", help="the service's own migration history")
    history_commands = history.add_subparsers(dest="migrations_command", required=True)
    new = history_commands.add_parser(
        "new", help="write the service's next revision, from its tables and the database"
    )
    new.add_argument("message", help='what changes, e.g. "balances by currency"')
    new.set_defaults(run=run_new_revision)


def migrated_database(settings: Settings, service: Service, *, migrate: bool = True) -> str:
    """The database URL, once the server answers and (``migrate``) the schema is current."""
    from app.db.migrate import upgrade
    from app.db.runtime import resolve_database_url
    from app.db.wait import wait_for_database
    from app.views.schema import migrations_branch

    url = resolve_database_url(settings.database)
    wait_for_database(url, within=settings.database.wait_seconds)
    if migrate:
        upgrade(url, migrations_branch(service))
    return url


def run_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from app.sdk.service import load_service

    service = load_service(settings.service)
    migrated_database(settings, service)
    kept = "with its own" if service.migrations else "(it keeps no migrations of its own)"
    print(f"database at the latest schema: Sluice's, and {service.name}'s {kept}")
    return 0


def run_new_revision(settings: Settings, args: argparse.Namespace) -> int:
    from app.db.migrate import new_revision
    from app.sdk.service import load_service
    from app.views.schema import migrations_branch

    service = load_service(settings.service)
    branch = migrations_branch(service)
    if branch is None:
        raise ConfigurationError(
            f"service {service.name} keeps no migrations: declare their folder,"
            " Service(..., migrations=Path(__file__).parent / 'migrations')"
        )
    url = migrated_database(settings, service, migrate=False)
    path = new_revision(url, branch, args.message)
    print(f"wrote {path} (read it before you run `sluice migrate`)")
    return 0
