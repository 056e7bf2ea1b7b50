"""The BIDS pages: members export, coordinators import, both as jobs with a page; outsiders get 404."""
import io
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from clinical.models import Patient, Role, Study
from exchange.models import Transfer
from tests.exchange.conftest import run_jobs, zip_members
from tests.exchange.study_data import DESIGN, build_study

pytestmark = pytest.mark.django_db(transaction=True)  # the jobs run here, and their progress thread must see them


def export(client, study, data=None) -> Transfer:
    response = client.post(reverse("bids_export", args=[study.pk]), data or {})
    transfer = Transfer.objects.get(study=study, kind=Transfer.Kind.EXPORT)
    assert response.status_code == 302 and response["Location"] == transfer.get_absolute_url()
    return transfer


def download(client, transfer: Transfer):
    return client.get(reverse("bids_download", args=[transfer.study_id, transfer.uid]))


def test_it_rejects_outsiders(as_outsider, study, coordinator):
    transfer = Transfer.objects.create(kind=Transfer.Kind.EXPORT, study=study, requested_by=coordinator)
    for name in ("bids", "bids_import"):
        assert as_outsider.get(reverse(name, args=[study.pk])).status_code == 404
    assert as_outsider.post(reverse("bids_export", args=[study.pk])).status_code == 404
    for name in ("bids_transfer", "bids_transfer_status", "bids_download"):
        assert as_outsider.get(reverse(name, args=[study.pk, transfer.uid])).status_code == 404
    assert not Transfer.objects.exclude(pk=transfer.pk).exists()


def test_it_sends_anonymous_users_to_login(client, study, coordinator):
    transfer = Transfer.objects.create(kind=Transfer.Kind.EXPORT, study=study, requested_by=coordinator)
    urls = [reverse(name, args=[study.pk]) for name in ("bids", "bids_import")]
    urls += [reverse(name, args=[study.pk, transfer.uid]) for name in ("bids_transfer", "bids_transfer_status",
                                                                        "bids_download")]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url
    assert "/login/" in client.post(reverse("bids_export", args=[study.pk]))["Location"]
    assert not Transfer.objects.exclude(pk=transfer.pk).exists()


def test_viewers_export_but_cannot_import(as_viewer, study, media):
    build_study(study, design=DESIGN[:2], scans=False)
    page = as_viewer.get(reverse("bids", args=[study.pk]))
    assert page.status_code == 200 and b"Only the study's coordinators can import" in page.content
    transfer = export(as_viewer, study)
    waiting = as_viewer.get(transfer.get_absolute_url())
    assert b"waits for a worker" in waiting.content and b'id="transfer-download" hidden' in waiting.content
    assert download(as_viewer, transfer).status_code == 404  # not written yet

    assert run_jobs() == ["succeeded"]
    status = as_viewer.get(reverse("bids_transfer_status", args=[study.pk, transfer.uid])).json()
    assert status["status"] == "succeeded" and status["percent"] == 100
    assert status["download"] == reverse("bids_download", args=[study.pk, transfer.uid])
    assert status["message"] == "Exported the whole study: 2 participants, 0 sessions (0 with QSM derivatives)."
    response = download(as_viewer, transfer)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="motor-cortex-qsm-bids.zip"'
    members = zip_members(b"".join(response.streaming_content))
    assert {"participants.tsv", "phenotype/exams.tsv", "dataset_description.json"} <= set(members)
    transfer.refresh_from_db()
    assert transfer.file_path == f"exports/{transfer.uid}.zip"
    assert [p.name for p in (Path(settings.MEDIA_ROOT) / "exports").iterdir()] == [f"{transfer.uid}.zip"]
    assert as_viewer.get(reverse("bids_import", args=[study.pk])).status_code == 403


def test_the_study_page_links_to_bids(as_viewer, study):
    assert reverse("bids", args=[study.pk]).encode() in as_viewer.get(reverse("study", args=[study.pk])).content


def test_the_export_takes_the_dashboard_filters_and_patients(as_viewer, study):
    build_study(study, design=DESIGN, scans=False)
    transfer = export(as_viewer, study, {"diagnosis": "PLS", "patient": ["PLS-02"]})
    assert transfer.selection["diagnosis"] == ["PLS"] and transfer.selection["patient"] == ["PLS-02"]
    run_jobs()
    table = zip_members(b"".join(download(as_viewer, transfer).streaming_content))["participants.tsv"].decode()
    assert [line.split("\t")[0] for line in table.splitlines()] == ["participant_id", "sub-PLS02"]
    empty = as_viewer.post(reverse("bids_export", args=[study.pk]), {"diagnosis": "HC"}, follow=True)
    assert b"No patient matches this selection" in empty.content
    assert Transfer.objects.count() == 1


def test_a_coordinator_imports_a_dataset_and_sees_what_was_wrong(client, as_viewer, study, django_user_model, media):
    build_study(study, design=DESIGN[:3], scans=False)
    exported = export(as_viewer, study)
    run_jobs()
    archive = b"".join(download(as_viewer, exported).streaming_content)
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
    started = client.post(url, {"file": SimpleUploadedFile("broken.zip", broken.getvalue())})
    refused = Transfer.objects.get(study=target)
    assert started.status_code == 302 and started["Location"] == refused.get_absolute_url()
    assert refused.upload_path.startswith(".incoming/") and refused.upload.is_file()  # streamed there, kept for the job
    assert run_jobs() == ["failed"]
    page = client.get(refused.get_absolute_url())
    assert b"Nothing was imported from broken.zip" in page.content
    assert b"participants.tsv, line 3: birth_year" in page.content
    assert not target.patients.exists() and not refused.upload.exists()

    client.post(url, {"file": SimpleUploadedFile("study.zip", archive)})
    imported = Transfer.objects.filter(study=target).first()  # the newest
    assert imported.status == "queued" and run_jobs() == ["succeeded"]
    page = client.get(imported.get_absolute_url())
    assert b"Imported study.zip: 3 patients, 6 exams, 0 scan sessions" in page.content
    assert sorted(Patient.objects.filter(study=target).values_list("code", flat=True)) == ["ALS-01", "ALS-02", "ALS_03"]
    assert not imported.upload.exists() and not list((Path(settings.MEDIA_ROOT) / ".incoming").glob("bids-*"))


def test_the_bids_page_lists_the_study_s_recent_transfers(as_viewer, study, other_study):
    build_study(study, design=DESIGN[:1], scans=False)
    transfer = export(as_viewer, study, {"diagnosis": "ALS"})
    Transfer.objects.create(kind=Transfer.Kind.EXPORT, study=other_study)
    run_jobs()
    page = as_viewer.get(reverse("bids", args=[study.pk])).content.decode()
    assert transfer.get_absolute_url() in page and "export: diagnosis=[&#x27;ALS&#x27;]" in page
    assert reverse("bids_download", args=[study.pk, transfer.uid]) in page
    assert page.count("/bids/transfers/") == 2  # its page and its download; nothing of the other study


def test_the_import_page_checks_the_csrf_token_and_keeps_nothing_of_a_refused_post(study, coordinator, media):
    client = Client(enforce_csrf_checks=True)
    client.force_login(coordinator)
    response = client.post(reverse("bids_import", args=[study.pk]), {"file": SimpleUploadedFile("s.zip", b"PK")})
    assert response.status_code == 403 and not Transfer.objects.exists()
    assert not [p for p in (media / ".incoming").rglob("*") if p.is_file()]
