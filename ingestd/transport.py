"""Where credentials and mail may travel in clear: only to this machine.

`security = "none"` sends IMAP LOGIN, SMTP AUTH and every mail unencrypted. The config
refuses it for a host that is not loopback unless `allow_plaintext = true`, and a connection
allowed that way says so once in the log.
"""

from __future__ import annotations

import ipaddress
import threading

import structlog

log = structlog.get_logger("ingestd.transport")
_warned: set[tuple[str, str, int]] = set()
_lock = threading.Lock()


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses; names are not resolved (DNS can lie)."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def plaintext_refused(security: str, host: str, allow_plaintext: bool) -> bool:
    """A clear-text connection to another machine that the admin did not allow."""
    return security == "none" and not allow_plaintext and not is_loopback(host)


def warn_plaintext(what: str, host: str, port: int, security: str) -> None:
    """Log, once per process and server, that passwords and mail go in clear to `host`."""
    if security != "none" or is_loopback(host):
        return
    with _lock:
        if (what, host, port) in _warned:
            return
        _warned.add((what, host, port))
    log.warning("plaintext_connection", what=what, host=host, port=port,
                hint="allow_plaintext = true: passwords and mail cross the network unencrypted; "
                     "use security = \"tls\" or \"starttls\"")
