"""REDCap downloads go to every member (like the dataset CSV); only coordinators import; outsiders get 404."""
import csv
import io

import pytest
from django.urls import reverse

from clinical.models import Patient
from clinical.redcap import data_csv
from tests.test_redcap_roundtrip import make_cohort

pytestmark = pytest.mark.django_db
DOWNLOADS = ("redcap_data", "redcap_dictionary")


@pytest.mark.parametrize("name", DOWNLOADS)
def test_it_rejects_outsiders(as_outsider, study, name):
    make_cohort(study)
    assert as_outsider.get(reverse(name, args=[study.pk])).status_code == 404


@pytest.mark.parametrize("name", DOWNLOADS)
def test_it_asks_anonymous_visitors_to_log_in(client, study, name):
    response = client.get(reverse(name, args=[study.pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_viewers_download_the_records_and_the_dictionary_from_the_study_page(as_viewer, study):
    make_cohort(study)
    page = as_viewer.get(reverse("study", args=[study.pk])).content.decode()
    assert reverse("redcap_data", args=[study.pk]) in page and reverse("redcap_dictionary", args=[study.pk]) in page
    response = as_viewer.get(reverse("redcap_data", args=[study.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert f'filename="qsmstudy-study{study.pk}-redcap-data.csv"' in response["Content-Disposition"]
    assert response.content.decode() == data_csv(study)
    dictionary = as_viewer.get(reverse("redcap_dictionary", args=[study.pk]))
    assert next(csv.reader(io.StringIO(dictionary.content.decode())))[0] == "Variable / Field Name"


def test_the_export_holds_only_the_studys_patients(as_viewer, study, other_study):
    make_cohort(study)
    Patient.objects.create(study=other_study, code="ELSEWHERE-1", diagnosis="ALS")
    body = as_viewer.get(reverse("redcap_data", args=[study.pk])).content.decode()
    assert "ALS-001" in body and "ELSEWHERE-1" not in body


def upload(data: bytes):
    file = io.BytesIO(data)
    file.name = "redcap.csv"
    return {"file": file}


def test_coordinators_import_a_redcap_export_on_the_import_page(as_coordinator, study, other_study, coordinator):
    make_cohort(other_study)
    page = as_coordinator.get(reverse("import_clinical", args=[study.pk])).content.decode()
    assert "REDCap record export" in page
    response = as_coordinator.post(reverse("import_clinical", args=[study.pk]), upload(data_csv(other_study).encode()))
    assert response.status_code == 302
    assert study.patients.count() == 8
    record = study.patients.get(code="ALS-001").history.earliest()
    assert record.history_change_reason == "REDCap import: redcap.csv" and record.history_user == coordinator


def test_the_import_page_lists_redcap_problems_and_saves_nothing(as_coordinator, study):
    data = b"record_id,redcap_repeat_instrument,redcap_repeat_instance,diagnosis\nALS-001,,,7\n"
    body = as_coordinator.post(reverse("import_clinical", args=[study.pk]), upload(data)).content.decode()
    assert "Nothing was imported" in body and "row 2, column &#x27;diagnosis&#x27; (value &#x27;7&#x27;)" in body
    assert not Patient.objects.exists()


def test_viewers_cannot_import_a_redcap_export(as_viewer, study, other_study):
    make_cohort(other_study)
    response = as_viewer.post(reverse("import_clinical", args=[study.pk]), upload(data_csv(other_study).encode()))
    assert response.status_code == 403 and not study.patients.exists()


def test_outsiders_cannot_import_a_redcap_export(as_outsider, study):
    data = b"record_id,diagnosis\nALS-001,1\n"
    assert as_outsider.post(reverse("import_clinical", args=[study.pk]), upload(data)).status_code == 404
    assert not Patient.objects.exists()
