"""The CLI's error promise: one line on stderr, exit status 2, never a traceback, never the
password; and a reader that goes away early (``| head -1``) ends the run quietly.

Subprocesses where the exit status and stderr are the point; ``main()`` in-process for the
large password matrix and the Hypothesis run, where only the text matters.
"""

import contextlib
import io
import os
import signal
import subprocess
import sys
from urllib.parse import quote

import pytest
import redis
from hypothesis import assume, given
from support import password_leaks
from support.hypothesis_profiles import scaled
from support.servers import RedisServer

from hug_store_redis import RedisStore
from hug_store_redis.cli.main import main

pytestmark = pytest.mark.one_twin

SERVER_PASSWORD = "the-right-one"
#: How a shell reports a process that SIGPIPE ended, the status a well-behaved tool gives.
SIGPIPE_STATUS = 128 + signal.SIGPIPE
#: Every subcommand that takes a URL, with what it needs besides; all fail before serving.
SUBCOMMANDS = (
    ("info",),
    ("sessions", "count"),
    ("sessions", "ls"),
    ("sessions", "show", "someone"),
    ("sessions", "rm", "someone"),
    ("sessions", "clear", "--yes"),
    ("demo", "--port", "0"),
    ("bench", "--seconds", "1"),
)
IDS = [" ".join(argv[:2]) for argv in SUBCOMMANDS]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """A redis-server that requires a password, on TCP and on a unix socket."""
    directory = tmp_path_factory.mktemp("guarded")
    server = RedisServer(directory, unixsocket=directory / "redis.sock").start()
    redis.Redis(port=server.port).config_set("requirepass", SERVER_PASSWORD)
    server.socket = directory / "redis.sock"
    yield server
    server.stop()


def guarded_urls(server, user, password):
    """URLs that put ``password`` (raw and percent-encoded) everywhere a URL can hold one."""
    encoded = quote(password, safe="")
    urls = []
    for secret in (password, encoded):
        urls += [
            f"redis://{user}:{secret}@127.0.0.1:{server.port}/0",
            f"redis+cluster://{user}:{secret}@127.0.0.1:{server.port}",
            f"rediss://{user}:{secret}@127.0.0.1:1/0?ssl_cert_reqs=none",  # refused: no TLS wait
            f"unix://{user}:{secret}@{server.socket}",
            f"unix://{server.socket}?password={secret}&db=0",
        ]
    return urls


def cli(*argv, cwd, env_url=None, **options):
    """The console script as a subprocess, from an empty directory (the installed package)."""
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    if env_url is not None:
        env["REDIS_URL"] = env_url
    options.setdefault("stdout", subprocess.PIPE)
    options.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(
        [sys.executable, "-m", "hug_store_redis", *argv], cwd=cwd, env=env, text=True, timeout=60, **options
    )


def in_process(argv, env_url, monkeypatch):
    """``main(argv)`` with stdout and stderr captured as text, ``$REDIS_URL`` as given."""
    if env_url is None:
        monkeypatch.delenv("REDIS_URL", raising=False)
    else:
        monkeypatch.setenv("REDIS_URL", env_url)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def assert_one_line_exit_2(status, out, err, command):
    assert status == 2, err
    assert out == ""
    assert err.startswith(f"hug-store-redis {command}: ") and err.count("\n") == 1, err
    assert "Traceback" not in err


# --- passwords ------------------------------------------------------------------------


@pytest.mark.parametrize("password", password_leaks.NASTY)
@pytest.mark.parametrize("user", ["", "app"])
@pytest.mark.parametrize("argv", SUBCOMMANDS, ids=IDS)
def test_no_subcommand_shows_the_password(guarded, monkeypatch, argv, user, password):
    for url in guarded_urls(guarded, user, password):
        for env_url, url_options in ((None, ["--url", url]), (url, [])):
            if argv[0] == "info" and not url_options:
                continue  # info reads --url only
            status, out, err = in_process([*argv, *url_options], env_url, monkeypatch)
            assert_one_line_exit_2(status, out, err, argv[0])
            assert not password_leaks.leaked(password, out + err), (url, err)


_BOILERPLATE: dict[str, str] = {}


def boilerplate(server, user, monkeypatch):
    """What the commands print for the URLs with harmless passwords in them."""
    if user not in _BOILERPLATE:
        texts = []
        for probe in password_leaks.PROBES:
            for url in guarded_urls(server, user, probe):
                for argv in (["sessions", "count", "--url", url], ["info", "--url", url]):
                    texts.append(in_process(argv, None, monkeypatch)[2])
        _BOILERPLATE[user] = "".join(texts)
    return _BOILERPLATE[user]


