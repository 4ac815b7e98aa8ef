"""The browser itself: Debian's chromium (not a downloaded one) starts and renders our page.

Playwright pins a newer Chromium than Debian ships; if the two stop speaking the same
protocol, this is the test that says so first."""

from __future__ import annotations

import subprocess

from playwright.sync_api import Browser, Page, expect

from tests.web_support import Desk, http_status, require_chromium


def test_debian_chromium_renders_the_login_page(browser: Browser, page: Page,
                                                desk: Desk) -> None:
    debian = subprocess.run([require_chromium(), "--version"], capture_output=True, text=True,
                            check=True).stdout.split()
    assert browser.version in debian  # e.g. "Chromium 156.0.8078.114"
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
