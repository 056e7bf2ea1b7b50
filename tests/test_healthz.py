import pytest

pytestmark = pytest.mark.django_db


def test_it_reports_database_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_it_needs_no_login(client):
    assert client.get("/healthz").status_code == 200


def test_it_answers_503_when_the_broker_is_down(client, settings):
    # Nothing listens on port 9 of this machine: a real refused connection.
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"].startswith("error")
    assert response.json()["database"] == "ok"
