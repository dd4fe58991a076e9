"""The ``sluice`` command: serve, up, migrate, migrations, new, keys, openapi, kafka-dev."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from pydantic import ValidationError

from app.api.logs import configure_logging
from app.cli import keys, migrations, new, serve, up
from app.kafka import devbroker
from app.settings import ConfigurationError, Settings, get_settings, variable_of

DESCRIPTION = "Sluice: event-sourced services on PostgreSQL. Run one, migrate it, manage its keys."
Command = Callable[[Settings, argparse.Namespace], int]


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="sluice", description=DESCRIPTION)
    commands = top.add_subparsers(dest="command", required=True)
    for module in (serve, up, migrations, new, keys, devbroker):
        module.add_commands(commands)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    run: Command = args.run
    try:
        settings = get_settings()
        configure_logging(settings.logs.level, settings.logs.format)
        return run(settings, args)
    except ConfigurationError as error:
        print(f"sluice: {error}", file=sys.stderr)
        return 2
    except ValidationError as error:  # settings out of their rules: one line each, by name
        for problem in error.errors():
            message = problem["msg"].removeprefix("Value error, ")
            print(f"sluice: {variable_of(problem['loc'])}: {message}", file=sys.stderr)
        return 2
