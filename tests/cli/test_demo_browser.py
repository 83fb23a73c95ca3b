"""The demo in headless Chromium, used as a person uses it: `make browser` installs Chromium.

Debian's chromium and chromium-driver at fixed paths, so Selenium Manager never looks for
(or downloads) a driver. ``UPDATE_SCREENSHOT=1`` rewrites docs/demo.png from the run.
"""

import contextlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from hug_store_redis import RedisStore
from hug_store_redis.cli.demo import build_api, make_server
from hug_store_redis.cli.embedded import EmbeddedRedis

pytestmark = pytest.mark.one_twin

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=900,720",
]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "demo.png"
WAIT = 15


@contextlib.contextmanager
def launched_chromium():
    """Headless Chromium with a profile of its own: its own cookies, as a second device has."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not installed: `make browser` installs chromium and chromium-driver "
            "(`make test` does it first)"
        )
    profile = tempfile.mkdtemp(prefix="hug-store-redis-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def chromium():
    with launched_chromium() as driver:
        yield driver


@pytest.fixture
def browser(chromium):
    """The shared Chromium with no cookies: cookies ignore the port, so demos would share them."""
    chromium.delete_all_cookies()
    return chromium


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text


def replaced(page):
    """True once ``page`` (an element of the old document) is gone. Chromium reports a node of a
    document being replaced either as stale or as "does not belong to the document", which
    selenium's ``staleness_of`` does not catch."""

    def check(driver):
        try:
            page.is_enabled()
        except WebDriverException:
            return True
        return False

    return check


def click(driver, label):
    """Press a form's button and wait for the page its redirect lands on."""
    page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.XPATH, f"//button[normalize-space()='{label}']").click()
    WebDriverWait(driver, WAIT).until(replaced(page))
    WebDriverWait(driver, WAIT).until(expected_conditions.presence_of_element_located((By.TAG_NAME, "h1")))


def reload(driver):
    page = driver.find_element(By.TAG_NAME, "html")
    driver.refresh()
    WebDriverWait(driver, WAIT).until(replaced(page))


def session_cookie(driver):
    (cookie,) = driver.get_cookies()
    assert cookie["name"] == "sid"
    return cookie


def test_a_visitor_reloads_logs_in_fills_a_cart_and_logs_out(browser, start_demo, tmp_path):
    demo = start_demo("--port", "0")
    base, _ = demo.started()
    browser.get(base)
    assert browser.title == "hug_store_redis demo"
    assert text(browser, "visits") == "1"
    anonymous = text(browser, "session-id")
    cookie = session_cookie(browser)
    assert cookie["value"][:8] == anonymous
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"], cookie["secure"]) == (
        True,
        "Lax",
        "/",
        False,
    )
    assert "sid=" not in browser.execute_script("return document.cookie")  # HttpOnly: out of scripts' reach

    for expected in ("2", "3"):
        reload(browser)
        assert text(browser, "visits") == expected  # one per view, the favicon request not counted

    browser.find_element(By.NAME, "name").send_keys("Ann")
    click(browser, "Log in")
    assert text(browser, "user") == "Ann"
    logged_in = text(browser, "session-id")
    assert logged_in != anonymous and session_cookie(browser)["value"][:8] == logged_in
    assert text(browser, "visits") == "3"  # the page the login redirects to is not a visit

    for label in ("Add pear", "Add apple", "Add pear"):
        click(browser, label)
    assert text(browser, "cart").splitlines() == ["apple: 1", "pear: 2"]
    reload(browser)
    assert text(browser, "visits") == "4"

    click(browser, "Log out")
    assert browser.find_elements(By.ID, "user") == [] and browser.find_element(By.NAME, "name")
    assert text(browser, "visits") == "1" and text(browser, "session-id") not in (anonymous, logged_in)
    assert text(browser, "cart") == "empty"

    favicon = browser.execute_async_script(
        "const done = arguments[0];"
        "fetch('/favicon.ico').then(r => done([r.status, r.headers.get('content-type')]))"
    )
    assert favicon == [200, "image/svg+xml"]
    browser.get(base + "no/such/page")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Not found"
    browser.find_element(By.LINK_TEXT, "Back to the demo").click()
    WebDriverWait(browser, WAIT).until(expected_conditions.presence_of_element_located((By.ID, "visits")))
    assert text(browser, "visits") == "2"  # the page after logout, then this one
    assert demo.stop() == 0
    assert demo.errors == ["hug-store-redis demo: stopping on SIGINT"]  # nothing went wrong on the way


