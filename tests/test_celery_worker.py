"""A real `celery worker` process runs a task sent through the configured broker (not eager)."""
import pytest
from django.conf import settings

from qsmstudy.celery import app, ping


@pytest.mark.worker
def test_a_worker_process_runs_a_task(celery_worker_process):
    assert not app.conf.task_always_eager
    result = ping.delay("hello from the test")
    assert result.get(timeout=90) == "hello from the test"
    assert celery_worker_process.poll() is None


def test_the_broker_is_the_one_configured():
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
