"""What the commands share: the configuration, the database and the services, each loaded once
and only when a command needs it (so ``ingestd --help`` stays fast)."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from ingestd import config

if TYPE_CHECKING:  # the database and the services load when a command needs them
    from sqlalchemy import Engine

    from ingestd.services import Services


class App:
    """What commands share: the configuration, loaded once and only when needed."""

    def __init__(self, config_file: str | None) -> None:
        self.config_file = config_file

    @cached_property
    def settings(self) -> config.Settings:
        return config.load(self.config_file)

    @cached_property
    def engine(self) -> Engine:
        from ingestd.services import open_database  # noqa: PLC0415  (keeps `--help` fast)

        return open_database(self.settings)

    @cached_property
    def services(self) -> Services:
        from ingestd.services import build_services  # noqa: PLC0415  (loaded when the command runs: `--help` stays fast)

        return build_services(self.settings, self.engine)