def test_redis_down_shows_the_unavailable_page(browser, start_demo):
    with EmbeddedRedis() as server:
        demo = start_demo("--port", "0", "--url", server.url)
        base, _ = demo.started()
        browser.get(base)
        assert text(browser, "visits") == "1"
    reload(browser)
    assert browser.title == "Session store unavailable"
    assert "Redis is not answering" in browser.find_element(By.TAG_NAME, "body").text
    assert demo.stop() == 0
    # One line per failed request; the browser may also have asked for /favicon.ico.
    page = [line for line in demo.errors if line.startswith("hug-store-redis demo: [demo] GET /: ")]
    assert page and page[0].startswith("hug-store-redis demo: [demo] GET /: 503, session store unavailable: ")
    assert all("Traceback" not in line for line in demo.errors)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_chromium_keeps_secure_cookies_on_loopback_over_plain_http(browser, redis_client, host):
    """What docs/demo.md says about the demo's cookie: Chromium treats loopback as a secure origin."""
    httpd = make_server(
        build_api(RedisStore(redis_client, namespace="demo"), cookie_secure=True), "127.0.0.1", 0
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        browser.get(f"http://{host}:{httpd.server_port}/")
        reload(browser)
        assert text(browser, "visits") == "2"  # the Secure cookie came back over http://
        assert session_cookie(browser)["secure"] is True
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def log_in(driver, base, name):
    driver.get(base)
    driver.find_element(By.NAME, "name").send_keys(name)
    click(driver, "Log in")
    assert text(driver, "user") == name


def device_rows(driver):
    return driver.find_elements(By.CSS_SELECTOR, "#devices tr td:first-child")


def test_two_devices_one_signed_out_and_twenty_parallel_requests_all_land(browser, start_demo, tmp_path):
    """Two browser profiles are two devices of one user; the page fires 20 fetch() requests at once."""
    demo = start_demo("--port", "0")
    base, _ = demo.started()
    with launched_chromium() as phone:
        log_in(phone, base, "Ann")
        log_in(browser, base, "Ann")
        assert len(device_rows(browser)) == 2
        assert browser.find_element(By.CSS_SELECTOR, "#devices .badge").text == "this browser"
        phone_id = text(phone, "session-id")

        browser.find_element(By.ID, "parallel").click()
        WebDriverWait(browser, WAIT).until(lambda driver: text(driver, "parallel-result") != "not run yet")
        WebDriverWait(browser, WAIT).until(lambda driver: text(driver, "lww-result") != "not run yet")
        assert text(browser, "parallel-result") == "20 of 20 landed"
        landed = [int(line.split(": ")[1]) for line in text(browser, "cart").splitlines()]
        assert sum(landed) == 20  # the cart shows every one of them
        lww_landed = int(text(browser, "lww-result").split()[0])
        assert 1 <= lww_landed <= 20
        browser.set_window_size(1100, 1160)
        browser.execute_script("window.scrollTo(0, 0)")
        screenshot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") == "1" else tmp_path / "demo.png"
        assert browser.save_screenshot(str(screenshot))
        assert screenshot.read_bytes().startswith(b"\x89PNG")
        browser.set_window_size(900, 720)
        reload(browser)
        assert sum(int(line.split(": ")[1]) for line in text(browser, "cart").splitlines()) == 20  # stored

        click(browser, "Sign out")  # the one other device's button
        assert len(device_rows(browser)) == 1 and text(browser, "user") == "Ann"
        reload(phone)
        assert phone.find_elements(By.ID, "user") == [] and phone.find_element(By.NAME, "name")
        assert text(phone, "session-id") != phone_id  # its next request had no session: a new one
    assert demo.stop() == 0
    assert demo.errors == ["hug-store-redis demo: stopping on SIGINT"]
