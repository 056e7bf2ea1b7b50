"""The dashboard's dataset CSV and the import of ROI values measured elsewhere, over the API."""
from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clinical.models import Patient
from dashboard.models import ExternalRoiValue
from tests.api.conftest import token_client
from tests.dashboard.cohort import seed_cohort

pytestmark = pytest.mark.django_db
GOOD = b"patient_code,scan_date,roi,value_ppb\nALS-001,2024-02-01,LMC,41.5\nALS-001,2024-02-01,RMC,38\n"


def import_values(client, study, name: str, data: bytes):
    return client.post(f"/api/v1/studies/{study.pk}/import/roi-values", {"file": SimpleUploadedFile(name, data)},
                       format="multipart")


@pytest.mark.parametrize("query", [{}, {"diagnosis": ["PLS"], "date_from": "2024-01-01", "max_gap": "5"}])
def test_the_dataset_csv_is_the_dashboards(study, viewer, client, query):
    seed_cohort(study)
    response = token_client(viewer).get(f"/api/v1/studies/{study.pk}/export/dataset", query, HTTP_ACCEPT="text/csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    client.force_login(viewer)
    page = client.get(reverse("dataset_csv", args=[study.pk]), query)
    assert response.content == page.content and response["Content-Disposition"] == page["Content-Disposition"]
    assert len(response.content.splitlines()) == 1 + (3 if query else 12)


def test_the_dataset_csv_refuses_bad_filters(study, viewer):
    response = token_client(viewer).get(f"/api/v1/studies/{study.pk}/export/dataset",
                                        {"diagnosis": "flu", "date_to": "last week", "max_gap": -1})
    assert response.status_code == 400 and set(response.json()) == {"diagnosis.0", "date_to", "max_gap"}


def test_imported_values_are_recorded_with_the_token_user(study, coordinator):
    Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS")
    api = token_client(coordinator)
    response = import_values(api, study, "values.csv", GOOD)
    assert response.status_code == 200, response.json()
    assert response.json() == {"created": 2, "updated": 0, "summary": "2 values added, 0 updated."}
    value = ExternalRoiValue.objects.get(roi_name="LMC")
    assert (value.value_ppb, value.scan_date, value.imported_by) == (41.5, dt.date(2024, 2, 1), coordinator)
    assert value.source == "CSV import: values.csv"
    again = import_values(api, study, "values.csv", GOOD.replace(b"41.5", b"40.0"))
    assert (again.json()["created"], again.json()["updated"]) == (0, 2)


def test_a_bad_values_file_names_each_cell_and_saves_nothing(study, coordinator):
    Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS")
    bad = GOOD + b"ALS-404,2024-02-01,LMC,1\nALS-001,2024-02-02,hand,1\n"
    response = import_values(token_client(coordinator), study, "bad.csv", bad)
    assert response.status_code == 400
    [unknown, label] = response.json()["file"]
    assert unknown.startswith("row 4, column 'patient_code' (value 'ALS-404')")
    assert label.startswith("row 5, column 'roi' (value 'hand')")
    assert not ExternalRoiValue.objects.exists()
