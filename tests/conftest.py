"""Shared fixtures: people with roles in studies, a real Celery worker, headless Chromium."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from clinical.models import Patient, Role, Study

# Playwright's sync API runs an event loop in the test thread; the ORM calls
# made by fixtures in that thread are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "correct-horse-battery"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def study(db) -> Study:
    return Study.objects.create(name="Motor cortex QSM", site="Ottawa")


@pytest.fixture
def other_study(db) -> Study:
    return Study.objects.create(name="Elsewhere study", site="Elsewhere")


def _member(django_user_model, study: Study, username: str, role: str):
    user = django_user_model.objects.create_user(username, password=PASSWORD)
    study.add_member(user, role)
    return user


@pytest.fixture
def coordinator(django_user_model, study):
    return _member(django_user_model, study, "alice", Role.COORDINATOR)


@pytest.fixture
def investigator(django_user_model, study):
    return _member(django_user_model, study, "ivan", Role.INVESTIGATOR)


@pytest.fixture
def viewer(django_user_model, study):
    return _member(django_user_model, study, "vera", Role.VIEWER)


@pytest.fixture
def outsider(django_user_model, other_study):
    return _member(django_user_model, other_study, "oscar", Role.COORDINATOR)


@pytest.fixture
def patient(study):
    """A patient of the study with onset in January 2022."""
    return Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS", onset_month=dt.date(2022, 1, 1))


@pytest.fixture
def media(settings, tmp_path) -> Path:
    """MEDIA_ROOT inside the test's own folder, so stored scans can be counted and are removed."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def as_coordinator(client, coordinator):
    client.force_login(coordinator)
    return client


