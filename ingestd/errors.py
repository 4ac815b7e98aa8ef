"""The exceptions ingestd raises, one family per thing a person can fix.

Every error carries a message written for the person running ingestd: what went wrong and
what to do about it. The CLI prints that one line instead of a traceback.
"""


class IngestdError(Exception):
    """Base of every error ingestd reports to a person."""

    exit_code = 1


class ConfigError(IngestdError):
    """The configuration file is missing, unreadable or has a bad key or value."""

    exit_code = 78  # EX_CONFIG


class SourceError(IngestdError):
    """A mail source (IMAP server, Maildir) could not be read."""

    exit_code = 69  # EX_UNAVAILABLE


class AuthenticationError(SourceError):
    """The server refused our credentials."""

    exit_code = 77  # EX_NOPERM


class TemporaryFailure(IngestdError):
    """Try again later: the database or a server is unavailable for now (MTA exit 75)."""

    exit_code = 75  # EX_TEMPFAIL


class StorageError(IngestdError):
    """The database refused a write or cannot be reached."""

    exit_code = 74  # EX_IOERR


class NotFound(IngestdError):
    """A case, message or quarantine entry named on the command line does not exist."""

    exit_code = 2
