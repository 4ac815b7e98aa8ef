"""Where mail comes from: IMAP folders, Maildir directories, standard input."""

from ingestd.sources.imap import ImapSource, connect_imap
from ingestd.sources.maildir import MaildirSource

__all__ = ["ImapSource", "MaildirSource", "connect_imap"]
