"""The agents' desk over HTTP: Starlette's TestClient on a real SQLite database (and a real
`ingestd web` process for the command itself). The browser tests drive the same pages in
Chromium; these check what a request and its answer must carry."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest

from ingestd import casework
from ingestd.casework import users
from ingestd.web import create_app
from ingestd.web.security import CSP
from storage import reading, transaction
from tests.servers import SmtpSink, free_port, wait_for
from tests.support import REPO, ConfigSpec, Ingestd, complaint, mail, write_config

with warnings.catch_warnings():  # Starlette would rather have httpx2; httpx serves
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
FLASH = re.compile(r'<p class="flash ([a-z]+)"[^>]*>([^<]*)</p>')


class Browser:
    """A TestClient that keeps its cookie, knows its CSRF token and never follows redirects."""

    def __init__(self, app: Any, base_url: str = "http://testserver") -> None:
        self.client = TestClient(app, base_url=base_url, follow_redirects=False)
        self.token = ""

    def get(self, path: str, **kwargs: Any) -> Any:
        response = self.client.get(path, **kwargs)
        if found := TOKEN.search(response.text):
            self.token = found.group(1)
        return response

    def post(self, path: str, data: dict[str, Any] | None = None, *, token: bool = True) -> Any:
        form = {**(data or {}), **({"csrf_token": self.token} if token else {})}
        return self.client.post(path, data=form)

    def login(self, name: str, password: str = PASSWORD) -> Any:
        self.get("/login")
        return self.post("/login", {"username": name, "password": password})

    def flashes(self, path: str) -> list[tuple[str, str]]:
        return FLASH.findall(self.get(path).text)


class Desk:
    def __init__(self, ingestd: Ingestd) -> None:
        self.ingestd = ingestd
        self.app = create_app(ingestd.services)

    def browser(self, base_url: str = "http://testserver") -> Browser:
        return Browser(self.app, base_url)

    def deliver(self, raw: bytes) -> str:
        """Hand a mail to the Maildir, drain it; the reference of its case."""
        maildir = self.ingestd.settings.maildir[0].path
        (maildir / "new" / f"{make_msgid()[1:-1]}.eml").write_bytes(raw)
        self.ingestd.drain()
        with reading(self.ingestd.services.factory) as s:
            return str(casework.list_cases(s)[-1]["reference"])

    def case(self, reference: str) -> dict[str, Any]:
        with reading(self.ingestd.services.factory) as s:
            return casework.detail(s, casework.get_case(s, reference))


def _desk(tmp_path: Path, smtp_port: int | None = None) -> Iterator[Desk]:
    maildir = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    config = write_config(tmp_path, ConfigSpec(db_url=f"sqlite:///{tmp_path / 'desk.db'}",
                                               maildirs={"inbox": maildir},
                                               smtp_port=smtp_port))
    ingestd = Ingestd(config)
    with transaction(ingestd.services.factory) as s:
        users.add_user(s, "alice", "alice@example.test", "agent", PASSWORD)
        users.add_user(s, "boss", "boss@example.test", "admin", PASSWORD)
    try:
        yield Desk(ingestd)
    finally:
        ingestd.close()


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    yield from _desk(tmp_path)


@pytest.fixture
def alice(desk: Desk) -> Browser:
    browser = desk.browser()
    assert browser.login("alice").status_code == 303
    return browser


def test_pages_need_a_login_and_a_right_password(desk: Desk) -> None:
    reference = desk.deliver(complaint(1))
    browser = desk.browser()
    assert browser.get("/cases").headers["location"] == "/login"
    assert browser.get(f"/cases/{reference}").headers["location"] == "/login"
    wrong = browser.login("alice", "not the password")
    assert wrong.status_code == 200
    assert ("error", "wrong name or password") in FLASH.findall(wrong.text)
    right = browser.post("/login", {"username": "alice", "password": PASSWORD})
    assert (right.status_code, right.headers["location"]) == (303, "/cases")
    page = browser.get("/cases")
    assert f'<tr data-ref="{reference}"' in page.text
    assert 'id="cases"' in page.text


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(desk: Desk,
                                                                       alice: Browser) -> None:
    reference = desk.deliver(complaint(2))
    alice.get(f"/cases/{reference}")
    assert alice.post(f"/cases/{reference}/assign", {"assignee": "alice"},
                      token=False).status_code == 403
    assert alice.post(f"/cases/{reference}/assign", {"assignee": "alice",
                                                     "csrf_token": "forged"},
                      token=False).status_code == 403
    assert alice.client.post(f"/cases/{reference}/notes", data={"text": "x"},
                             headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert desk.case(reference)["assignee"] is None
    accepted = alice.client.post(f"/cases/{reference}/assign", data={"assignee": "alice"},
                                 headers={"X-CSRF-Token": alice.token})
    assert accepted.status_code == 303
    assert desk.case(reference)["assignee"] == "alice"


def test_an_agent_gets_403_on_the_admin_pages_and_an_admin_sees_them(desk: Desk,
                                                                      alice: Browser) -> None:
    for path in ("/admin", "/admin/model"):
        assert alice.get(path).status_code == 403
    assert alice.post("/admin/model/promote", {"version": "x"}).status_code == 403
    boss = desk.browser()
    boss.login("boss")
    assert boss.get("/admin").status_code == 200
    model = boss.get("/admin/model")
    assert model.status_code == 200
    assert 'id="model-card"' in model.text


def test_every_answer_carries_the_csp_and_the_cookie_is_httponly(desk: Desk) -> None:
    browser = desk.browser()
    login = browser.get("/login")
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    for response in (login, browser.get("/healthz"), browser.get("/cases"),
                     browser.get("/static/htmx.min.js"), browser.post("/cases/bulk", token=False)):
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
    assert "'unsafe-inline'" not in CSP
    over_tls = desk.browser("https://desk.example.test").get("/login")
    assert "; Secure" in over_tls.headers["set-cookie"]


def test_script_in_a_customers_subject_and_html_renders_inert(desk: Desk,
                                                              alice: Browser) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"] = "Mallory <mallory@example.net>", "support@example.test"
    msg["Subject"] = "<script>alert('subject')</script> my order"
    msg["Message-ID"] = make_msgid(domain="example.net")
    msg.set_content("<script>alert('body')</script> the parcel never came")
    msg.add_alternative('<p>The parcel <img src="x" onerror="alert(1)"> never came'
                        '<script>alert(2)</script><a href="javascript:alert(3)">here</a></p>',
                        subtype="html")
    reference = desk.deliver(msg.as_bytes())
    for page in (alice.get("/cases?view=all").text, alice.get(f"/cases/{reference}").text):
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert(&#39;subject&#39;)&lt;/script&gt;" in page
    case_page = alice.get(f"/cases/{reference}").text
    assert "onerror" not in case_page
    assert "javascript:" not in case_page
    assert "<script>" not in case_page.split('class="html-body">', 1)[1]
    assert 'class="html-body"><p>The parcel <img> never came' in case_page  # nothing of ours


def test_a_reply_reaches_the_customer_threaded_with_the_tag(tmp_path: Path,
                                                            smtp_sink: SmtpSink) -> None:
    desk = next(_desk(tmp_path, smtp_port=smtp_sink.port))
    try:
        customer_id = make_msgid(domain="customer.example")
        reference = desk.deliver(mail("Ann <ann@example.net>", "Broken kettle",
                                      "It sparked when I switched it on.",
                                      message_id=customer_id))
        alice = desk.browser()
        alice.login("alice")
        alice.get(f"/cases/{reference}")
        answer = alice.post(f"/cases/{reference}/reply",
                            {"body": "We are sending a new kettle today."})
        assert (answer.status_code, answer.headers["location"]) == (303, f"/cases/{reference}")
        assert ("info", "reply to ann@example.net queued") in alice.flashes(f"/cases/{reference}")
        desk.ingestd.send()
        replies = [m for m in smtp_sink.messages if m.rcpt_tos == ("ann@example.net",)
                   and "new kettle" in m.data.decode()]
        assert len(replies) == 1
        sent = replies[0].message
        assert sent["In-Reply-To"] == customer_id
        assert f"[{reference}]" in sent["Subject"]
        assert 'class="message out"' in alice.get(f"/cases/{reference}").text
    finally:
        desk.ingestd.close()


def test_five_failed_logins_a_minute_then_429(desk: Desk) -> None:
    browser = desk.browser()
    for _ in range(5):
        assert browser.login("alice", "guess").status_code == 200
    assert browser.login("alice").status_code == 429
    assert desk.browser().login("boss").status_code == 303  # another name is not held up


def test_an_idle_session_expires_and_polling_does_not_keep_it_alive(desk: Desk,
                                                                    alice: Browser) -> None:
    now = [0.0]
    desk.app.state.desk.sessions.clock = lambda: now[0]
    alice.login("alice")
    now[0] = 20 * 60
    assert alice.get("/cases/rows").status_code == 200
    now[0] = 40 * 60  # 40 minutes after the last click, 20 after the last poll
    assert alice.get("/cases").headers["location"] == "/login"
    polled = alice.get("/cases/rows", headers={"HX-Request": "true"})
    assert (polled.status_code, polled.headers["hx-redirect"]) == (401, "/login")


def test_logging_out_ends_the_session_for_good(desk: Desk, alice: Browser) -> None:
    cookie = alice.client.cookies.get("ingestd_desk")
    alice.get("/cases")
    assert alice.post("/logout").headers["location"] == "/login"
    stolen = desk.browser()
    stolen.client.cookies.set("ingestd_desk", cookie or "")
    assert stolen.get("/cases").headers["location"] == "/login"


def test_a_disabled_user_is_out_at_the_next_request(desk: Desk, alice: Browser) -> None:
    assert alice.get("/cases").status_code == 200
    with transaction(desk.ingestd.services.factory) as s:
        users.disable_user(s, "alice")
    assert alice.get("/cases").headers["location"] == "/login"


def test_status_offers_only_allowed_moves_and_a_refused_one_says_why(desk: Desk,
                                                                     alice: Browser) -> None:
    reference = desk.deliver(complaint(3))
    page = alice.get(f"/cases/{reference}").text
    form = page.split('id="status"', 1)[1].split("</form>", 1)[0]
    offered = re.findall(r"<option>([a-z]+)</option>", form)
    assert offered == list(casework.allowed_moves(desk.case(reference)["status"]))
    assert "closed" not in offered
    alice.post(f"/cases/{reference}/status", {"status": "closed"})
    kind, text = alice.flashes(f"/cases/{reference}")[0]
    assert kind == "error"
    assert "cannot go from" in text
    assert desk.case(reference)["status"] != "closed"
    alice.post(f"/cases/{reference}/status", {"status": "investigating", "note": "on it"})
    assert desk.case(reference)["status"] == "investigating"


def test_the_list_searches_filters_sorts_and_shows_breached_deadlines(desk: Desk,
                                                                      alice: Browser) -> None:
    kettle = desk.deliver(mail("Ann <ann@example.net>", "Kettle", "The thermostat clicks."))
    other = desk.deliver(complaint(5))
    found = alice.get("/cases", params={"q": "thermostat"}).text
    assert f'data-ref="{kettle}"' in found
    assert f'data-ref="{other}"' not in found
    assert f'data-ref="{kettle}"' not in alice.get("/cases", params={
        "customer": "someone@else.example"}).text
    by_reference = alice.get("/cases", params={"view": "all", "sort": "-reference"}).text
    assert by_reference.index(f'data-ref="{other}"') < by_reference.index(f'data-ref="{kettle}"')
    later = desk.ingestd.services.clock() + timedelta(days=30)
    desk.ingestd.services.clock = lambda: later
    late = alice.get("/cases/rows", params={"view": "all"}).text
    due = re.search(rf'data-ref="{kettle}".*?<td class="due( breached)?"[^>]*>(-?[^<]*)',
                    late, re.S)
    assert due is not None
    assert (due.group(1), due.group(2)[0]) == (" breached", "-")
    bad = alice.get("/cases", params={"sort": "nonsense", "level": "x"})
    assert bad.status_code == 200
    assert len([f for f in FLASH.findall(bad.text) if f[0] == "error"]) == 2


def test_bulk_assign_changes_every_ticked_case(desk: Desk, alice: Browser) -> None:
    references = [desk.deliver(complaint(n)) for n in range(10, 14)]
    alice.get("/cases")
    answer = alice.post("/cases/bulk", {"refs": references[:3], "action": "assign",
                                        "value": "boss"})
    assert answer.status_code == 303
    assert [desk.case(r)["assignee"] for r in references] == ["boss", "boss", "boss", None]
    alice.post("/cases/bulk", {"refs": references[3:], "action": "assign", "value": "nobody"})
    assert desk.case(references[3])["assignee"] is None
    kinds = [kind for kind, _ in alice.flashes("/cases")]
    assert kinds == ["info", "error"]  # 3 changed; then nothing: no user 'nobody'


def test_notes_labels_recovery_and_not_a_complaint_from_the_case_page(desk: Desk,
                                                                      alice: Browser) -> None:
    reference = desk.deliver(complaint(7))
    alice.get(f"/cases/{reference}")
    alice.post(f"/cases/{reference}/notes", {"text": "Customer called <b>twice</b>."})
    alice.post(f"/cases/{reference}/labels", {"category": "billing", "severity": "high"})
    alice.post(f"/cases/{reference}/recovery", {"kind": "refund", "amount": "12.50"})
    alice.post(f"/cases/{reference}/corrective", {"root_cause": "double charge",
                                                  "action": "fixed the retry"})
    page = alice.get(f"/cases/{reference}").text
    notes = page.split('id="notes"', 1)[1].split("</form>", 1)[0]
    assert "Customer called &lt;b&gt;twice&lt;/b&gt;." in notes
    case = desk.case(reference)
    assert (case["category"], case["severity"]) == ("billing", "high")
    assert case["recovery"]["latest"] == "refund"
    assert case["corrective_action"]["root_cause"] == "double charge"
    alice.post(f"/cases/{reference}/not-complaint", {"reason": "newsletter"})
    assert desk.case(reference)["status"] == "closed"
    assert f'data-ref="{reference}"' not in alice.get("/cases").text  # the open view


def test_an_attachment_downloads_as_it_came_and_never_inline(desk: Desk,
                                                             alice: Browser) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "ann@example.net", "support@example.test", "Photo"
    msg["Message-ID"] = make_msgid(domain="example.net")
    msg.set_content("The photo of the broken lid is attached.")
    picture = bytes(range(256)) * 40
    msg.add_attachment(picture, maintype="image", subtype="jpeg", filename="lid é.jpg")
    msg.add_attachment(b"<script>alert(1)</script>", maintype="text", subtype="html",
                       filename="page.html")
    reference = desk.deliver(msg.as_bytes())
    page = alice.get(f"/cases/{reference}").text
    links = re.findall(rf'href="(/cases/{reference}/attachments/\d+)"', page)
    assert len(links) == 2
    photo = alice.get(links[0])
    assert photo.content == picture
    assert photo.headers["content-disposition"] == \
        "attachment; filename*=UTF-8''lid%20%C3%A9.jpg"
    html = alice.get(links[1])
    assert html.headers["content-type"] == "application/octet-stream"
    assert html.headers["content-disposition"].startswith("attachment")
    assert alice.get(f"/cases/{reference}/attachments/9").status_code == 404


def test_the_dashboard_shows_this_month_and_draws_its_plots(desk: Desk, alice: Browser) -> None:
    desk.deliver(complaint(1))
    desk.deliver(complaint(2))
    page = alice.get("/dashboard").text
    assert 'id="dashboard"' in page
    assert re.search(r'id="volume"><span class="figure">2</span>', page)
    plots = re.findall(r'<img src="(/dashboard/plots/[^"]+\.png)"', page)
    assert any(p.endswith("/trend.png") for p in plots)
    picture = alice.get(plots[0])
    assert picture.headers["content-type"] == "image/png"
    assert picture.content.startswith(b"\x89PNG")


def test_an_admin_promotes_a_candidate_with_the_training_promote(tmp_path: Path) -> None:
    models = tmp_path / "models"
    candidate = models / "candidates" / "2099.01.01-cafe"
    candidate.mkdir(parents=True)
    for name, target in (("current.skops", "model.skops"), ("current.card.md", "card.md")):
        shutil.copyfile(REPO / "models" / name, models / name)
        shutil.copyfile(REPO / "models" / name, candidate / target)
    card = (REPO / "models" / "current.card.json").read_text(encoding="utf-8")
    (models / "current.card.json").write_text(card, encoding="utf-8")
    renamed = re.sub(r'"model_version": "[^"]+"', '"model_version": "2099.01.01-cafe"', card,
                     count=1)
    (candidate / "card.json").write_text(renamed, encoding="utf-8")
    desk = next(_desk(tmp_path))
    try:  # the configured model lives in this test's own folder
        desk.ingestd.services.settings = desk.ingestd.settings.model_copy(update={
            "triage": desk.ingestd.settings.triage.model_copy(
                update={"model": models / "current.skops"})})
        boss = desk.browser()
        boss.login("boss")
        page = boss.get("/admin/model").text
        assert 'data-version="2099.01.01-cafe"' in page
        boss.post("/admin/model/promote", {"version": "../../etc"})
        assert boss.flashes("/admin/model")[0][0] == "error"
        assert boss.post("/admin/model/promote",
                         {"version": "2099.01.01-cafe"}).status_code == 303
        assert '"model_version": "2099.01.01-cafe"' in \
            (models / "current.card.json").read_text(encoding="utf-8")
        assert "2099.01.01-cafe</strong>" in boss.get("/admin/model").text
    finally:
        desk.ingestd.close()


def test_ingestd_web_serves_until_stopped_and_says_where(desk: Desk) -> None:
    port = free_port()
    config = str(desk.ingestd.settings.path)
    process = subprocess.Popen([sys.executable, "-m", "ingestd", "--config", config, "web",
                                "--listen", f"127.0.0.1:{port}"], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == f"web desk at http://127.0.0.1:{port}/"
        wait_for(lambda: _get(port, "/healthz").startswith("HTTP/1.1 200"), timeout=20)
        answer = _get(port, "/healthz")
        assert answer.endswith("\r\n\r\nok")
        assert f"content-security-policy: {CSP}\r\n" in answer
        busy = subprocess.run([sys.executable, "-m", "ingestd", "--config", config, "web",
                               "--listen", f"127.0.0.1:{port}"], cwd=REPO, capture_output=True,
                              text=True, timeout=60, check=False)
        assert busy.returncode == 1
        assert busy.stderr.strip().splitlines() == [
            f"ingestd: the web desk cannot listen on 127.0.0.1:{port} (Address already in "
            "use); choose another with --listen HOST:PORT or [web] listen"]
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0


def _get(port: int, path: str) -> str:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            return b"".join(iter(lambda: conn.recv(65536), b"")).decode()
    except OSError:
        return ""


def test_ingestd_run_serves_the_desk_when_enabled(tmp_path: Path) -> None:
    port = free_port()
    maildir = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    config = write_config(tmp_path, ConfigSpec(
        db_url=f"sqlite:///{tmp_path / 'run.db'}", maildirs={"inbox": maildir},
        extra=f'[web]\nenabled = true\nlisten = "127.0.0.1:{port}"\n'))
    Ingestd(config).close()  # the schema
    process = subprocess.Popen([sys.executable, "-m", "ingestd", "--config", str(config), "run"],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _get(port, "/login").startswith("HTTP/1.1 200"), timeout=60)
        assert 'name="csrf_token"' in _get(port, "/login")
        (maildir / "new" / "1.eml").write_bytes(complaint(1))  # and the daemon works beside it
        wait_for(lambda: any((tmp_path / "outbox").glob("*.eml")), timeout=60)
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0


@pytest.mark.parametrize(("table", "named"), [
    ('listen = "8025"', "bad value for 'web.listen': '8025' is not HOST:PORT"),
    ('listen = "127.0.0.1:70000"', "bad value for 'web.listen': port 70000 is out of range"),
    ("idle_minute = 5", "unknown key 'web.idle_minute'"),
    ('secure_cookies = "yes"', "bad value for 'web.secure_cookies'"),
])
def test_a_bad_web_setting_is_one_line_naming_the_key(tmp_path: Path, table: str,
                                                      named: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[web]\n{table}\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "ingestd", "--config", str(config), "web"],
                            cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 78
    assert len(result.stderr.strip().splitlines()) == 1
    assert named in result.stderr


def test_the_quoted_history_of_a_reply_is_folded_away(desk: Desk, alice: Browser) -> None:
    reference = desk.deliver(mail("Ann <ann@example.net>", "Kettle still broken",
                                  "It still sparks.\n\nOn Mon, 1 Dec 2026 at 10:00, Support "
                                  "wrote:\n> We have sent you a new kettle.\n> Kind regards"))
    page = alice.get(f"/cases/{reference}").text
    message = page.split('<article class="message in">', 1)[1].split("</article>", 1)[0]
    assert '<pre class="body">It still sparks.</pre>' in message
    folded = message.split('<details class="quoted">', 1)[1]
    assert "&gt; We have sent you a new kettle." in folded
