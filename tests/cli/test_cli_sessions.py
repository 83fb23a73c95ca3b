"""``hug-store-redis sessions ...`` and ``info --url`` against real servers."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hug_store_redis import RedisStore
from hug_store_redis.cli.main import main
from hug_store_redis.sessions import UserSessionIndex

pytestmark = pytest.mark.one_twin


@pytest.fixture
def url(redis_server, redis_client):
    return f"redis://{redis_server.host}:{redis_server.port}/0"


@pytest.fixture
def sessions(redis_client):
    store = RedisStore(redis_client, namespace="web")
    store.set("alice", {"user": "alice", "cart": [1, 2], "name": "Zoë"})
    store.set("bob", {"user": "bob"})
    RedisStore(redis_client, namespace="web2").set("carol", {"user": "carol"})
    return store


def run(capsys, *argv, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_count_and_ls(capsys, url, sessions):
    assert run(capsys, "sessions", "count", "--url", url, "--namespace", "web") == (0, "2\n", "")
    status, out, _ = run(capsys, "sessions", "ls", "--url", url, "--namespace", "web")
    assert status == 0 and sorted(out.splitlines()) == ["alice", "bob"]


def test_namespace_defaults_to_the_stores_default(capsys, url, redis_client):
    RedisStore(redis_client).set("k", 1)
    redis_client.set("other:k", 1)
    assert run(capsys, "sessions", "ls", "--url", url) == (0, "k\n", "")


def test_url_from_the_environment(capsys, url, sessions, monkeypatch):
    monkeypatch.setenv("REDIS_URL", url)
    assert run(capsys, "sessions", "count", "--namespace", "web2") == (0, "1\n", "")


def test_show_pretty_prints_json(capsys, url, sessions):
    status, out, _ = run(capsys, "sessions", "show", "alice", "--url", url, "--namespace", "web")
    assert status == 0
    assert json.loads(out) == {"user": "alice", "cart": [1, 2], "name": "Zoë"}
    assert out == json.dumps(json.loads(out), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    assert "Zoë" in out and '\n  "cart": [\n    1,' in out


def test_show_missing_and_corrupt_exit_1(capsys, url, sessions, redis_client):
    status, out, err = run(capsys, "sessions", "show", "nobody", "--url", url, "--namespace", "web")
    assert (status, out) == (1, "") and "no session 'nobody' in namespace 'web'" in err
    redis_client.set("web:broken", b"\xff")
    status, out, err = run(capsys, "sessions", "show", "broken", "--url", url, "--namespace", "web")
    assert (status, out) == (1, "") and "not UTF-8 JSON" in err
    assert redis_client.get("web:broken") == b"\xff"


def test_rm(capsys, url, sessions, redis_client):
    assert run(capsys, "sessions", "rm", "bob", "--url", url, "--namespace", "web")[0] == 0
    assert not redis_client.exists("web:bob")
    status, _, err = run(capsys, "sessions", "rm", "bob", "--url", url, "--namespace", "web")
    assert status == 1 and "no session 'bob'" in err
    assert redis_client.exists("web:alice", "web2:carol") == 2


@pytest.mark.parametrize("answer", ["", "n\n", "no\n", "whatever\n"])
def test_clear_asks_and_keeps_everything_unless_confirmed(
    capsys, url, sessions, redis_client, monkeypatch, answer
):
    argv = ("sessions", "clear", "--url", url, "--namespace", "web")
    status, out, err = run(capsys, *argv, stdin=answer, monkeypatch=monkeypatch)
    assert status == 1 and out == ""
    assert "delete 2 sessions in namespace 'web'? [y/N]" in err and "nothing deleted" in err
    assert redis_client.dbsize() == 3


@pytest.mark.parametrize("answer", ["y\n", "YES\n"])
def test_clear_after_confirmation(capsys, url, sessions, redis_client, monkeypatch, answer):
    argv = ("sessions", "clear", "--url", url, "--namespace", "web")
    status, out, _ = run(capsys, *argv, stdin=answer, monkeypatch=monkeypatch)
    assert (status, out) == (0, "deleted 2 sessions\n")
    assert redis_client.keys("*") == [b"web2:carol"]


def test_clear_yes_shows_progress_on_large_namespaces(capsys, url, redis_client):
    pipeline = redis_client.pipeline(transaction=False)
    for n in range(1500):
        pipeline.set(f"web:{n}", "{}")
    pipeline.execute()
    status, out, err = run(capsys, "sessions", "clear", "--yes", "--url", url, "--namespace", "web")
    assert (status, out) == (0, "deleted 1500 sessions\n")
    assert err.splitlines()[-1] == "deleted 1500/1500" and len(err.splitlines()) >= 3
    assert redis_client.dbsize() == 0


def test_clear_on_an_empty_namespace(capsys, url, redis_client):
    assert run(capsys, "sessions", "clear", "--url", url, "--namespace", "none") == (
        0,
        "namespace 'none' holds no sessions\n",
        "",
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sessions", "count", "--url", "redis://:s3cret@127.0.0.1:1/0"], "redis://:***@127.0.0.1:1/0: "),
        (["sessions", "ls", "--url", "http://:s3cret@127.0.0.1"], "unsupported URL scheme"),
        (["sessions", "count", "--url", "redis+cluster://:s3cret@127.0.0.1:1"], "redis+cluster://:***@"),
        (["sessions", "count"], "no server: pass --url URL or set REDIS_URL"),
        (["info", "--url", "redis://:s3cret@127.0.0.1:1"], "redis://:***@127.0.0.1:1: "),
        (["info", "--url", "nonsense"], "unsupported URL scheme"),
    ],
)
def test_bad_url_or_unreachable_server_is_one_line_and_exit_2(capsys, monkeypatch, argv, message):
    monkeypatch.delenv("REDIS_URL", raising=False)
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and message in err and "s3cret" not in err
    assert err.startswith(f"hug-store-redis {argv[0]}: ")


def test_console_script_exits_2_without_a_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "hug_store_redis", "sessions", "count", "--url", "redis://:pw@127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_info_url_standalone(capsys, url, redis_client):
    status, out, _ = run(capsys, "info", "--url", url)
    assert status == 0
    assert "implementation  " in out and "mode            standalone\n" in out
    assert f"server          redis {redis_client.info('server')['redis_version']}\n" in out


def test_info_url_cluster(capsys, redis_cluster):
    status, out, _ = run(capsys, "info", "--url", redis_cluster.url)
    assert status == 0 and "mode            cluster\n" in out


def test_info_url_sentinel(capsys, redis_sentinel):
    port = redis_sentinel.sentinels[0].port
    status, out, _ = run(capsys, "info", "--url", f"redis://127.0.0.1:{port}")
    assert status == 0 and "mode            sentinel\n" in out


def test_sessions_on_a_cluster(capsys, redis_cluster, cluster_client):
    store = RedisStore(cluster_client, namespace="web")
    for n in range(30):
        store.set(f"user-{n}", {"n": n})
    url = redis_cluster.url
    assert run(capsys, "sessions", "count", "--url", url, "--namespace", "web") == (0, "30\n", "")
    status, out, _ = run(capsys, "sessions", "show", "user-7", "--url", url, "--namespace", "web")
    assert status == 0 and json.loads(out) == {"n": 7}
    assert run(capsys, "sessions", "clear", "--yes", "--url", url, "--namespace", "web")[:2] == (
        0,
        "deleted 30 sessions\n",
    )
    assert store.count() == 0


def test_user_lists_a_users_sessions_and_rm_ends_them(capsys, url, redis_client):
    store = RedisStore(redis_client, namespace="web")
    index = UserSessionIndex(store)
    for number, agent in enumerate(("Firefox\ton a laptop", "Safari")):
        index.add("ann:1", f"sid-{number}", user_agent=agent)
        store.set(f"sid-{number}", {"user": "ann:1"})
    index.add("bob", "sid-bob")
    store.set("sid-bob", {"user": "bob"})
    status, out, _ = run(capsys, "sessions", "user", "ann:1", "--url", url, "--namespace", "web")
    lines = [line.split("\t") for line in out.splitlines()]
    assert status == 0 and len(lines) == 2 and all(len(line) == 4 for line in lines)
    assert sorted(line[3] for line in lines) == ["Firefox?on a laptop", "Safari"]  # no tab, no escape
    assert not any("sid-" in line for line in out.splitlines())
    assert store.count() == 3  # the index is not a session
    status, out, _ = run(capsys, "sessions", "user", "ann:1", "--rm", "--url", url, "--namespace", "web")
    assert (status, out) == (0, "ended 2 sessions of user 'ann:1'\n")
    assert sorted(store.ids()) == ["sid-bob"]
    assert run(capsys, "sessions", "user", "ann:1", "--url", url, "--namespace", "web") == (
        0,
        "",
        "no sessions for user 'ann:1' in namespace 'web'\n",
    )


def test_user_without_sessions_says_so_on_stderr(capsys, url, redis_client):
    """stdout stays the (empty) listing, for scripts; the person reading gets a line."""
    status, out, err = run(capsys, "sessions", "user", "nobody", "--url", url)
    assert (status, out, err) == (0, "", "no sessions for user 'nobody' in namespace 'store'\n")


def test_help_is_plain_text(capsys):
    """The module docstring is reStructuredText; --help shows no markup from it."""
    for argv in (["--help"], ["sessions", "--help"], ["sessions", "user", "--help"], ["demo", "--help"]):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 0
        out = capsys.readouterr().out
        assert "usage: hug-store-redis" in out
        assert "``" not in out and ":func:" not in out, out


ODD_IDS = {
    "alice": "alice",
    "a\nb": "a\\nb",  # one id, one line
    "tab\there": "tab\\there",
    "lone\ud800surrogate": "lone\\ud800surrogate",  # allowed: stored with surrogatepass
    "back\\slash": "back\\\\slash",  # the escape character itself is escaped
    "-dash-first": "-dash-first",  # token_urlsafe begins with '-' about once in 64
    "--two-dashes": "--two-dashes",
    "Zoë": "Zoë",
}


def console(*argv):
    """The installed console script, as a user runs it."""
    script = Path(sys.executable).with_name("hug-store-redis")
    return subprocess.run([str(script), *argv], capture_output=True, text=True, timeout=60)


def test_ls_names_every_odd_id_on_one_line_and_show_and_rm_take_it_back(url, redis_client):
    store = RedisStore(redis_client, namespace="odd")
    for number, session_id in enumerate(ODD_IDS):
        store.set(session_id, {"n": number})
    listed = console("sessions", "ls", "--url", url, "--namespace", "odd")
    assert listed.returncode == 0 and listed.stderr == ""
    assert sorted(listed.stdout.splitlines()) == sorted(ODD_IDS.values())
    for number, printed in enumerate(ODD_IDS.values()):
        shown = console("sessions", "show", printed, "--url", url, "--namespace", "odd")
        assert (shown.returncode, shown.stderr) == (0, "") and json.loads(shown.stdout) == {"n": number}
    for printed in ODD_IDS.values():
        removed = console("sessions", "rm", "--url", url, "--namespace", "odd", printed)
        assert removed.returncode == 0, removed.stderr
    assert store.count() == 0


def test_an_id_after_double_dash_and_a_bad_escape(url, redis_client):
    store = RedisStore(redis_client, namespace="odd")
    store.set("-x", {"n": 1})
    shown = console("sessions", "show", "--url", url, "--namespace", "odd", "--", "-x")
    assert shown.returncode == 0 and json.loads(shown.stdout) == {"n": 1}
    bad = console("sessions", "rm", "a\\qb", "--url", url, "--namespace", "odd")
    assert bad.returncode == 2 and bad.stdout == "" and "Traceback" not in bad.stderr
    assert len(bad.stderr.splitlines()) == 1 and "escape" in bad.stderr
    unknown = console("sessions", "show", "-x", "--nope", "--url", url, "--namespace", "odd")
    assert unknown.returncode == 2 and "unrecognized arguments" in unknown.stderr
    assert store.count() == 1


def test_a_protected_namespace_takes_its_secrets_from_the_environment(capsys, url, redis_client, monkeypatch):
    secret, key = bytes(range(32)), bytes(range(50, 82))
    store = RedisStore(redis_client, namespace="safe", key_secrets=[secret], encryption_keys=[key])
    store.set("alice", {"user": "alice"})
    monkeypatch.setenv("HUG_STORE_REDIS_KEY_SECRETS", f"{'ab' * 32}, {secret.hex()}")
    monkeypatch.setenv("HUG_STORE_REDIS_ENCRYPTION_KEYS", key.hex())
    status, out, _ = run(capsys, "sessions", "ls", "--url", url, "--namespace", "safe")
    assert status == 0 and out.split() == [store.namespaced_key("alice")[len(b"safe:") :].decode()]
    status, out, _ = run(capsys, "sessions", "show", "alice", "--url", url, "--namespace", "safe")
    assert status == 0 and json.loads(out) == {"user": "alice"}
    monkeypatch.setenv("HUG_STORE_REDIS_ENCRYPTION_KEYS", "zz")
    status, _, err = run(capsys, "sessions", "show", "alice", "--url", url, "--namespace", "safe")
    assert status == 2 and "HUG_STORE_REDIS_ENCRYPTION_KEYS must be comma-separated hex" in err
    monkeypatch.setenv("HUG_STORE_REDIS_ENCRYPTION_KEYS", "abcd")
    status, _, err = run(capsys, "sessions", "show", "alice", "--url", url, "--namespace", "safe")
    assert status == 2 and "AES-256 needs exactly 32" in err
    monkeypatch.delenv("HUG_STORE_REDIS_KEY_SECRETS")
    monkeypatch.delenv("HUG_STORE_REDIS_ENCRYPTION_KEYS")
    assert run(capsys, "sessions", "show", "alice", "--url", url, "--namespace", "safe")[0] == 1
    assert run(capsys, "sessions", "rm", "alice", "--url", url, "--namespace", "safe")[0] == 1


@pytest.mark.parametrize("encrypted", [False, True], ids=["hashed", "hashed-and-sealed"])
def test_a_handle_ls_printed_is_taken_back_by_show_and_rm(capsys, url, redis_client, monkeypatch, encrypted):
    """Before, show and rm hashed the handle as if it were an id: "no such session"."""
    secret, key = bytes(range(32)), bytes(range(50, 82))
    protection = {"key_secrets": [secret], "encryption_keys": [key] if encrypted else None}
    store = RedisStore(redis_client, namespace="safe", **protection)
    store.set("alice", {"user": "alice"})
    store.set("bob", {"user": "bob"})
    monkeypatch.setenv("HUG_STORE_REDIS_KEY_SECRETS", secret.hex())
    if encrypted:
        monkeypatch.setenv("HUG_STORE_REDIS_ENCRYPTION_KEYS", key.hex())
    alice = store.namespaced_key("alice")[len(b"safe:") :].decode()
    status, out, _ = run(capsys, "sessions", "ls", "--url", url, "--namespace", "safe")
    assert status == 0 and alice in out.split()
    status, out, err = run(capsys, "sessions", "show", alice, "--url", url, "--namespace", "safe")
    if encrypted:  # the value is sealed with the id as associated data: a handle cannot open it
        assert status == 1 and "sealed" in err and "the session id" in err
    else:
        assert status == 0 and json.loads(out) == {"user": "alice"}
    status, out, _ = run(capsys, "sessions", "rm", alice, "--url", url, "--namespace", "safe")
    assert status == 0 and "deleted session" in out
    assert not store.exists("alice") and store.get("bob") == {"user": "bob"}
    assert run(capsys, "sessions", "rm", alice, "--url", url, "--namespace", "safe")[0] == 1
    assert run(capsys, "sessions", "show", alice, "--url", url, "--namespace", "safe")[0] == 1
    status, out, _ = run(capsys, "sessions", "show", "bob", "--url", url, "--namespace", "safe")
    assert status == 0 and json.loads(out) == {"user": "bob"}  # an id is still hashed
