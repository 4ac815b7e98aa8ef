"""ingestd: turn a support mailbox into triaged complaint cases, durably."""

__version__ = "0.1.0"