@pytest.fixture
def as_viewer(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def as_outsider(client, outsider):
    client.force_login(outsider)
    return client


def worker_environment(extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a worker process that shares the test database and broker."""
    env = os.environ.copy() | (extra_env or {})
    env["DJANGO_SETTINGS_MODULE"] = "qsmstudy.test_settings"
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    return env


def start_worker(queues: str = "celery,ingest,recon", hostname: str = "test", extra_env=None) -> subprocess.Popen:
    log = open(ARTIFACTS / f"worker-{hostname}.log", "wb")
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "qsmstudy", "worker", "--loglevel=INFO", f"--queues={queues}",
         "--concurrency=1", "--pool=prefork", f"--hostname={hostname}@%h", "--without-gossip", "--without-mingle"],
        env=worker_environment(extra_env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def celery_worker_process(transactional_db):
    """A real `celery worker` process on the configured broker, sharing the test database."""
    ARTIFACTS.mkdir(exist_ok=True)
    purge_queues()
    process = start_worker()
    yield process
    stop_worker(process)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (Debian's chromium package).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def log_in(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def wait_for(predicate, timeout: float = 60, interval: float = 0.2):
    """Poll until predicate() is truthy; return its value or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"Timed out after {timeout}s waiting for {predicate.__name__}")


def run_ingests() -> None:
    """Do what the ingest worker does, in this process: run the ingest task on every received upload."""
    from clinical.models import Ingest
    from clinical.tasks import ingest_task

    for pk in Ingest.objects.filter(status=Ingest.Status.RECEIVED).values_list("pk", flat=True):
        ingest_task.apply(args=[pk], throw=True)


def ingested(client, response):
    """A page upload's outcome: its ingest page once the ingest has run (a redirect to the scan if stored)."""
    if response.status_code != 302 or "/ingests/" not in response["Location"]:
        return response
    run_ingests()
    return client.get(response["Location"])


def api_ingested(client, response):
    """An API upload's outcome: the ingest (JSON) once it has run, or the refusal of the request itself."""
    if response.status_code != 202:
        return response
    run_ingests()
    return client.get(response["Location"])


def finish_ingest(page) -> None:
    """After an upload's submit: on the ingest's page, do the ingest worker's part; the page moves on by itself."""
    page.wait_for_selector("#ingest")
    run_ingests()


def purge_queues() -> None:
    """Drop messages left in the test broker by earlier runs, so a worker sees only this test's tasks."""
    from qsmstudy.celery import app

    with app.connection_for_write() as conn:
        for queue in ("celery", "ingest", "recon"):
            try:
                conn.default_channel.queue_purge(queue)
            except Exception:  # the queue does not exist yet
                pass


FAST_RECOVERY = {"RECON_STALE_AFTER_SECONDS": "3", "RECON_HEARTBEAT_SECONDS": "0.5"}


class Workers:
    """Real worker processes started by a test; all are stopped when it ends."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen] = []
        self.names: list[str] = []

    def start(self, name: str = "recon") -> subprocess.Popen:
        self.names.append(name)
        self.processes.append(start_worker(hostname=name, extra_env=FAST_RECOVERY))
        return self.processes[-1]

    def log(self) -> str:
        return "".join((ARTIFACTS / f"worker-{name}.log").read_text() for name in self.names)

    def stop_all(self) -> None:
        for process in self.processes:
            stop_worker(process)


@pytest.fixture
def workers(transactional_db):
    """Start real worker processes on demand (short heartbeat and takeover delays); all stop at the end."""
    ARTIFACTS.mkdir(exist_ok=True)
    purge_queues()
    pool = Workers()
    yield pool
    pool.stop_all()


@pytest.fixture
def recon_worker(workers):
    """One real worker consuming both queues."""
    workers.start()
    return workers


def loaded_image_width(page, selector: str, timeout: float = 30000) -> int:
    """Wait until the image has loaded (or failed) and return its natural width: 0 means it is broken."""
    page.wait_for_function(f"() => {{ const img = document.querySelector({selector!r}); return img && img.complete; }}",
                           timeout=timeout)
    return page.locator(selector).evaluate("img => img.naturalWidth")


def wait_for_plots(page) -> None:
    """The dashboard fetches its plots after the page loads: wait until every one is in place."""
    for name in ("groups", "paired", "scatter"):
        page.wait_for_selector(f"#plot-{name}[data-loaded=true]")


class PrivateRedis:
    """A redis-server of the test's own on a free port (never the shared one), which it may stop and start."""

    def __init__(self) -> None:
        import socket

        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            self.port = free.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        import redis

        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)

        def redis_answers():
            try:
                return client.ping()
            except redis.ConnectionError:
                return False

        wait_for(redis_answers, timeout=10, interval=0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def client(self):
        import redis

        return redis.Redis(port=self.port)


def point_celery_at(url: str, transport_options: dict) -> None:
    """Make the Celery app of this test process send to another broker (its cached connections are dropped)."""
    from qsmstudy.celery import app

    app.conf.broker_url = url
    app.conf.broker_transport_options = transport_options
    app._after_fork()  # forget the pooled connections to the old broker (kombu keeps them per URL)


@pytest.fixture
def private_redis(settings):
    """A private Redis as the Celery broker of this test (CELERY_BROKER_URL and the app); restored afterwards."""
    from qsmstudy.celery import app

    server = PrivateRedis()
    server.start()
    before = (app.conf.broker_url, dict(app.conf.broker_transport_options or {}))
    environment = os.environ.get("CELERY_BROKER_URL")
    # Celery reads this variable before its configuration (CI sets it), so it must point here too.
    os.environ["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL = server.url
    point_celery_at(server.url, {"socket_connect_timeout": 3})
    yield server
    if environment is None:
        del os.environ["CELERY_BROKER_URL"]
    else:
        os.environ["CELERY_BROKER_URL"] = environment
    point_celery_at(*before)
    server.stop()


# expect() waits as long as the page's own actions do (its default is 5 s): a busy machine is slow to land.
from playwright.sync_api import expect  # noqa: E402

expect.set_options(timeout=15000)
