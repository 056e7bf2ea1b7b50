"""The Celery app: configured from Django settings (the CELERY_ namespace)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qsmstudy.settings")

app = Celery("qsmstudy")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="qsmstudy.ping")
def ping(payload: str = "pong") -> str:
    """Round-trip check for workers: returns its argument."""
    return payload
