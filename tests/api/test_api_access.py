"""Access rules for every operation in the served schema: a new endpoint without a rule here fails.

Outsiders get 404 for everything of a study, viewers 403 on every write, investigators 403 on the
coordinators' writes, and nobody gets anything without a token or session (401 JSON, no login redirect).
"""
from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from tests.api.conftest import token_client, url_of

pytestmark = pytest.mark.django_db

SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
OPERATIONS = [(method.upper(), path) for path, item in SCHEMA["paths"].items() for method in item
              if method in ("get", "post", "put", "patch", "delete")]
STUDY_OPERATIONS = [op for op in OPERATIONS if op[1].startswith("/api/v1/studies/{study_id}")]
WRITES = [op for op in OPERATIONS if op[0] != "GET"]
MULTIPART = {"/api/v1/studies/{study_id}/scans/", "/api/v1/studies/{study_id}/rois/upload",
             "/api/v1/studies/{study_id}/import/clinical", "/api/v1/studies/{study_id}/import/roi-values",
             "/api/v1/studies/{study_id}/import/bids"}

# Who may write what, as on the pages (membership_or_404(edit=...) or (analyse=...)).
WRITE_ROLE = {
    ("POST", "/api/v1/studies/{study_id}/patients/"): "coordinator",
    ("PATCH", "/api/v1/studies/{study_id}/patients/{patient_id}/"): "coordinator",
    ("POST", "/api/v1/studies/{study_id}/exams/"): "coordinator",
    ("PATCH", "/api/v1/studies/{study_id}/exams/{exam_id}/"): "coordinator",
    ("POST", "/api/v1/studies/{study_id}/scans/"): "coordinator",
    ("POST", "/api/v1/studies/{study_id}/rois/sphere"): "coordinator",
    ("POST", "/api/v1/studies/{study_id}/rois/upload"): "coordinator",
    ("POST", "/api/v1/studies/{study_id}/import/clinical"): "coordinator",
    ("POST", "/api/v1/studies/{study_id}/import/roi-values"): "coordinator",
    ("POST", "/api/v1/studies/{study_id}/import/bids"): "coordinator",
    ("POST", "/api/v1/studies/{study_id}/runs/"): "investigator",
    ("POST", "/api/v1/studies/{study_id}/runs/{run_id}/cancel"): "investigator",
    ("POST", "/api/v1/studies/{study_id}/runs/{run_id}/retry"): "investigator",
    ("POST", "/api/v1/studies/{study_id}/runs/{run_id}/make-current"): "investigator",
    ("POST", "/api/v1/studies/{study_id}/export/bids"): "viewer",  # starts a job; every member exports
}


def call(client: APIClient, method: str, path: str, seeded: dict):
    url = url_of(seeded, path)
    if method == "GET":
        return client.get(url)
    return getattr(client, method.lower())(url, {}, format="multipart" if path in MULTIPART else "json")


def test_every_write_has_a_rule():
    assert sorted(WRITES) == sorted(WRITE_ROLE)


@pytest.mark.parametrize("method,path", STUDY_OPERATIONS)
def test_it_rejects_outsiders_with_404(method, path, seeded, outsider):
    response = call(token_client(outsider), method, path, seeded)
    assert response.status_code == 404, response.content
    assert response.json() == {"detail": "Not found."}  # nothing about what exists or who is a member


@pytest.mark.parametrize("method,path", OPERATIONS)
def test_it_asks_for_credentials_with_401_json(method, path, seeded):
    response = call(APIClient(), method, path, seeded)
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"].startswith("Token") and "detail" in response.json()


@pytest.mark.parametrize("method,path", [op for op in WRITES if WRITE_ROLE[op] != "viewer"])
def test_viewers_cannot_write(method, path, seeded, viewer):
    response = call(token_client(viewer), method, path, seeded)
    assert response.status_code == 403, response.content
    assert "detail" in response.json()


@pytest.mark.parametrize("method,path", WRITES)
def test_investigators_write_only_what_the_pages_let_them(method, path, seeded, investigator):
    response = call(token_client(investigator), method, path, seeded)
    if WRITE_ROLE[(method, path)] == "coordinator":
        assert response.status_code == 403, response.content
    else:
        assert response.status_code in (200, 201, 202, 400, 409), response.content


@pytest.mark.parametrize("method,path", [op for op in STUDY_OPERATIONS if op[0] == "GET"])
def test_viewers_read_everything(method, path, seeded, viewer):
    response = call(token_client(viewer), method, path, seeded)
    # Files of the seeded run and export do not exist yet (they never ran): a member learns that, not "forbidden".
    unwritten = ("/files/" in path and "/runs/" in path) or path.endswith("/transfers/{transfer_uid}/download")
    assert response.status_code == (404 if unwritten else 200), response.content


def test_a_token_works_without_a_session_and_a_wrong_one_does_not(seeded, coordinator):
    client = token_client(coordinator)
    response = client.get("/api/v1/studies/")
    assert response.status_code == 200 and "sessionid" not in response.cookies
    assert response.json()["results"] == [
        {**response.json()["results"][0], "id": seeded["study"].pk, "role": "coordinator"}]
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get("/api/v1/studies/").status_code == 401


def test_the_browser_session_works_too_with_csrf(seeded, coordinator):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(coordinator)
    assert client.get(f"/api/v1/studies/{seeded['study'].pk}/patients/").status_code == 200
    response = client.post(f"/api/v1/studies/{seeded['study'].pk}/patients/", {"code": "X-1", "diagnosis": "ALS"},
                           format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


def test_the_schema_needs_a_login_too(seeded, coordinator):
    assert APIClient().get("/api/schema?format=json").status_code == 401
    schema = token_client(coordinator).get("/api/schema?format=json").json()
    assert schema["openapi"].startswith("3.") and "/api/v1/studies/{study_id}/analysis" in schema["paths"]


def test_the_pages_for_people_need_a_login(client, coordinator):
    for url in ("/api/token", "/api/docs"):
        assert client.get(url).status_code == 302
    client.force_login(coordinator)
    assert "GET" in client.get("/api/docs").content.decode()


@pytest.mark.parametrize("url", ["/api/v1/studies/10000000000000000000000/patients/", "/api/v1/no/such/thing"])
def test_impossible_ids_and_unknown_addresses_answer_json_404(url, coordinator):
    response = token_client(coordinator).get(url)
    assert response.status_code == 404 and "/api/docs" in response.json()["detail"]


def test_impossible_filter_ids_are_refused_not_sent_to_the_database(seeded, coordinator):
    response = token_client(coordinator).get(f"/api/v1/studies/{seeded['study'].pk}/roi-values/",
                                             {"patient": -10**30, "run": 10**30})
    assert response.status_code == 400 and set(response.json()) == {"patient", "run"}
