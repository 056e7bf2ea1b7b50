"""Nothing to send twice: after a form error the files are kept for a day, behind a token for one user and patient.

A date the headers contradict is found by the ingest worker: its page links to the form again, with the typed
fields, the reason and the kept files.
"""
import datetime as dt
import html
import json
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from clinical.held import HeldUpload, held_root
from clinical.models import Patient, ScanSession
from tests.conftest import ingested
from tests.scan_data import dicom_zip, nifti_files

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


def url(study, patient) -> str:
    return reverse("scan_upload", args=[study.pk, patient.pk])


def correction_form(client, response) -> str:
    """The refused ingest's page links to the form with the kept files: that form's HTML."""
    body = ingested(client, response).content.decode()
    assert "Nothing was saved; your files are kept for a day" in body
    return client.get(html.unescape(re.search(r'href="([^"]+)" id="correction-link"', body)[1])).content.decode()


def held_token(form: str) -> str:
    return re.search(r'name="held" value="([^"]+)"', form)[1]


def refused_with_files_kept(client, study, patient, tmp_path) -> str:
    """Submit a DICOM zip with a date the headers contradict; return the token of the kept files."""
    archive = dicom_zip(tmp_path)
    form = correction_form(client, client.post(url(study, patient), {"scan_date": "2024-03-16", "files": [
        SimpleUploadedFile(archive.name, archive.read_bytes())]}))
    assert "Your 1 file (" in form and "is kept for a day; submit again without choosing it." in form
    assert "you typed 2024-03-16" in form and 'value="2024-03-16"' in form
    return held_token(form)


def test_it_keeps_files_after_a_form_error(as_coordinator, study, patient, tmp_path):
    token = refused_with_files_kept(as_coordinator, study, patient, tmp_path)
    assert not ScanSession.objects.exists() and (held_root() / token).is_dir()
    response = ingested(as_coordinator, as_coordinator.post(url(study, patient), {"scan_date": "", "held": token}))
    scan = ScanSession.objects.get()
    assert response["Location"] == scan.get_absolute_url() and scan.scan_date == dt.date(2024, 3, 15)
    assert not (held_root() / token).exists()  # used once, then gone


def test_a_second_refusal_keeps_the_files_again(as_coordinator, study, patient, tmp_path):
    token = refused_with_files_kept(as_coordinator, study, patient, tmp_path)
    form = correction_form(as_coordinator, as_coordinator.post(url(study, patient), {"scan_date": "2024-03-17",
                                                                                     "held": token}))
    assert "you typed 2024-03-17" in form and "Your 1 file (" in form
    assert [p.name for p in held_root().iterdir()] == [held_token(form)]


def test_held_files_serve_only_their_user_and_patient(client, as_coordinator, study, patient, tmp_path,
                                                      django_user_model):
    token = refused_with_files_kept(as_coordinator, study, patient, tmp_path)
    other_patient = Patient.objects.create(study=study, code="ALS-002", diagnosis="ALS")
    body = as_coordinator.post(url(study, other_patient), {"scan_date": "", "held": token}).content.decode()
    assert "The files kept from your last submit are gone" in body
    colleague = django_user_model.objects.create_user("carl")
    study.add_member(colleague, "coordinator")
    client.force_login(colleague)
    assert "are gone" in client.post(url(study, patient), {"scan_date": "", "held": token}).content.decode()
    assert not ScanSession.objects.exists() and (held_root() / token).is_dir()


def test_held_files_older_than_a_day_are_deleted(as_coordinator, study, patient, tmp_path):
    token = refused_with_files_kept(as_coordinator, study, patient, tmp_path)
    second = refused_with_files_kept(as_coordinator, study, patient, tmp_path / "again")
    for folder in (token, second):
        owner = held_root() / folder / "owner.json"
        received = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1, minutes=1)).isoformat()
        owner.write_text(json.dumps({**json.loads(owner.read_text()), "received": received}))
    body = as_coordinator.post(url(study, patient), {"scan_date": "", "held": token}).content.decode()
    assert "are gone" in body and not (held_root() / token).exists()  # deleted when touched
    call_command("remove_held_uploads")
    assert not (held_root() / second).exists()


def test_files_that_were_refused_themselves_are_not_kept(as_coordinator, study, patient, tmp_path):
    junk = SimpleUploadedFile("notes.txt", b"not an image")
    body = ingested(as_coordinator, as_coordinator.post(url(study, patient), {"scan_date": "", "files": [junk]}))
    body = body.content.decode()
    assert "notes.txt" in body and "kept for a day" not in body and "correction-link" not in body
    assert not any(held_root().iterdir())


def test_a_forged_token_finds_nothing(coordinator, patient):
    assert HeldUpload.find("../../etc", coordinator, patient) is None
    assert HeldUpload.find("x" * 43, coordinator, patient) is None
    assert Path(held_root()).exists() is False or not any(held_root().iterdir())


def test_the_page_counts_the_kept_files(as_coordinator, study, patient, tmp_path):
    files = [SimpleUploadedFile(p.name, p.read_bytes()) for p in nifti_files(tmp_path)]
    body = correction_form(as_coordinator, as_coordinator.post(url(study, patient), {"scan_date": "2024-03-16",
                                                                                     "files": files}))
    assert f"Your {len(files)} files (" in body and "are kept for a day; submit again without choosing them." in body


def test_new_files_replace_the_kept_ones(as_coordinator, study, patient, tmp_path):
    token = refused_with_files_kept(as_coordinator, study, patient, tmp_path)
    archive = dicom_zip(tmp_path / "new")
    response = as_coordinator.post(url(study, patient), {"scan_date": "", "held": token, "files": [
        SimpleUploadedFile(archive.name, archive.read_bytes())]})
    assert response.status_code == 302 and not any(held_root().iterdir())
