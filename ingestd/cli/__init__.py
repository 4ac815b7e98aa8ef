"""The `ingestd` command: the CLI on top of everything else.

Every command prints one clear line and exits non-zero on a problem a person can fix;
tracebacks are kept for bugs.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ingestd import config, logs
from ingestd.cli.app import App
from ingestd.errors import IngestdError


class Main(click.Group):
    """Turns IngestdError into one line on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IngestdError as exc:
            click.echo(f"ingestd: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=Main)
@click.option("--config", "config_file", envvar=config.CONFIG_ENV, type=click.Path(),
              help="config.toml to use (default: INGESTD_CONFIG, then the repo's config.toml)")
@click.version_option(package_name="ingestd")
@click.pass_context
def cli(ctx: click.Context, config_file: str | None) -> None:
    """ingestd: complaint mail in, triaged cases out."""
    ctx.obj = App(config_file)
    logs.configure("warning", "auto", sys.stderr)


def main() -> None:
    _register()
    cli(prog_name="ingestd")


def _register() -> None:
    from ingestd.cli import (  # noqa: PLC0415  (a command's imports load only when it runs)
        agent,
        cases,
        ops,
        procedure_cmds,
        service_cmds,
        triage_cmds,
        users,
        web_cmd,
    )

    for module in (ops, cases, agent, procedure_cmds, service_cmds, users, web_cmd):
        for command in module.COMMANDS:
            cli.add_command(command)
    triage_cmds.register(cli)


