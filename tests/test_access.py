"""Every page needs login; people see only their studies; roles decide who edits."""
import pytest
from django.urls import reverse

from clinical.models import Patient


@pytest.fixture
def patient(study):
    return Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS")


def study_pages(study, patient):
    return [
        reverse("study", args=[study.pk]),
        reverse("patient", args=[study.pk, patient.pk]),
        reverse("patient_edit", args=[study.pk, patient.pk]),
        reverse("patient_new", args=[study.pk]),
        reverse("exam_new", args=[study.pk, patient.pk]),
        reverse("import_clinical", args=[study.pk]),
    ]


def test_it_sends_anonymous_users_to_login(client, study, patient):
    for url in [reverse("home"), reverse("import_template"), "/admin/", *study_pages(study, patient)]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/login/" in response["Location"], url


def test_it_rejects_outsiders_with_404(as_outsider, study, patient):
    for url in study_pages(study, patient):
        assert as_outsider.get(url).status_code == 404, url


def test_it_hides_other_studies_from_the_home_page(as_outsider, study, other_study):
    page = as_outsider.get(reverse("home")).content.decode()
    assert other_study.name in page
    assert study.name not in page


def test_viewer_reads_but_cannot_edit(as_viewer, study, patient):
    assert as_viewer.get(reverse("patient", args=[study.pk, patient.pk])).status_code == 200
    assert as_viewer.get(reverse("patient_edit", args=[study.pk, patient.pk])).status_code == 403
    response = as_viewer.post(reverse("patient_new", args=[study.pk]), {"code": "ALS-002", "diagnosis": "ALS"})
    assert response.status_code == 403
    assert not Patient.objects.filter(code="ALS-002").exists()


def test_investigator_reads_but_cannot_edit(client, investigator, study, patient):
    client.force_login(investigator)
    assert client.get(reverse("study", args=[study.pk])).status_code == 200
    assert client.get(reverse("exam_new", args=[study.pk, patient.pk])).status_code == 403


def test_coordinator_edits(as_coordinator, study, patient):
    response = as_coordinator.post(
        reverse("patient_edit", args=[study.pk, patient.pk]),
        {"code": "ALS-001", "diagnosis": "PLS", "reason": "diagnosis revised"},
    )
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.diagnosis == "PLS"
