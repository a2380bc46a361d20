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


@pytest.mark.parametrize("button, expected", [("approve", "allow"), ("deny", "deny")])
def test_device_page_shows_the_pending_push_and_the_click_decides_it(server, page, button, expected):
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
    page.get_by_test_id("no-pending").wait_for(timeout=10_000)


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
