"""The sweep runs periodically: a beat schedule entry (and compose service), beat embedded in runlocal, a command."""
import io
from pathlib import Path

import yaml
from django.conf import settings
from django.core.management import call_command

from qsmstudy.celery import app

ROOT = Path(__file__).resolve().parent.parent


def test_beat_schedules_the_sweep_on_the_default_queue():
    [entry] = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "recon.sweep"]
    assert entry["schedule"] == settings.SWEEP_INTERVAL
    assert "recon.sweep" in app.tasks
    assert app.amqp.router.route({}, "recon.sweep")["queue"].name == "celery"
    assert app.amqp.router.route({}, "recon.reconstruct")["queue"].name == "recon"


def test_compose_runs_one_beat_and_runlocal_embeds_it():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "qsmstudy", "beat"]
    assert services["beat"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert '"--beat"' in (ROOT / "qsmstudy" / "management" / "commands" / "runlocal.py").read_text()


def test_manage_py_sweep_runs_it(db, media):
    (media / ".incoming").mkdir(parents=True)
    out = io.StringIO()
    call_command("sweep", stdout=out)
    assert out.getvalue().startswith("sweep: resent runs none, ingests none; removed 0 incoming")
