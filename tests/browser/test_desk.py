"""An agent's day in the web desk, in Debian's chromium, on SQLite and on PostgreSQL.

Each test works on its own cases of the shared desk (tests/web_support.py), so they pass in
any order; what the page shows is checked against the command line and the SMTP sink.
"""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.web_support import (
    BULK_CASES,
    BULK_WORD,
    LIVE_WORD,
    SEARCH_WORD,
    USERS,
    Desk,
    screenshot_path,
)

Login = Callable[[str], Page]


def _rows(page: Page) -> list[str]:
    refs = page.locator("table#cases tr[data-ref]").evaluate_all(
        "rows => rows.map(r => r.dataset.ref)")
    return [str(ref) for ref in refs]


def _submit(page: Page, form: str) -> None:
    """Submit a case form and wait for the page it leads back to."""
    with page.expect_navigation():
        page.locator(f"form#{form} [type=submit]").first.click()


def test_find_a_case_by_a_word_of_its_body_and_open_it(login: Login, desk: Desk) -> None:
    page = login("alice")
    page.goto(desk.url("/cases?view=all"))
    expect(page.locator("table#cases tr[data-ref]").first).to_be_visible()
    page.screenshot(path=screenshot_path(f"{desk.backend}-list.png"), full_page=True)

    page.fill("form#search input[name=q]", SEARCH_WORD)
    page.press("form#search input[name=q]", "Enter")
    ref = desk.refs["search"]
    expect(page.locator("table#cases tr[data-ref]")).to_have_count(1)
    assert _rows(page) == [ref]
    page.locator(f"table#cases tr[data-ref='{ref}'] a.case-link").click()
    expect(page).to_have_url(desk.url(f"/cases/{ref}"))
    expect(page.locator("#conversation article.message.in").first).to_contain_text(
        f"The jar of {SEARCH_WORD} in order 7781 arrived smashed")
    for section in ("#triage", "#sla", "#escalations", "#notes", "#events"):
        expect(page.locator(section)).to_be_attached()
    page.screenshot(path=screenshot_path(f"{desk.backend}-case.png"), full_page=True)


def test_reply_reaches_the_customer_threaded_and_tagged(login: Login, desk: Desk) -> None:
    page = login("alice")
    ref = desk.refs["reply"]
    page.goto(desk.url(f"/cases/{ref}"))
    text = "We are sending size M today; keep the XL or give it to a friend."
    page.fill("form#reply textarea[name=body]", text)
    _submit(page, "reply")
    expect(page).to_have_url(desk.url(f"/cases/{ref}"))
    expect(page.locator(".flash").first).to_be_visible()
    expect(page.locator(".flash.error")).to_have_count(0)
    expect(page.locator("#conversation article.message.out").last).to_contain_text("size M")

    sent = desk.mail_to(desk.address("reply"), "keep the XL")
    assert sent.message["In-Reply-To"] == desk.message_id("reply")
    assert f"[{ref}]" in sent.message["Subject"]
    assert "alice" in [e["actor"] for e in desk.case(ref)["events"] if e["kind"] == "reply"]


def test_assign_gives_the_case_to_a_user_and_tells_them(login: Login, desk: Desk) -> None:
    page = login("alice")
    ref = desk.refs["assign"]
    page.goto(desk.url(f"/cases/{ref}"))
    page.select_option("form#assign select[name=assignee]", "bob")
    _submit(page, "assign")
    expect(page.locator(".flash").first).to_be_visible()
    expect(page.locator(".flash.error")).to_have_count(0)
    expect(page.locator("#events")).to_contain_text("bob")
    assert desk.case(ref)["assignee"] == "bob"

    desk.mail_to(USERS["bob"][0], f"has given you case {ref}")  # sent by the daemon


def test_status_offers_only_the_workflows_moves(login: Login, desk: Desk) -> None:
    page = login("alice")
    ref = desk.refs["status"]
    page.goto(desk.url(f"/cases/{ref}"))
    offered = page.locator("form#status select[name=status] option").evaluate_all(
        "options => options.map(o => o.value).filter(v => v)")
    assert set(offered) <= {"acknowledged", "investigating"}  # acknowledged -> investigating
    assert "investigating" in offered
    page.select_option("form#status select[name=status]", "investigating")
    page.fill("form#status input[name=note]", "asked the courier")
    _submit(page, "status")
    expect(page.locator(".flash.error")).to_have_count(0)
    expect(page.locator("#events")).to_contain_text("asked the courier")
    assert desk.case(ref)["status"] == "investigating"

    # A move the workflow forbids (investigating -> closed), forced into the form by hand,
    # is refused with casework's own words and changes nothing.
    page.locator("form#status select[name=status]").evaluate(
        "s => { const o = document.createElement('option'); o.value = o.text = 'closed';"
        " s.add(o); s.value = 'closed'; }")
    _submit(page, "status")
    expect(page.locator(".flash.error")).to_contain_text("cannot go from investigating to closed")
    assert desk.case(ref)["status"] == "investigating"


