"""Overlapping requests on one session through a real threaded server (waitress), real HTTP.

Every test forces the overlap: all requests have read the session before the first one
writes, then they finish one by one (support.overlap). Before compare-and-set writes, each
of these lost an update or brought a deleted session back.
"""

import json
import logging

import pytest
from support.overlap import Browser, Gates, Tabs, gated_api, get_with_cookie, overlap

from hug_store_redis.sessions import RedisSessionMiddleware

THREADS = 6


@pytest.fixture
def gates():
    return Gates()


@pytest.fixture
def browser(store, serve, gates):
    browser = Browser(serve(gated_api(RedisSessionMiddleware(store, cookie_secure=False), gates), THREADS))
    assert browser.get("/set", key="base", value="0") == "ok"
    return browser


def stored(redis_client, sid):
    payload = redis_client.get(f"store:{sid}")
    return None if payload is None else json.loads(payload)


def test_overlapping_requests_setting_different_keys_keep_every_key(browser, gates):
    overlap(browser, gates, *[(name, "/set", {"key": name, "value": name.upper()}) for name in "abcd"])
    assert browser.get("/read") == {"base": "0", "a": "A", "b": "B", "c": "C", "d": "D"}


def test_the_same_key_gets_one_whole_value_and_other_keys_survive(browser, gates):
    browser.get("/set", key="colour", value="green")
    overlap(
        browser,
        gates,
        ("first", "/set", {"key": "colour", "value": "red" * 50}),
        ("second", "/set", {"key": "colour", "value": "blue" * 50}),
        ("third", "/set", {"key": "size", "value": "L"}),
    )
    session = browser.get("/read")
    assert session["colour"] in ("red" * 50, "blue" * 50)
    assert session["base"] == "0" and session["size"] == "L"


def test_a_nested_change_survives_beside_another_requests_change(browser, gates):
    browser.get("/append", key="cart", value="apple")
    overlap(
        browser,
        gates,
        ("note", "/set", {"key": "note", "value": "gift"}),
        ("append", "/append", {"key": "cart", "value": "pear"}),
    )
    assert browser.get("/read") == {"base": "0", "cart": ["apple", "pear"], "note": "gift"}
    overlap(
        browser,
        gates,
        ("append-2", "/append", {"key": "cart", "value": "plum"}),
        ("note-2", "/set", {"key": "note", "value": "none"}),
    )
    assert browser.get("/read") == {"base": "0", "cart": ["apple", "pear", "plum"], "note": "none"}


def test_a_deletion_and_a_set_in_overlapping_requests_both_hold(browser, gates):
    browser.get("/set", key="doomed", value="x")
    overlap(
        browser,
        gates,
        ("delete", "/delete", {"key": "doomed"}),
        ("set", "/set", {"key": "kept", "value": "y"}),
    )
    assert browser.get("/read") == {"base": "0", "kept": "y"}
    browser.get("/set", key="doomed", value="x")
    overlap(
        browser,
        gates,
        ("set-2", "/set", {"key": "kept-2", "value": "z"}),
        ("delete-2", "/delete", {"key": "doomed"}),
    )
    assert browser.get("/read") == {"base": "0", "kept": "y", "kept-2": "z"}


def test_logout_beside_a_slow_modifying_request_stays_final(browser, gates, redis_client, caplog):
    sid = browser.session_id()
    with caplog.at_level(logging.WARNING, logger="hug_store_redis.middleware"):
        overlap(browser, gates, ("logout", "/logout", {}), ("slow", "/set", {"key": "late", "value": "1"}))
    assert stored(redis_client, sid) is None
    assert f"session {sid[:8]}... was deleted while this request ran" in caplog.text
    assert len(browser.jar) == 0  # the logout expired the cookie; the slow response left it alone
    data, cookies = get_with_cookie(browser.base, "/read", sid)
    assert data == {}
    assert cookies and cookies[0].startswith("sid=; Max-Age=0")
    assert redis_client.keys(f"store:{sid}") == []


def test_a_login_answered_first_keeps_its_cookie_when_an_older_request_answers_after(browser, gates):
    """Both from one browser: the slow request on the pre-login id finds it gone, and its
    response must not expire the cookie the login just set."""
    overlap(
        browser,
        gates,
        ("login", "/login", {"user": "ann"}),
        ("slow", "/set", {"key": "theme", "value": "dark"}),
    )
    assert browser.get("/read")["user"] == "ann"


def test_regenerate_beside_a_request_on_the_old_id_never_writes_the_old_id_back(
    store, serve, gates, redis_client
):
    base = serve(gated_api(RedisSessionMiddleware(store, cookie_secure=False), gates), THREADS)
    login_tab = Browser(base)
    login_tab.get("/set", key="cart", value="1 book")
    old_id = login_tab.session_id()
    other_tab = Browser(base)  # same browser, another tab still sending the pre-login cookie
    other_tab.jar.set_cookie(next(iter(login_tab.jar)))
    with_tabs = {"login": login_tab, "other": other_tab}
    with Tabs(with_tabs) as pool:
        pool.start("other", "/set", key="theme", value="dark")
        pool.start("login", "/login", user="ann")
        pool.wait_arrived(gates, "other", "login")
        pool.release(gates, "login")
        pool.release(gates, "other")
    new_id = login_tab.session_id()
    assert new_id != old_id
    assert stored(redis_client, old_id) is None
    assert stored(redis_client, new_id) == {"cart": "1 book", "user": "ann"}  # theme: lost with the old key
    assert get_with_cookie(base, "/read", old_id)[0] == {}
