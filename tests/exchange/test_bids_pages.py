"""The BIDS pages: members export, coordinators import, outsiders get 404."""
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clinical.models import Patient, Role, Study
from tests.exchange.study_data import DESIGN, build_study

pytestmark = pytest.mark.django_db


def zip_names(response) -> set[str]:
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as zf:
        return {name.split("/", 1)[1] for name in zf.namelist()}


def test_it_rejects_outsiders(as_outsider, study):
    for name in ("bids", "bids_export", "bids_import"):
        assert as_outsider.get(reverse(name, args=[study.pk])).status_code == 404


def test_viewers_export_but_cannot_import(as_viewer, study):
    build_study(study, design=DESIGN[:2], scans=False)
    page = as_viewer.get(reverse("bids", args=[study.pk]))
    assert page.status_code == 200 and b"Only the study's coordinators can import" in page.content
    response = as_viewer.get(reverse("bids_export", args=[study.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="motor-cortex-qsm-bids.zip"'
    assert {"participants.tsv", "phenotype/exams.tsv", "dataset_description.json"} <= zip_names(response)
    assert as_viewer.get(reverse("bids_import", args=[study.pk])).status_code == 403


def test_the_study_page_links_to_bids(as_viewer, study):
    assert reverse("bids", args=[study.pk]).encode() in as_viewer.get(reverse("study", args=[study.pk])).content


def test_the_export_takes_the_dashboard_filters_and_patients(as_viewer, study):
    build_study(study, design=DESIGN, scans=False)
    response = as_viewer.get(reverse("bids_export", args=[study.pk]), {"diagnosis": "PLS", "patient": ["PLS-02"]})
    participants = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(participants)) as zf:
        table = zf.read("motor-cortex-qsm-bids/participants.tsv").decode()
    assert [line.split("\t")[0] for line in table.splitlines()] == ["participant_id", "sub-PLS02"]
    empty = as_viewer.get(reverse("bids_export", args=[study.pk]), {"diagnosis": "HC"}, follow=True)
    assert b"No patient matches this selection" in empty.content


def test_a_coordinator_imports_a_dataset_and_sees_what_was_wrong(client, as_viewer, study, django_user_model):
    build_study(study, design=DESIGN[:3], scans=False)
    archive = b"".join(as_viewer.get(reverse("bids_export", args=[study.pk])).streaming_content)
    target = Study.objects.create(name="Target")
    coordinator = django_user_model.objects.create_user("cora")
    target.add_member(coordinator, Role.COORDINATOR)
    client.force_login(coordinator)
    url = reverse("bids_import", args=[target.pk])

    broken = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as source, zipfile.ZipFile(broken, "w") as out:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.endswith("participants.tsv"):
                data = data.replace(b"\t1951\t", b"\t2190\t")
            out.writestr(item, data)
    refused = client.post(url, {"file": SimpleUploadedFile("broken.zip", broken.getvalue())})
    assert refused.status_code == 200
    assert b"Nothing was imported" in refused.content and b"participants.tsv, line 3: birth_year" in refused.content
    assert not target.patients.exists()

    imported = client.post(url, {"file": SimpleUploadedFile("study.zip", archive)}, follow=True)
    assert imported.redirect_chain[-1][0] == reverse("study", args=[target.pk])
    assert b"Imported study.zip: 3 patients, 6 exams, 0 scan sessions" in imported.content
    assert sorted(Patient.objects.filter(study=target).values_list("code", flat=True)) == ["ALS-01", "ALS-02", "ALS_03"]
