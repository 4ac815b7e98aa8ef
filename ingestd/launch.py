"""The `ingestd` command's entry point: the MTA pipe's fast path, else the whole CLI.

An MTA runs `ingestd --config FILE deliver` once per mail, so that one command must not
pay for click, pydantic, SQLAlchemy or the model: it goes straight to `ingestd.spool`.
Every other command line (including `deliver --process`, `--help` and a config found only
by the default location) goes to `ingestd.cli`, whose `deliver` does the same thing slower.
"""

from __future__ import annotations

import os
import sys

CONFIG_ENV = "INGESTD_CONFIG"  # as ingestd.config.CONFIG_ENV


def main() -> None:
    fast = fast_deliver(sys.argv[1:], os.environ.get(CONFIG_ENV))
    if fast is not None:
        from ingestd.spool import deliver_main  # noqa: PLC0415  (the pipe imports only this)

        status = deliver_main(*fast)
        sys.stderr.flush()
        os._exit(status)  # the row is committed and the connection closed: skip the teardown
    from ingestd.cli import main as cli  # noqa: PLC0415  (every other command)

    cli()


def fast_deliver(args: list[str], config_env: str | None) -> tuple[str, str] | None:
    """(config file, source) for a plain `[--config F] deliver [--source S]`, else None."""
    config, rest = _option(args, "--config")
    if not rest or rest[0] != "deliver":
        return None
    source, extra = _option(rest[1:], "--source")
    config = config or config_env
    if extra or not config:
        return None
    return config, source or "stdin"


def _option(args: list[str], name: str) -> tuple[str | None, list[str]]:
    """The value of a leading `name VALUE` or `name=VALUE`, and the arguments after it."""
    if args and args[0].startswith(name + "="):
        return args[0][len(name) + 1:], args[1:]
    if len(args) >= 2 and args[0] == name:
        return args[1], args[2:]
    return None, args
