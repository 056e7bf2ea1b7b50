"""An unexpected failure under /api/ answers JSON 500 without internals; the pages keep Django's HTML 500."""
from __future__ import annotations

import pytest
from django.test import Client

from api import pages, views
from api.errors import SERVER_ERROR
from clinical.models import Study
from qsmstudy import views as site_views
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db
SECRET = "password=hunter2 in /srv/qsmstudy/settings.py"


def fail(*args, **kwargs):
    raise RuntimeError(SECRET)


def test_api_errors_are_json(coordinator, monkeypatch):
    def write_then_fail(self, request, *args, **kwargs):
        Study.objects.create(name="Half-made study", site="Nowhere")
        fail()

    monkeypatch.setattr(views.StudyViewSet, "list", write_then_fail)
    api = token_client(coordinator)
    api.raise_request_exception = False
    response = api.get("/api/v1/studies/")
    assert response.status_code == 500 and response["Content-Type"] == "application/json"
    assert response.json() == {"detail": SERVER_ERROR}
    assert "hunter2" not in response.content.decode()
    assert not Study.objects.filter(name="Half-made study").exists()  # the request's transaction rolled back


def test_an_api_page_error_is_json_too(coordinator, monkeypatch):
    monkeypatch.setattr(pages, "render", fail)
    client = Client(raise_request_exception=False)
    client.force_login(coordinator)
    response = client.get("/api/token")
    assert response.status_code == 500 and response.json() == {"detail": SERVER_ERROR}


def test_other_errors_keep_the_html_page(monkeypatch):
    monkeypatch.setattr(site_views, "database_status", fail)
    response = Client(raise_request_exception=False).get("/healthz")
    assert response.status_code == 500 and response["Content-Type"].startswith("text/html")
    assert "Server Error (500)" in response.content.decode() and "hunter2" not in response.content.decode()
