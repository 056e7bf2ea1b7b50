"""The clinical CSV import and the REDCap export over the API: the import page's rules, audit and messages."""
from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clinical.models import Exam, Patient, Role
from clinical.importer import MAX_IMPORT_BYTES
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db
TEMPLATE = Path(__file__).resolve().parents[2] / "docs" / "clinical-import-template.csv"


def import_csv(client, study, name: str, data: bytes):
    return client.post(f"/api/v1/studies/{study.pk}/import/clinical", {"file": SimpleUploadedFile(name, data)},
                       format="multipart")


def test_an_imported_csv_is_audited_with_the_token_user(study, coordinator):
    response = import_csv(token_client(coordinator), study, "clinic.csv", TEMPLATE.read_bytes())
    assert response.status_code == 200, response.json()
    assert response.json() == {"patients_created": 1, "patients_updated": 0, "exams_created": 1, "exams_updated": 0,
                               "summary": "1 patients created, 0 updated; 1 exams created, 0 updated."}
    patient = Patient.objects.get(study=study, code="ALS-001")
    [record] = patient.history.all()
    assert record.history_user == coordinator and record.history_change_reason == "CSV import: clinic.csv"
    assert Exam.objects.get(patient=patient).history.get().history_user == coordinator


def test_a_bad_csv_is_refused_by_row_and_column_and_saves_nothing(study, coordinator):
    good = TEMPLATE.read_text()
    header = next(csv.reader(io.StringIO(good)))
    later = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    bad_rows = [{"study_code": "PLS-002", "diagnosis": "flu"},
                {"study_code": "ALS-001", "exam_date": later, "examiner": "Dr B"}]
    data = good + "".join(",".join(row.get(column, "") for column in header) + "\n" for row in bad_rows)
    response = import_csv(token_client(coordinator), study, "bad.csv", data.encode())
    assert response.status_code == 400
    messages = response.json()["file"]
    assert any(m.startswith("row 3, column 'diagnosis' (value 'flu')") for m in messages), messages
    assert any(m.startswith(f"row 4, column 'exam_date' (value '{later}')") for m in messages), messages
    assert not Patient.objects.exists() and not Exam.objects.exists()  # the good row 2 was rolled back too


def test_a_file_that_is_not_text_is_refused(study, coordinator):
    response = import_csv(token_client(coordinator), study, "scan.zip", b"PK\x03\x04\xff\xfe\x00binary")
    assert response.status_code == 400 and "not UTF-8 text" in response.json()["file"][0]
    missing = token_client(coordinator).post(f"/api/v1/studies/{study.pk}/import/clinical", {}, format="multipart")
    assert missing.status_code == 400 and set(missing.json()) == {"file"}


def test_the_redcap_export_is_the_pages_and_imports_back(study, other_study, coordinator, viewer, client):
    patient = Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS", onset_month=dt.date(2022, 1, 1))
    Exam.objects.create(patient=patient, date=dt.date(2024, 3, 1), examiner="Dr A", mas_upper_left="1+")
    api = token_client(viewer)
    records = api.get(f"/api/v1/studies/{study.pk}/export/redcap-records", HTTP_ACCEPT="text/csv")
    dictionary = api.get(f"/api/v1/studies/{study.pk}/export/redcap-dictionary")
    client.force_login(viewer)
    for response, page in [(records, "redcap_data"), (dictionary, "redcap_dictionary")]:
        assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
        from_page = client.get(reverse(page, args=[study.pk]))
        assert response.content == from_page.content
        assert response["Content-Disposition"] == from_page["Content-Disposition"]
    assert dictionary.content.startswith(b"Variable / Field Name,")

    other_study.add_member(coordinator, Role.COORDINATOR)
    imported = import_csv(token_client(coordinator), other_study, "redcap.csv", records.content)
    assert imported.status_code == 200, imported.json()
    assert (imported.json()["patients_created"], imported.json()["exams_created"]) == (1, 1)
    copy = Patient.objects.get(study=other_study, code="ALS-001")
    assert copy.exams.get().mas_upper_left == "1+"
    assert copy.history.get().history_change_reason == "REDCap import: redcap.csv"


def test_a_csv_over_the_pages_limit_is_refused(study, coordinator):
    header = TEMPLATE.read_bytes().splitlines()[0] + b"\n"
    data = header + b"," * (MAX_IMPORT_BYTES - len(header) + 1)
    response = import_csv(token_client(coordinator), study, "huge.csv", data)
    assert response.status_code == 400 and "Split it." in response.json()["file"][0]
    assert not Patient.objects.exists()
