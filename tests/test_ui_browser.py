"""The user's page at /ui: its security headers (quick), and a real headless browser
driving it against a real `tailor serve` (slow).

The browser is Debian's ``chromium`` with its ``chromedriver`` (``make browser`` installs
both), driven by Selenium with both paths given, so nothing is downloaded. Without
them the browser test skips, except where ``TAILOR_REQUIRE_BROWSER=1`` (CI) makes it
fail. Its screenshots are kept in ``test-artifacts/`` (``ui.png``, ``ui-playground.png``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service.routes.ui import UI_DIR
from tests.conftest import bearer
from tests.live import Server

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
USER = "ann"
#: three emails the user edited the same way: Tailor learns and verifies rules from them
SEED = [
    (f"Email to the team about the {topic}", f"Hello team,\n{body}\nBest regards,\nAnn")
    for topic, body in [
        ("launch", "The launch moves to Monday. Please update your calendars."),
        ("offsite", "The offsite is booked for May. Tell me about any conflicts."),
        ("budget", "The budget review is on Friday. Bring your numbers."),
    ]
]


def edited(draft: str) -> str:
    return draft.replace("Hello team,", "Hi team,").replace("\nBest regards,", "")


# -- the page's headers and assets (quick) -------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data


def test_the_page_is_served_with_a_strict_policy_and_no_inline_code(client: TestClient) -> None:
    page = client.get("/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    parsed = _Tags()
    parsed.feed(page.text)
    assert parsed.script_text.strip() == ""  # every script has a src, none is inline
    scripts = [attrs for tag, attrs in parsed.tags if tag == "script"]
    assert scripts and all(attrs.get("src") == "/ui/app.js" for attrs in scripts)
    for tag, attrs in parsed.tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)  # no inline handlers
        assert "style" not in attrs, tag
        for name in ("src", "href", "action"):
            value = attrs.get(name) or ""
            assert not re.match(r"(https?:)?//", value), (tag, value)  # nothing off this origin


def test_the_assets_are_served_and_nothing_else_of_the_folder(client: TestClient) -> None:
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
        answer = client.get(f"/ui/{name}")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(kind)
        assert answer.headers["x-content-type-options"] == "nosniff"
    for name in ("index.html", "..%2Fapp.py", "missing.js"):
        answer = client.get(f"/ui/{name}")
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"


def test_the_page_follows_the_root_path(make_app: Any) -> None:
    app = make_app()
    with TestClient(app, root_path="/tailor") as c:
        text = c.get("/ui").text
    assert 'src="/tailor/ui/app.js"' in text and 'data-root="/tailor"' in text


def test_the_script_keeps_the_key_in_session_storage_and_writes_text_only() -> None:
    source = (UI_DIR / "app.js").read_text()
    code = "\n".join(line for line in source.splitlines() if not line.strip().startswith("//"))
    for banned in (
        "localStorage",
        "document.cookie",
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
    ):
        assert banned not in code, banned
    assert "sessionStorage.setItem(KEY" in code
    assert re.search(r"fetch\(ROOT \+ path", code)  # this origin only, the key in a header
    assert "?key=" not in code and "location.hash" not in code


# -- a real browser (slow) -------------------------------------------------------------


def _require_browser() -> None:
    required = os.environ.get("TAILOR_REQUIRE_BROWSER") == "1"
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    if missing:
        message = f"no browser: {', '.join(missing)} missing (run `make browser`)"
        if required:
            pytest.fail(message)
        pytest.skip(message)


def test_a_missing_browser_fails_where_one_is_required(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(f"{__name__}.CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("TAILOR_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="no-chromium"):
        _require_browser()
    monkeypatch.delenv("TAILOR_REQUIRE_BROWSER")
    with pytest.raises(pytest.skip.Exception):
        _require_browser()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",  # the machine has no internet: ask nothing of it
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1800",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    live = Server(tmp_path_factory.mktemp("ui") / "data")
    yield live
    live.stop()


def _seed(server: Server) -> tuple[str, str]:
    """A tenant key, and a key of USER minted through the API, with USER's edits logged."""
    tenant = server.key_for("acme")
    with httpx.Client(base_url=server.url, headers=bearer(tenant), timeout=60) as api:
        for context, draft in SEED:
            body = {"context": context, "draft": draft, "final": edited(draft)}
            assert api.post(f"/v1/users/{USER}/interactions", json=body).status_code == 201
        feedback = {"text": "no exclamation marks in emails to the team", "task": "email"}
        assert api.post(f"/v1/users/{USER}/feedback", json=feedback).status_code == 201
        minted = api.post(f"/v1/users/{USER}/keys")
        assert minted.status_code == 201, minted.text
    return tenant, minted.json()["key"]


