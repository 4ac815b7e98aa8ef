"""The database a config file names, read without validating the rest of it.

`ingestd.config.load` validates the whole file with pydantic and imports the procedure's
calendars: a second of imports that the MTA pipe cannot afford per mail. This reads only
`[database] url`, with the same rules (INGESTD_DATABASE_URL wins; a relative SQLite path
is relative to the config file); tests/test_deliver.py checks both agree.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from ingestd.errors import TemporaryFailure

DATABASE_ENV = "INGESTD_DATABASE_URL"  # as ingestd.config.DATABASE_ENV
DEFAULT_URL = "sqlite:///var/ingestd.db"  # as ingestd.config.DatabaseConfig.url
SQLITE = "sqlite:///"


def database_url(config_file: str) -> str:
    """The `[database] url` of `config_file`, as `config.load(config_file)` resolves it."""
    file = Path(config_file).resolve()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TemporaryFailure(f"{file}: cannot read the config file ({exc}); "
                               "the MTA should try again later") from None
    section = data.get("database", {})
    url = os.environ.get(DATABASE_ENV) or (
        section.get("url", DEFAULT_URL) if isinstance(section, dict) else DEFAULT_URL)
    if not isinstance(url, str):
        raise TemporaryFailure(f"{file}: [database] url is not a string; "
                               "the MTA should try again later")
    if url.startswith(SQLITE) and not url.startswith(SQLITE + "/") and ":memory:" not in url:
        return SQLITE + str((file.parent / url[len(SQLITE):]).resolve())
    return url
