"""`make run` on a fresh clone: the server answers first, the demo is created behind it, the login comes last.

`manage.py runlocal` runs as `make run` starts it: the embedded defaults (SQLite and the filesystem broker under
a fresh QSMSTUDY_VAR_DIR), its own worker, a free port. The times to the first answer and to the printed login
go to test-artifacts/first-run.txt.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.slow]  # minutes: the whole demo is seeded

ROOT = Path(__file__).resolve().parent.parent
LOGIN = re.compile(r"^Log in as '(?P<user>[^']+)' with password '(?P<password>[^']+)'")


class Console:
    """A process's output, line by line as it comes, with when each line came."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[tuple[float, str]] = []
        self.reader = threading.Thread(target=self.read, args=(process,), daemon=True)
        self.reader.start()

    def read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def text(self) -> list[str]:
        return [line for _, line in self.lines if line.strip()]

    def wait_for(self, pattern: re.Pattern, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.text():
                if match := pattern.search(line):
                    return match
            time.sleep(0.2)
        pytest.fail(f"no line matching {pattern.pattern!r} after {timeout} s:\n" + "\n".join(self.text()))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def healthz(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url + "healthz", timeout=2) as response:
            return json.load(response)
    except OSError:
        return None


@pytest.fixture
def fresh_clone_env(tmp_path) -> dict[str, str]:
    """`make run`'s environment on a laptop: no database, broker or media settings, DEBUG=1."""
    env = {key: value for key, value in os.environ.items()
           if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "MEDIA_ROOT", "DJANGO_SETTINGS_MODULE",
                          "SECRET_KEY", "QSMSTUDY_ADDRPORT", "DEMO"}}
    env.update(DEBUG="1", QSMSTUDY_VAR_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    return env


@pytest.fixture
def runlocal(fresh_clone_env):
    port = free_port()
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "manage.py", "runlocal", "--addrport", f"127.0.0.1:{port}"],
                               cwd=ROOT, env=fresh_clone_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    yield process, Console(process), f"http://127.0.0.1:{port}/", started
    os.killpg(process.pid, signal.SIGTERM)  # runlocal, its worker and a seeding process still running
    process.wait(timeout=60)


def test_it_serves_first_and_prints_the_login_last(runlocal, fresh_clone_env, browser):
    process, console, url, started = runlocal
    while (health := healthz(url)) is None:
        assert process.poll() is None, "\n".join(console.text())
        time.sleep(0.2)
    first_answer = time.monotonic() - started
    assert health["status"] == "ok"
    assert not any(LOGIN.search(line) for line in console.text())  # the demo is still being created

    login = console.wait_for(LOGIN, timeout=600)
    login_printed = time.monotonic() - started
    time.sleep(2)  # nothing more comes on its own
    *_, url_line, login_line = console.text()
    assert url_line == f"qsmstudy is at {url}"
    assert login_line == "Log in as 'coordinator' with password 'qsmstudy-local' (created just now)."
    text = console.text()
    serving = next(i for i, line in enumerate(text) if line.startswith(f"qsmstudy is at {url} (login coordinator /"))
    assert serving < text.index("Demo study created: the dashboard fills in as the worker reconstructs its scans.")
    assert not any("No hostname was supplied" in line for line in console.text())

    worker_log = (Path(fresh_clone_env["QSMSTUDY_VAR_DIR"]) / "worker.log").read_text()
    assert "No hostname was supplied" not in worker_log
    tasks = set(re.findall(r"^  \. (\S+)$", worker_log, re.M))
    assert {"clinical.ingest", "exchange.export_bids", "exchange.import_bids",
            "recon.reconstruct", "recon.measure_rois", "recon.sweep"} <= tasks

    context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", login["user"])
    page.fill("#id_password", login["password"])
    page.click("button[type=submit]")
    expect(page.get_by_role("link", name="Motor cortex QSM (demo)")).to_be_visible(timeout=30000)
    screenshot(page, "first-run-home")
    context.close()

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "first-run.txt").write_text(
        f"first answer {first_answer:.1f} s, login printed {login_printed:.1f} s after `manage.py runlocal` started\n")
