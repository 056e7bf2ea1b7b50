"""The API for people: the token page, the operations page and the browsable API in a logged-in browser."""
from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token

from tests.api.conftest import url_of
from tests.api.test_api_access import OPERATIONS

pytestmark = pytest.mark.django_db


def test_the_token_page_shows_a_token_that_works_and_replaces_it(client, coordinator, study):
    client.force_login(coordinator)
    page = client.get("/api/token").content.decode()
    key = Token.objects.get(user=coordinator).key
    assert f"Token {key}" in page
    client.post("/api/token")
    new = Token.objects.get(user=coordinator).key
    assert new != key and f"Token {new}" in client.get("/api/token").content.decode()
    client.logout()
    assert client.get("/api/v1/studies/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
    assert client.get("/api/v1/studies/", HTTP_AUTHORIZATION=f"Token {new}").status_code == 200


def test_the_operations_page_lists_every_operation(client, coordinator):
    client.force_login(coordinator)
    page = client.get("/api/docs").content.decode()
    for method, path in OPERATIONS:
        assert f"<code>{path}</code>" in page, (method, path)


DOWNLOADS = ("/files/", "/mask", "/export/", "/download")  # files, whatever the Accept header


@pytest.mark.parametrize("path", [path for method, path in OPERATIONS if method == "GET"
                                  and not any(part in path for part in DOWNLOADS)])
def test_the_browsable_api_renders_for_a_logged_in_member(path, client, seeded, coordinator):
    client.force_login(coordinator)
    response = client.get(url_of(seeded, path), HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
