"""A TCP proxy in front of a real server that can misbehave on purpose.

Forwards every connection to (host, port). Faults apply to the server-to-client direction,
counted in bytes per connection: `cut_after` closes both sides after that many bytes (a
connection lost in the middle of a FETCH literal), `stall_after` stops forwarding and keeps
the sockets open (a hung server), `delay` sleeps before forwarding each chunk (a slow one).
Faults can be changed while the proxy runs; new connections see the new values.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass

from tests.servers import LOOPBACK, free_port


@dataclass
class Faults:
    cut_after: int | None = None
    stall_after: int | None = None
    delay: float = 0.0


class FaultyProxy:
    def __init__(self, target_host: str, target_port: int, listen_host: str = LOOPBACK) -> None:
        self.target = (target_host, target_port)
        self.host, self.port = listen_host, free_port(listen_host)
        self.faults = Faults()
        self.cuts = 0
        self.stalls = 0
        self.connections = 0
        self.from_clients = bytearray()  # every byte a client sent, as the network saw it
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._server = socket.create_server((self.host, self.port))
        self._server.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, upstream]
                self.connections += 1
            faults = Faults(self.faults.cut_after, self.faults.stall_after, self.faults.delay)
            threading.Thread(target=self._pipe, args=(client, upstream, None),
                             daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, faults),
                             daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, faults: Faults | None) -> None:
        sent = 0
        with contextlib.suppress(OSError):
            while data := source.recv(4096):
                if faults is None:
                    with self._lock:
                        self.from_clients += data
                else:
                    data, sent = self._apply(faults, data, sent, source, sink)
                    if data is None:
                        return
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def _apply(self, faults: Faults, data: bytes, sent: int, source: socket.socket,
               sink: socket.socket) -> tuple[bytes | None, int]:
        if faults.delay:
            time.sleep(faults.delay)
        for limit, action in ((faults.cut_after, "cut"), (faults.stall_after, "stall")):
            if limit is not None and sent + len(data) > limit:
                with contextlib.suppress(OSError):
                    sink.sendall(data[: limit - sent])
                if action == "cut":
                    self.cuts += 1
                    for sock in (source, sink):
                        with contextlib.suppress(OSError):
                            sock.shutdown(socket.SHUT_RDWR)
                        sock.close()
                else:
                    self.stalls += 1
                    self._stop.wait()  # hold the connection open, say nothing more
                return None, sent
        return data, sent + len(data)

    def close(self) -> None:
        self._stop.set()
        self._server.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()
        self._thread.join(2)
