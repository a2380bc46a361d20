"""A person approves a push on the device page in a real browser (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import shutil
import threading

import pytest

from support import MfaServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    mfa = MfaServer(tmp_path_factory.mktemp("mfa"), "--push-timeout", "30").start()
    yield mfa
    mfa.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    # the service's own CA is not in chromium's store; the test trusts it the way a lab admin would click through
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    yield page
    context.close()


def start_push(auth, username, results, **extra):
    thread = threading.Thread(
        target=lambda: results.append(auth.auth("push", username=username, device="auto", **extra)))
    thread.start()
    return thread


def pending_push(server, name, page=None, **extra):
    """A user with a push device, and a push to it waiting on a thread; answer it before the test ends. With a
    page, the device page is open before the push arrives, so that the page's script shows it."""
    app = server.admin("app", "add", f"browser-{name}")
    user = server.admin("user", "add", f"walter-{name}", "--push", "--totp")
    if page is not None:
        page.goto(user["devices"][0]["device_page"])
        page.get_by_test_id("no-pending").wait_for()
    results: list[dict] = []
    waiting = start_push(server.client(app["ikey"], app["skey"]), user["username"], results, **extra)
    return user, waiting, results


@pytest.mark.parametrize("button, expected, done", [("approve", "allow", "Approved"), ("deny", "deny", "Denied")])
def test_device_page_shows_the_pending_push_and_the_click_decides_it(server, page, button, expected, done):
    app = server.admin("app", "add", f"browser-{button}")
    user = server.admin("user", "add", f"walter-{button}", "--push", "--totp")
    auth = server.client(app["ikey"], app["skey"])
    page.goto(user["devices"][0]["device_page"])
    assert page.get_by_test_id("no-pending").is_visible()

    results: list[dict] = []
    waiting = start_push(auth, user["username"], results, ipaddr="198.51.100.23",
                         pushinfo="from=WorkSpaces&domain=corp.example.com")
    request = page.get_by_test_id("pending")
    request.wait_for(timeout=10_000)  # the page notices the new push by itself
    assert request.get_by_test_id("username").inner_text() == user["username"]
    assert request.get_by_test_id("ipaddr").inner_text() == "198.51.100.23"
    assert "corp.example.com" in request.inner_text() and "WorkSpaces" in request.inner_text()
    request.get_by_test_id(button).click()
    waiting.join(timeout=15)
    assert results and results[0]["result"] == expected
    # the page says what was done, to which request, and the request leaves the list
    notice = page.get_by_test_id("confirmation-text")
    notice.wait_for(timeout=10_000)
    text = notice.inner_text()
    assert text.startswith(f"{done}. The login request for {user['username']} from")
    assert "198.51.100.23" in text
    assert page.get_by_test_id("confirmation").get_attribute("role") == "status"  # read out by screen readers
    page.get_by_test_id("no-pending").wait_for(timeout=10_000)
    assert page.url == user["devices"][0]["device_page"]  # answered in place, no reload


def test_an_answer_that_comes_after_the_decision_says_it_was_not_taken(server, page):
    user, waiting, results = pending_push(server, "late", ipaddr="198.51.100.24")
    page.goto(user["devices"][0]["device_page"])
    txid = page.get_by_test_id("pending").get_attribute("data-txid")
    page.get_by_test_id("approve").click()
    waiting.join(timeout=15)
    answer = page.request.post(f"{user['devices'][0]['device_page']}/answer", form={"txid": txid, "decision": "deny"},
                               headers={"Accept": "application/json"}).json()
    assert answer["settled"] is False
    assert "Not answered." in answer["confirmation_html"]
    assert "had already been approved" in answer["confirmation_html"]
    assert results[0]["result"] == "allow"


