"""The browser itself: Debian's chromium (not a downloaded one) starts, loads a page and runs
its script, before any of the desk is involved; then the desk's login page.

Playwright pins a newer Chromium than Debian ships; if the two stop speaking the same
protocol, this is the test that says so first."""

from __future__ import annotations

import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.sync_api import Browser, Page, expect

from tests.servers import LOOPBACK
from tests.web_support import Desk, http_status, require_chromium


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = (b"<html><head><title>before</title></head><body><h1>plain page</h1>"
                b"<script src='/set-title.js'></script></body></html>")
        if self.path == "/set-title.js":
            body = b"document.title = 'scripts run';"
        self.send_response(200)
        self.send_header("Content-Type", "text/javascript" if self.path.endswith(".js")
                         else "text/html")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_debian_chromium_loads_a_page_and_runs_its_script(browser: Browser, page: Page) -> None:
    debian = subprocess.run([require_chromium(), "--version"], capture_output=True, text=True,
                            check=True).stdout.split()
    assert browser.version in debian  # e.g. "Chromium 156.0.8078.114": not a downloaded one
    server = ThreadingHTTPServer((LOOPBACK, 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page.goto(f"http://{LOOPBACK}:{server.server_address[1]}/")
        expect(page.locator("h1")).to_have_text("plain page")
        expect(page).to_have_title("scripts run")  # the desk's htmx needs scripts
    finally:
        server.shutdown()
        server.server_close()


def test_the_login_page_renders(page: Page, desk: Desk) -> None:
    answer = page.goto(desk.url("/login"))
    assert answer is not None and answer.status == 200
    expect(page.locator("input[name=username]")).to_be_visible()
    expect(page.locator("input[name=password]")).to_be_visible()
    expect(page.locator("input[name=csrf_token]")).to_have_count(1)


def test_every_page_but_login_needs_a_session(page: Page, desk: Desk) -> None:
    for path in ("/cases", "/dashboard", "/admin", f"/cases/{desk.refs['search']}"):
        assert http_status(desk.url(path)) == 303, path
    page.goto(desk.url("/cases"))
    expect(page).to_have_url(desk.url("/login"))
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "not her password")
    page.press("input[name=password]", "Enter")
    expect(page.locator(".flash.error")).to_be_visible()
    expect(page).to_have_url(desk.url("/login"))