@scaled(60)
@given(user=password_leaks.usernames, password=password_leaks.passwords)
def test_no_generated_password_shows(guarded, monkeypatch, user, password):
    assume(password != SERVER_PASSWORD)
    assume(not password_leaks.leaked(password, boilerplate(guarded, user, monkeypatch)))
    for url in guarded_urls(guarded, user, password):
        for argv in (["sessions", "count", "--url", url], ["info", "--url", url]):
            status, out, err = in_process(argv, None, monkeypatch)
            assert_one_line_exit_2(status, out, err, argv[0])
            assert not password_leaks.leaked(password, out + err), (url, err)


@pytest.mark.parametrize("argv", SUBCOMMANDS, ids=IDS)
def test_console_script_hides_a_password_holding_a_slash(guarded, tmp_path, argv):
    url = f"redis://:Kx7/vQ2m@127.0.0.1:{guarded.port}/0"
    for result in (cli(*argv, "--url", url, cwd=tmp_path), cli(*argv, cwd=tmp_path, env_url=url)):
        if argv[0] == "info" and "--url" not in result.args:
            continue
        assert_one_line_exit_2(result.returncode, result.stdout, result.stderr, argv[0])
        assert "'@' after the host" in result.stderr
        assert not password_leaks.leaked("Kx7/vQ2m", result.stdout + result.stderr)


def test_a_wrong_password_gets_the_servers_answer_even_when_it_shares_a_word(guarded, tmp_path):
    """ "pass" of the password is inside "username-password": not a quote of the password."""
    url = f"redis://:Wr0ng%2Fpass@127.0.0.1:{guarded.port}/0"
    result = cli("sessions", "count", "--url", url, cwd=tmp_path)
    assert_one_line_exit_2(result.returncode, result.stdout, result.stderr, "sessions")
    assert result.stderr == (
        f"hug-store-redis sessions: cannot reach Redis at redis://:***@127.0.0.1:{guarded.port}/0: "
        "invalid username-password pair or user is disabled.\n"
    )


def test_the_right_password_percent_encoded_connects(guarded, tmp_path):
    password = password_leaks.ALPHABET
    client = redis.Redis(port=guarded.port, password=SERVER_PASSWORD)
    try:
        client.acl_setuser("app", enabled=True, passwords=[f"+{password}"], keys=["*"], commands=["+@all"])
        RedisStore(client, namespace="store").set("alice", {"n": 1})
        url = f"redis://app:{quote(password, safe='')}@127.0.0.1:{guarded.port}/0"
        result = cli("sessions", "show", "alice", "--url", url, cwd=tmp_path)
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout == '{\n  "n": 1\n}\n'
    finally:
        client.acl_deluser("app")
        client.flushall()
        client.close()


# --- bad query parameters, error replies ------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("foo=bar", "unknown query parameter 'foo'"),
        ("ssl_cert_reqs=none", "unknown query parameter 'ssl_cert_reqs' (ssl_* parameters need rediss://)"),
    ],
)
@pytest.mark.parametrize("argv", SUBCOMMANDS, ids=IDS)
def test_a_bad_query_parameter_is_one_line_for_every_subcommand(redis_server, tmp_path, argv, query, message):
    url = f"redis://127.0.0.1:{redis_server.port}/0?{query}"
    result = cli(*argv, "--url", url, cwd=tmp_path)
    assert_one_line_exit_2(result.returncode, result.stdout, result.stderr, argv[0])
    assert result.stderr == f"hug-store-redis {argv[0]}: {url}: {message}\n"


def test_show_on_a_key_of_another_type_is_one_line(redis_server, redis_client, tmp_path):
    redis_client.rpush("store:listy", "a")
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    result = cli("sessions", "show", "listy", "--url", url, cwd=tmp_path)
    assert_one_line_exit_2(result.returncode, result.stdout, result.stderr, "sessions")
    assert f"{url}: WRONGTYPE" in result.stderr
    assert redis_client.lrange("store:listy", 0, -1) == [b"a"]


# --- a reader that goes away --------------------------------------------------------------


def test_ls_into_a_pipe_closed_after_one_line_ends_quietly(redis_server, redis_client, tmp_path):
    """More ids than a pipe holds, so ls is still writing when the reader goes away."""
    pipeline = redis_client.pipeline(transaction=False)
    for n in range(30_000):
        pipeline.set(f"store:session-{n:06}", "{}")
    pipeline.execute()
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    process = subprocess.Popen(
        [sys.executable, "-m", "hug_store_redis", "sessions", "ls", "--url", url],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().startswith(b"session-")
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == SIGPIPE_STATUS
    assert stderr == b""
    assert redis_client.dbsize() == 30_000


@pytest.mark.parametrize(
    "argv", [("info",), ("sessions", "count"), ("sessions", "ls")], ids=["info", "count", "ls"]
)
def test_output_into_a_pipe_nobody_reads_ends_quietly(redis_server, redis_client, tmp_path, argv):
    """The reading end is closed before the command starts, so its first write fails."""
    RedisStore(redis_client).set("alice", {})
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = cli(*argv, "--url", url, cwd=tmp_path, stdout=write_end, stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (SIGPIPE_STATUS, "")
