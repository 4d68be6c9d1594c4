"""The ``flask`` command line: the factory registers every group here, and a database
failure in any command is told in one line with the fix instead of a traceback."""

from __future__ import annotations

import sys

import click
from flask import Flask

from app.callbacks.commands import cli as journal_cli
from app.db import explain_database_error
from app.events.cli import cli as webhooks_cli
from app.evidence.cli import bundle_command
from app.evidence.cli import cli as evidence_cli
from app.logs import logging_command, running_a_command, verbose_option
from app.recordings.cli import destinations_cli, recordings_cli
from app.rules.cli import cli as rules_cli
from app.settings import PROJECT_ROOT, write_documents
from app.simulator.cli import cli as simulator_cli
from app.tunnel import tunnel_command

recordings_cli.add_command(bundle_command)  # flask recordings evidence ID: the evidence room's, once


def init_app(app: Flask) -> None:
    for command in (journal_cli, recordings_cli, destinations_cli, tunnel_command, rules_cli, simulator_cli,
                    settings_cli, webhooks_cli, evidence_cli):
        app.cli.add_command(command)
        for each in _commands_in(command):
            verbose_option(each)
    logging_command(app.cli.commands["db"])
    if running_a_command():
        _explain_uncaught_database_errors()


settings_cli = click.Group("settings", help="The settings, declared once in app/settings.py.")


@settings_cli.command("document")
def document_command() -> None:
    """Write app.json's env and docs/operations.md's settings table from app/settings.py."""
    for path in write_documents():
        click.echo(f"wrote {path.relative_to(PROJECT_ROOT)}")


def _commands_in(command: click.Command):
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            yield from _commands_in(sub)
    else:
        yield command


def _explain_uncaught_database_errors() -> None:
    previous = sys.excepthook

    def hook(kind, error, traceback) -> None:
        explained = explain_database_error(error)
        if explained is None:
            previous(kind, error, traceback)
        else:
            click.echo(f"Error: {explained}", err=True)

    sys.excepthook = hook
