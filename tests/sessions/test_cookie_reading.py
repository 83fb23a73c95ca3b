"""The session cookie read without falcon's parser gives what falcon's parser gives.

A header that starts with ``sid=<well-formed id>`` is matched directly; every other header
goes through ``request.get_cookie_values``. Either way the session is the one named by the
first ``sid`` value falcon would return, so each case is checked against falcon itself.
"""

import hug
import pytest
from falcon.request_helpers import parse_cookie_header
from support.commands import Commands
from support.session_app import READ, READ_MISSING, make_api, set_cookies

from hug_store_redis.sessions import RedisSessionMiddleware, is_session_id

SID = "S" * 20 + "-_" + "s" * 21  # 43 characters of the id alphabet
HEADERS = {
    "alone": f"sid={SID}",
    "first of two": f"sid={SID}; theme=dark",
    "no space after ;": f"sid={SID};theme=dark",
    "after another": f"theme=dark; sid={SID}",
    "repeated, ours first": f"sid={SID}; sid=junk",
    "repeated, junk first": f"sid=junk; sid={SID}",
    "quoted": f'sid="{SID}"',
    "spaces around": f" sid = {SID} ",
    "one character more": f"sid={SID}x",
    "one character less": f"sid={SID[:-1]}",
    "trailing newline": f"sid={SID}\n",
    "longer name": f"sidx={SID}",
    "empty value": "sid=",
    "other cookies only": "theme=dark; lang=en",
    "separator only": ";",
}


@pytest.mark.parametrize("header", HEADERS.values(), ids=HEADERS.keys())
def test_the_session_is_the_one_falcon_names_first(store, redis_client, header):
    api = make_api(RedisSessionMiddleware(store), handlers=("read",))
    store.set(SID, {"counter": 7})
    values = parse_cookie_header(header).get("sid")
    first = values[0] if values else None
    commands = Commands(redis_client)
    response = hug.test.get(api, "/read", headers={"cookie": header})
    assert response.status == "200 OK"
    if first == SID:
        assert response.data == {"counter": 7}
        assert commands.delta() == READ
        assert set_cookies(response) == []
    else:
        assert response.data == {}
        assert commands.delta() == (READ_MISSING if first is not None and is_session_id(first) else {})
        assert len(set_cookies(response)) == (0 if first is None else 1)  # a refused cookie is cleared
