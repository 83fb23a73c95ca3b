"""The README and every docs page as a reader uses them: each Python block runs as written
(against the test server instead of :6379), each `make` target named exists, each relative
link reaches a file and each anchor a heading, the API reference covers every public name,
and the site builds with mkdocs --strict."""

import http.cookiejar
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import hug
import pytest
from support.servers import free_port, wait_for
from support.session_app import issued_id

import hug_store_redis

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
# Blocks naming hosts, sockets or files that are not on the test machine are compiled, not run.
ELSEWHERE = ("10.0.0.", "example.com", "/run/redis", "/etc/ssl")
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```$", flags=re.M | re.S)
# python runs; console is commands and their output (its make targets are checked); text is output.
LANGUAGES = {"python", "console", "text"}
SNIPPET = re.compile(r'^--8<-- "([^":]+)[^"]*"$', flags=re.M)

pytestmark = pytest.mark.one_twin


def page_id(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def blocks(page: Path, language: str | None = None) -> list[str]:
    return [code for lang, code in FENCE.findall(page.read_text()) if language in (None, lang)]


def runnable(block: str) -> bool:
    return not any(marker in block for marker in ELSEWHERE)


def run_page(page: Path, port: int) -> dict:
    """Every runnable Python block of ``page``, in order, in one namespace (one hug API)."""
    namespace = {"__name__": f"docs_example_{uuid.uuid4().hex}"}
    for block in filter(runnable, blocks(page, "python")):
        exec(compile(block.replace("6379", str(port)), page_id(page), "exec"), namespace)
    return namespace


# What each page's blocks leave behind, checked beyond "they ran".
def check_store(namespace):
    store = namespace["store"]
    assert store.stats()["hits"] == 1 and not store.exists("key")  # set, get, exists, delete ran


def check_sessions(namespace):
    assert callable(namespace["login"]) and callable(namespace["logout"])
    assert isinstance(namespace["sessions"], hug_store_redis.RedisSessionMiddleware)


def check_devices(namespace):
    """The signed-in devices sample as a browser uses it: signed out it gets a 401 saying so
    (never a 500), signed in its own device."""
    api = hug.API(namespace["__name__"])
    for response in (
        hug.test.get(api, "/devices"),
        hug.test.post(api, "/devices/sign-out", {"device": "x"}),
        hug.test.post(api, "/devices/sign-out-others"),
    ):
        assert response.status == "401 Unauthorized"
        assert "sign in" in json.dumps(response.data).lower()
    sid = issued_id(hug.test.post(api, "/sign-in", {"name": "ann"}))
    (device,) = hug.test.get(api, "/devices", headers={"cookie": f"sid={sid}"}).data
    assert device["here"] is True


def check_concurrency(namespace):
    assert namespace["shop_sessions"].touch_after == 300
    assert namespace["sessions"].stats()["conflicts"] == 1


def check_metrics(namespace):
    assert "hug_store_redis_writes_total 1\n" in namespace["metrics_text"](namespace["store"])
    assert "cache_serving" not in namespace["metrics_text"](namespace["store"])
    exposition = namespace["exposition"]  # one collector, two stores, told apart by their label
    assert 'hug_store_redis_writes_total{namespace="shop-metrics"} 1.0' in exposition
    assert 'hug_store_redis_writes_total{namespace="admin-metrics"} 0.0' in exposition
    assert "hug_store_redis_write_bytes_bucket" in exposition
    assert namespace["otel_store"].stats()["writes"] == 1


CHECKS = {
    "docs/store.md": check_store,
    "docs/sessions.md": check_sessions,
    "docs/devices.md": check_devices,
    "docs/concurrency.md": check_concurrency,
    "docs/metrics.md": check_metrics,
}
RUN_PAGES = [page for page in PAGES if any(map(runnable, blocks(page, "python")))]


@pytest.mark.parametrize("page", RUN_PAGES, ids=page_id)
def test_python_blocks_run_in_order_against_a_real_server(page, redis_server, redis_client):
    namespace = run_page(page, redis_server.port)
    check = CHECKS.get(page_id(page))
    if check:
        check(namespace)


def test_the_pages_with_examples_are_run():
    """The pages checked above do have runnable examples: moving one away fails here first."""
    assert set(CHECKS) | {"README.md"} <= {page_id(page) for page in RUN_PAGES}
    assert sum(len(list(filter(runnable, blocks(page, "python")))) for page in PAGES) >= 12


def test_every_code_block_compiles_or_is_console_or_output():
    for page in PAGES:
        for language, code in FENCE.findall(page.read_text()):
            assert language in LANGUAGES, f"{page_id(page)}: a ```{language} block"
            if language == "python":
                compile(code, page_id(page), "exec")  # also those naming hosts elsewhere


