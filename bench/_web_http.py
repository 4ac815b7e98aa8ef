"""bench_web.py's HTTP half: the desk's list pages through a real `ingestd web`.

A separate `ingestd web` process on a free loopback port serves the filled database; one
keep-alive connection logs in as an agent and fetches the pages as a browser would.
Baseline in the same run, interleaved: `GET /healthz` (the same server, stack and
connection, no database).
"""

from __future__ import annotations

import http.client
import re
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from functools import partial
from pathlib import Path

from tests.servers import LOOPBACK, free_port, wait_for
from tests.support import ConfigSpec, write_config

REPO = Path(__file__).resolve().parents[1]
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
PAGES = {
    "GET /cases (default list)": "/cases",
    "GET /cases filtered": "/cases?view=open&assignee=agent07&category=billing&sort=-received",
    "GET /cases?q=refund": "/cases?view=all&q=refund",
}


class Client:
    """One keep-alive connection with the desk's cookie."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
        self.cookie = ""

    def request(self, method: str, path: str, body: dict[str, str] | None = None) -> str:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        if cookie := response.getheader("Set-Cookie"):
            self.cookie = cookie.split(";", 1)[0]
        if response.status not in (200, 303):
            raise RuntimeError(f"{method} {path}: HTTP {response.status}")
        return text

    def login(self, name: str, password: str) -> None:
        found = TOKEN.search(self.request("GET", "/login"))
        assert found is not None, "no csrf_token on /login"
        self.request("POST", "/login", {"username": name, "password": password,
                                        "csrf_token": found.group(1)})


def time_pages(backend: str, url: str, work: Path, samples: int, *,
               report: Callable[..., None],
               measure: Callable[..., dict[str, list[float]]], user: str,
               password: str) -> None:
    config = write_config(work, ConfigSpec(url))
    port = free_port()
    log = (work / "web.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "ingestd", "--config", str(config), "web", "--listen",
         f"{LOOPBACK}:{port}"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _healthy(port), timeout=60, interval=0.2)
        client = Client(port)
        client.login(user, password)
        baselines: dict[str, Callable[[], object]] = {
            "GET /healthz": lambda: client.request("GET", "/healthz")}
        pages: dict[str, Callable[[], object]] = {
            name: partial(client.request, "GET", path) for name, path in PAGES.items()}
        figures = measure({**baselines, **pages}, samples, lambda: None)
        report(f"{backend} over HTTP", figures, baselines, baseline="GET /healthz")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _healthy(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=2)
        connection.request("GET", "/healthz")
        ok = connection.getresponse().status == 200
        connection.close()
    except OSError:
        time.sleep(0.1)
        return False
    return ok