@pytest.mark.slow
def test_the_page_in_a_real_browser(server: Server, browser: Any) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    tenant, user_key = _seed(server)
    api = httpx.Client(base_url=server.url, headers=bearer(tenant), timeout=60)
    # The page re-renders a list after each change: an element found a moment ago may go.
    wait = WebDriverWait(browser, 30, ignored_exceptions=[StaleElementReferenceException])

    def find(css: str) -> Any:
        return browser.find_element(By.CSS_SELECTOR, css)

    def prefs() -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = api.get(f"/v1/users/{USER}/preferences").json()["data"]
        return data

    # Load: the page asks for a key; a user's key fills in the user by itself.
    browser.get(f"{server.url}/ui")
    wait.until(lambda d: find("#connect-form").is_displayed())
    assert not find("#app").is_displayed()
    find("#key").send_keys(user_key)
    find("#open").click()
    wait.until(lambda d: find("#app").is_displayed() and d.find_elements(By.CSS_SELECTOR, ".pref"))
    assert find("#who-text").text == f"Signed in as {USER} (acme)"
    assert find("#key").get_attribute("value") == ""  # not left in the form
    storage = browser.execute_script(
        "return [sessionStorage.getItem('tailor.key'), localStorage.length, document.cookie]"
    )
    assert storage == [user_key, 0, ""]
    assert user_key not in browser.current_url

    # List: grouped by source, with stats and evidence.
    stored = prefs()
    cards = browser.find_elements(By.CSS_SELECTOR, ".pref")
    assert len(cards) == len(stored)
    groups = {
        g.get_attribute("data-source") for g in browser.find_elements(By.CSS_SELECTOR, ".group")
    }
    assert groups == {p["source"] for p in stored} and {"rule", "edit", "feedback"} <= groups
    rule = next(p for p in stored if p["source"] == "rule" and "sign-off" in p["text"])
    card = find(f'.pref[data-id="{rule["id"]}"]')
    assert card.find_element(By.CSS_SELECTOR, ".text").text == rule["text"]
    assert "precision" in card.find_element(By.CSS_SELECTOR, ".stats").text
    assert "3 pieces of evidence" in card.find_element(By.CSS_SELECTOR, "details:last-of-type").text

    # Edit and disable: the page's changes land in the store.
    feedback = next(p for p in stored if p["source"] == "feedback")
    card = find(f'.pref[data-id="{feedback["id"]}"]')
    card.find_element(By.CSS_SELECTOR, '[data-action="edit"]').click()
    box = card.find_element(By.CSS_SELECTOR, "textarea")
    box.clear()
    box.send_keys("never use exclamation marks <b>anywhere</b>")
    card.find_element(By.CSS_SELECTOR, '[data-action="save"]').click()
    selector = f'.pref[data-id="{feedback["id"]}"] .text'
    wait.until(lambda d: find(selector).text == "never use exclamation marks <b>anywhere</b>")
    assert not browser.find_elements(By.CSS_SELECTOR, ".pref .text b")  # text, not HTML
    card_css = f'.pref[data-id="{feedback["id"]}"]'
    find(card_css + ' [data-action="toggle"]').click()
    wait.until(lambda d: "disabled" in find(card_css).get_attribute("class"))
    after = next(p for p in prefs() if p["id"] == feedback["id"])
    assert after["text"] == "never use exclamation marks <b>anywhere</b>" and after["disabled"]
    # ... and delete (after the page's confirmation).
    short = next(p for p in stored if "short sentences" in p["text"])
    find(f'.pref[data-id="{short["id"]}"] [data-action="delete"]').click()
    wait.until(lambda d: d.switch_to.alert).accept()
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, f'.pref[data-id="{short["id"]}"]'))
    assert short["id"] not in {p["id"] for p in prefs()}

    # Playground: a draft rewritten by the user's rules, edited in place, logged.
    find('[data-tab="playground"]').click()
    draft = "Hello team,\nThe party is on Thursday. Bring snacks.\nBest regards,\nAnn"
    find("#play-context").send_keys("Email to the team about the party")
    find("#play-draft").send_keys(draft)
    find("#rewrite-go").click()
    wait.until(lambda d: find("#log-form").is_displayed())
    rewritten = find("#play-final").get_attribute("value")
    assert rewritten.startswith("Hi team,") and "Best regards" not in rewritten
    assert "sign-off" in find("#play-applied").text
    find("#play-final").send_keys("\nSee you there")
    before = api.get(f"/v1/users/{USER}/interactions").json()["count"]
    find("#log-go").click()
    wait.until(lambda d: find("#play-result").is_displayed())
    assert "Edit distance" in find("#play-stats").text
    logged = api.get(f"/v1/users/{USER}/interactions").json()
    assert logged["count"] == before + 1
    assert logged["data"][0]["draft"] == rewritten
    assert logged["data"][0]["final"] == rewritten + "\nSee you there"
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "ui-playground.png"))

    # Policy for a context, then back to the list for the picture.
    find('[data-tab="policy"]').click()
    find("#policy-context").send_keys("Email to the team about the retro")
    find("#policy-go").click()
    wait.until(lambda d: find("#policy-out").is_displayed())
    assert "sign-off" in find("#policy-preference").text
    find('[data-tab="learned"]').click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".pref"))

    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe  # no CSP violation, no script error
    shot = ARTIFACTS / "ui.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    api.close()