def test_without_javascript_the_buttons_still_answer_and_the_page_confirms(server, browser):
    user, waiting, results = pending_push(server, "nojs", ipaddr="198.51.100.25")
    context = browser.new_context(ignore_https_errors=True, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(user["devices"][0]["device_page"])
        page.get_by_test_id("deny").click()
        waiting.join(timeout=15)
        assert results[0]["result"] == "deny"
        assert page.get_by_test_id("confirmation-text").inner_text().startswith(
            f"Denied. The login request for {user['username']} from 198.51.100.25")
        assert page.get_by_test_id("no-pending").is_visible()
    finally:
        context.close()


def test_each_pushinfo_item_is_shown_once_under_a_readable_label(server, page):
    user, waiting, results = pending_push(server, "labels", ipaddr="198.51.100.26",
                                          pushinfo="from=AWS Directory Service (duomfa)&client_ip=198.51.100.26"
                                                   "&domain=corp.example.com")
    page.goto(user["devices"][0]["device_page"])
    request = page.get_by_test_id("pending")
    request.wait_for(timeout=10_000)
    labels = request.locator("dt").all_inner_texts()
    assert labels == ["User", "Time", "Client IP", "From", "Domain"]
    assert "client_ip" not in request.inner_text()
    assert request.inner_text().count("198.51.100.26") == 1
    request.get_by_test_id("deny").click()
    waiting.join(timeout=15)


def test_pushinfo_from_the_api_caller_is_shown_as_text_never_run(server, page):
    script = "<script>window.pwned = 1</script>"
    user, waiting, results = pending_push(server, "escape", page, pushinfo=f"note={script}&<b>key</b>=<img src=x>")
    device_page = user["devices"][0]["device_page"]
    for arrival in ("inserted by the page's script", "rendered by the server"):
        request = page.get_by_test_id("pending")
        request.wait_for(timeout=10_000)
        assert script in request.inner_text(), arrival
        assert "<b>key</b>" in request.inner_text() and "<img src=x>" in request.inner_text(), arrival
        assert request.locator("script, b, img").count() == 0, arrival
        assert page.evaluate("typeof window.pwned") == "undefined", arrival
        page.goto(device_page)
    page.get_by_test_id("deny").click()
    waiting.join(timeout=15)


def seconds(text):
    assert text.endswith(" s"), text
    return int(text[:-2])


def test_the_pending_request_and_the_passcode_count_down(server, page):
    user, waiting, results = pending_push(server, "countdown")
    page.goto(user["devices"][0]["device_page"])
    request_left = page.get_by_test_id("expires-in")
    passcode_left = page.get_by_test_id("passcode-expires-in")
    request_left.wait_for(timeout=10_000)
    first_request, first_passcode = seconds(request_left.inner_text()), seconds(passcode_left.inner_text())
    assert 0 < first_request <= 30 and 0 < first_passcode <= 30  # --push-timeout 30; TOTP steps are 30 s
    # they count to the request's expiry and to the end of the TOTP step
    now = page.evaluate("Date.now() / 1000")
    assert abs(float(request_left.get_attribute("data-expires-at")) - now - first_request) < 2
    passcode_end = float(passcode_left.get_attribute("data-expires-at"))
    assert passcode_end % 30 == 0 and 0 < passcode_end - now <= 30
    page.wait_for_timeout(2_100)
    assert 2 <= first_request - seconds(request_left.inner_text()) <= 3
    assert (first_passcode - seconds(passcode_left.inner_text())) % 30 in (2, 3)  # a new step starts at 30 again
    page.get_by_test_id("deny").click()
    waiting.join(timeout=15)


def test_the_favicon_is_served_and_named_by_the_page(server, page):
    missing = []
    page.on("response", lambda response: missing.append(response.url) if response.status >= 400 else None)
    user = server.admin("user", "add", "favicon-viewer", "--push")
    page.goto(user["devices"][0]["device_page"])
    assert page.locator("link[rel=icon]").get_attribute("href") == "/static/favicon.svg"
    for path in ("/static/favicon.svg", "/favicon.ico"):
        response = page.request.get(f"https://127.0.0.1:{server.port}{path}")
        assert response.status == 200, path
        assert response.headers["content-type"].startswith("image/svg+xml"), path
        assert response.body().startswith(b"<svg"), path
    assert not missing


def test_device_page_shows_the_current_passcode_which_logs_in(server, page):
    app = server.admin("app", "add", "browser-passcode")
    user = server.admin("user", "add", "passcode-reader", "--totp")
    page.goto(user["devices"][0]["device_page"])
    passcode = page.get_by_test_id("passcode").inner_text()
    auth = server.client(app["ikey"], app["skey"])
    assert auth.auth("passcode", username="passcode-reader", passcode=passcode)["result"] == "allow"


def test_unknown_device_link_is_a_404(server, page):
    response = page.goto(f"https://127.0.0.1:{server.port}/device/not-a-real-token")
    assert response.status == 404