def test_every_example_that_imports_runs_on_its_own(redis_server, redis_client):
    """A block with imports is meant to be copied alone: it must not lean on an earlier block."""
    standalone = [
        (page, block)
        for page in PAGES
        for block in blocks(page, "python")
        if re.search(r"^(import|from) ", block, flags=re.M) and runnable(block)
    ]
    assert len(standalone) >= 10
    for page, block in standalone:
        code = block.replace("6379", str(redis_server.port))
        exec(compile(code, page_id(page), "exec"), {"__name__": f"docs_example_{uuid.uuid4().hex}"})


def test_every_make_target_named_exists():
    makefile = (ROOT / "Makefile").read_text()
    rules = [
        re.compile(re.escape(name).replace("%", ".+") + "$")
        for name in re.findall(r"^([A-Za-z0-9%._-]+):", makefile, flags=re.M)
    ]
    named = {
        target
        for page in PAGES
        for target in re.findall(r"(?:`|^\$ )make ([a-z0-9][a-z0-9-]*)", page.read_text(), flags=re.M)
    }
    assert {"demo", "test", "test-main", "docs", "bench"} <= named
    for target in named:
        assert any(rule.match(target) for rule in rules), target


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The headings of ``page``, outside code blocks, with those of the files it includes,
    and the objects mkdocstrings renders there (their id is their path)."""
    text = FENCE.sub("", page.read_text())
    found = {github_anchor(heading) for heading in re.findall(r"^#+ (.+)$", text, flags=re.M)}
    found |= set(re.findall(r"^::: (\S+)$", text, flags=re.M))
    for included in SNIPPET.findall(text):
        found |= anchors(ROOT / included)
    return found


def links(page: Path) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", FENCE.sub("", page.read_text()))


def test_every_relative_link_points_to_an_existing_file():
    checked = 0
    for page in PAGES:
        for link in links(page):
            target = link.split("#")[0]
            if re.match(r"[a-z]+:", link) or not target:
                continue
            assert (page.parent / target).is_file(), f"{page_id(page)}: {link}"
            checked += 1
    assert checked >= 20


def test_every_anchor_link_reaches_a_heading():
    checked = 0
    for page in PAGES:
        for link in links(page):
            target, _, anchor = link.partition("#")
            if re.match(r"[a-z]+:", link) or not anchor:
                continue
            assert anchor in anchors(page.parent / target if target else page), f"{page_id(page)}: {link}"
            checked += 1
    assert checked >= 10


def test_the_readme_stays_an_overview():
    """The manual lives in docs/; the README is what it is, the quick start and the links."""
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, len(lines)
    assert {"## Quick start", "## Install", "## Development"} <= set(lines)


def test_the_api_reference_covers_every_public_name():
    reference = (DOCS / "reference.md").read_text()
    for name in hug_store_redis.__all__:
        assert f"\n::: hug_store_redis.{name}\n" in reference, name


def test_the_site_builds_strictly(tmp_path):
    """What make docs runs: a broken link or anchor, a page outside the nav, a missing
    included file or a docstring mkdocstrings cannot render fails the build."""
    mkdocs = Path(sys.executable).with_name("mkdocs")
    built = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", tmp_path / "site"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(mkdocs.parent)},
    )
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "site" / "reference" / "index.html").read_text().count("RedisSessionMiddleware") > 5


def test_quick_start_with_redis_down_answers_and_says_so_in_one_line(own_server, tmp_path):
    """The quick start's app.py under ``hug -f``, as the README serves it: with its Redis
    stopped a request still gets an answer (generous deadline: no multi-second retries)
    and the terminal one line about it, not a traceback."""
    (tmp_path / "app.py").write_text(blocks(README, "python")[0].replace("6379", str(own_server.port)))
    port = free_port()
    hug_script = Path(sys.executable).with_name("hug")
    server = subprocess.Popen(
        [hug_script, "-f", "app.py", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

        def visits():
            with opener.open(f"http://127.0.0.1:{port}/", timeout=30) as response:
                return json.loads(response.read())["visits"]

        wait_for("hug -f app.py to listen", lambda: _answers(port))
        assert [visits(), visits()] == [1, 2]
        own_server.stop()
        assert visits() == 1  # an empty, unsaved session while Redis is away
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    assert "Traceback" not in out + err
    (line,) = [line for line in err.splitlines() if "session store unreachable" in line]
    assert "Connection refused" in line


def _answers(port):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/favicon.ico", timeout=5).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True
