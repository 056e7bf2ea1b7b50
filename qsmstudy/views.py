"""Project-level views: the health check."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from .celery import app as celery_app


def database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # any driver error means "not answering"
        return f"error: {exc.__class__.__name__}"


def broker_status() -> str:
    try:
        with celery_app.connection_for_read(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:  # kombu raises transport-specific errors
        return f"error: {exc.__class__.__name__}"


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    status = {"database": database_status(), "broker": broker_status()}
    healthy = all(v == "ok" for v in status.values())
    return JsonResponse({"status": "ok" if healthy else "error", **status}, status=200 if healthy else 503)
