"""The web desk against hostile mail and forged requests, in Debian's chromium."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import ConsoleMessage, Dialog, Page, expect

from tests.support import REPO
from tests.web_support import XSS_ATTACHMENT, Desk

Login = Callable[[str], Page]

CSP = ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'")
COOKIE = "ingestd_desk"  # the session cookie
XSS_GLOBALS = ("xssSubject", "xssText", "xssImg", "xssHtml", "xssLink")


def _token(page: Page) -> str:
    return str(page.locator("input[name=csrf_token]").first.input_value())


def test_a_post_without_the_csrf_token_is_refused(login: Login, desk: Desk) -> None:
    page = login("alice")
    ref = desk.refs["csrf"]
    page.goto(desk.url(f"/cases/{ref}"))
    token = _token(page)
    assign = desk.url(f"/cases/{ref}/assign")
    # The session cookie goes along (same browser context): only the token is missing/wrong.
    bare = page.request.post(assign, form={"assignee": "bob"}, max_redirects=0)
    assert bare.status == 403
    forged = page.request.post(assign, form={"assignee": "bob", "csrf_token": "forged"},
                               headers={"X-CSRF-Token": "forged"}, max_redirects=0)
    assert forged.status == 403
    bulk = page.request.post(desk.url("/cases/bulk"), max_redirects=0,
                             form={"refs": ref, "action": "assign", "value": "bob"})
    assert bulk.status == 403
    assert desk.case(ref)["assignee"] is None  # nothing happened

    # The same request with the page's token is the form's own: accepted.
    accepted = page.request.post(assign, form={"assignee": "bob", "csrf_token": token},
                                 max_redirects=0)
    assert accepted.status == 303
    assert desk.case(ref)["assignee"] == "bob"


def test_hostile_mail_renders_inert(login: Login, desk: Desk) -> None:
    page = login("alice")
    dialogs: list[str] = []
    console: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        console.append(message.text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    ref = desk.refs["xss"]

    listed = page.goto(desk.url("/cases?view=all&q=kettle"))
    assert listed is not None
    policy = listed.headers.get("content-security-policy", "")
    assert all(rule in policy for rule in CSP), policy
    assert listed.headers.get("x-content-type-options") == "nosniff"
    row = page.locator(f"table#cases tr[data-ref='{ref}']")
    expect(row).to_contain_text("<script>")  # shown as the customer wrote it, as text

    page.goto(desk.url(f"/cases/{ref}"))
    conversation = page.locator("#conversation")
    expect(conversation).to_contain_text("melted")
    page.wait_for_timeout(500)  # give a broken image's onerror the time to fire
    assert page.evaluate(
        "names => names.filter(n => window[n] !== undefined)", list(XSS_GLOBALS)) == []
    assert dialogs == []
    assert not [text for text in console if "XSS-RAN" in text], console
    # The page's DOM carries none of the mail's active content.
    assert page.locator("#conversation script, #conversation iframe").count() == 0
    assert page.locator("[onerror], [onload]").count() == 0
    hrefs = page.locator("#conversation a").evaluate_all("links => links.map(a => a.href)")
    assert not [h for h in hrefs if str(h).lower().startswith("javascript:")], hrefs
    expect(page.locator("h1, h2").filter(has_text="<script>").first).to_be_visible()

    # The mail's HTML attachment downloads as the bytes it came with; nothing renders it.
    name, data = XSS_ATTACHMENT
    with page.expect_download() as download:
        page.locator("#attachments a", has_text=name).click()
    assert download.value.suggested_filename == name
    assert Path(download.value.path()).read_bytes() == data
    assert dialogs == []


def test_an_agent_cannot_see_the_admin_pages(login: Login, desk: Desk) -> None:
    page = login("alice")
    for path in ("/admin", "/admin/model"):
        answer = page.goto(desk.url(path))
        assert answer is not None and answer.status == 403, path
    token = _token_from(page, desk)
    promote = page.request.post(desk.url("/admin/model/promote"), max_redirects=0,
                                form={"csrf_token": token})
    assert promote.status == 403


def test_an_admin_sees_the_model_in_service(login: Login, desk: Desk) -> None:
    page = login("carol")
    answer = page.goto(desk.url("/admin/model"))
    assert answer is not None and answer.status == 200
    version = json.loads((REPO / "models" / "current.card.json").read_text())["model_version"]
    expect(page.locator("body")).to_contain_text(version)  # the model card in service


def _token_from(page: Page, desk: Desk) -> str:
    page.goto(desk.url("/cases"))
    return _token(page)


def test_the_session_cookie_is_httponly_renewed_at_login_and_dropped_at_logout(
        login: Login, page: Page, desk: Desk) -> None:
    def cookie() -> dict[str, object]:
        [session] = [c for c in page.context.cookies() if c["name"] == COOKIE]
        return dict(session)

    page.goto(desk.url("/login"))
    before = cookie()
    login("alice")
    after = cookie()
    assert after["value"] != before["value"]  # no session fixation
    assert after["httpOnly"] is True and after["sameSite"] in ("Lax", "Strict")

    with page.expect_navigation():
        page.locator("form[action='/logout'] [type=submit]").click()
    expect(page).to_have_url(desk.url("/login"))
    page.context.add_cookies([after])  # the old session, replayed
    answer = page.request.get(desk.url("/cases"), max_redirects=0)
    assert answer.status == 303 and answer.headers["location"].endswith("/login")


def test_logins_are_throttled_after_five_failures(login: Login, page: Page,
                                                  desk: Desk) -> None:
    page.goto(desk.url("/login"))
    token = _token(page)
    guesses = [page.request.post(desk.url("/login"), form={
        "username": "mallory", "password": f"guess {n}", "csrf_token": token})
        for n in range(6)]
    assert [g.status for g in guesses] == [200] * 5 + [429]
    login("alice")  # counted per name and address: others still get in