def test_label_correction_is_recorded(login: Login, desk: Desk) -> None:
    page = login("alice")
    ref = desk.refs["labels"]
    before = desk.case(ref)
    category = "delivery" if before["category"] != "delivery" else "billing"
    page.goto(desk.url(f"/cases/{ref}"))
    page.select_option("form#labels select[name=category]", category)
    page.select_option("form#labels select[name=severity]", "high")
    _submit(page, "labels")
    expect(page.locator(".flash.error")).to_have_count(0)
    expect(page.locator("#triage")).to_contain_text(category)
    after = desk.case(ref)
    assert (after["category"], after["severity"]) == (category, "high")
    [label] = [e for e in after["events"] if e["kind"] == "label"]
    assert label["actor"] == "alice" and label["new"] == f"{category}/high"


def test_bulk_assign_twenty_cases(login: Login, desk: Desk) -> None:
    page = login("alice")
    page.goto(desk.url(f"/cases?view=all&q={BULK_WORD}"))
    boxes = page.locator("table#cases input[name=refs]")
    expect(boxes).to_have_count(BULK_CASES)
    bulk = {desk.refs[f"bulk{n:02d}"] for n in range(BULK_CASES)}
    assert set(_rows(page)) == bulk
    for n in range(BULK_CASES):
        boxes.nth(n).check()
    page.select_option("form#bulk select[name=action]", "assign")
    value = page.locator("form#bulk [name=value]")
    if value.evaluate("e => e.tagName") == "SELECT":
        value.select_option("bob")
    else:
        value.fill("bob")
    page.click("button#bulk-apply")
    expect(page.locator(".flash").first).to_contain_text("20")
    expect(page.locator(".flash.error")).to_have_count(0)
    assigned = {case["reference"] for case in desk.cases("--assignee", "bob")}
    assert bulk <= assigned


def test_a_customers_reply_shows_up_live_and_the_assignee_hears_of_it(
        login: Login, desk: Desk) -> None:
    ref = desk.refs["live"]
    page = login("alice")  # takes the case, works it, resolves it
    page.goto(desk.url(f"/cases/{ref}"))
    page.select_option("form#assign select[name=assignee]", "alice")
    _submit(page, "assign")
    for status in ("investigating", "resolved"):
        page.select_option("form#status select[name=status]", status)
        _submit(page, "status")
        expect(page.locator(".flash.error")).to_have_count(0)
    page.goto(desk.url(f"/cases?view=all&q={LIVE_WORD}"))
    row = page.locator(f"table#cases tr[data-ref='{ref}']")
    expect(row).to_contain_text("resolved")
    assert _rows(page) == [ref]

    desk.deliver(desk.customer_mail(
        "live", "Re: Broken lamp", f"The new {LIVE_WORD} lamp has a cracked shade too!",
        in_reply_to=desk.message_id("live")))
    desk.deliver(desk.customer_mail(
        "newcomer", "Lamp shade", f"My {LIVE_WORD} lamp came without its shade."))
    # The daemon takes both in; no reload: the list refreshes itself (htmx polling every 5 s).
    expect(row).to_contain_text("investigating", timeout=30_000)  # the reply reopened it
    expect(page.locator("table#cases tr[data-ref]")).to_have_count(2, timeout=30_000)
    assert desk.case(ref)["status"] == "investigating"
    notice = desk.mail_to(USERS["alice"][0], "has a cracked shade too")  # to the assignee
    assert ref in notice.data.decode(errors="replace")


def test_dashboard_shows_this_month_with_its_plots(login: Login, desk: Desk) -> None:
    page = login("carol")
    page.goto(desk.url("/dashboard"))
    dashboard = page.locator("#dashboard")
    expect(dashboard).to_be_visible()
    plots = dashboard.locator("img")
    expect(plots.first).to_be_visible()
    for n in range(plots.count()):  # loaded lazily: each once it is scrolled to
        plots.nth(n).scroll_into_view_if_needed()
        plots.nth(n).evaluate("i => i.decode()")  # rejects if the PNG does not load
    widths = plots.evaluate_all("images => images.map(i => i.naturalWidth)")
    assert widths and all(w > 0 for w in widths), widths  # every plot a real image
    page.screenshot(path=screenshot_path(f"{desk.backend}-dashboard.png"), full_page=True)
