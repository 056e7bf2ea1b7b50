"""One way in: ingest() checks, stores and hands every scan to reconstruction with the caller's parameters."""
from pathlib import Path

import pytest
from django.db.models.signals import post_save
from django.urls import reverse

from clinical import scans
from clinical.models import ScanSession
from clinical.scans import IngestRefused, ingest
from recon.models import ReconRun
from tests.scan_data import dicom_zip, nifti_files

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


def test_the_stored_scan_is_reconstructed_with_the_given_parameters(patient, coordinator, tmp_path):
    scan = ingest(patient, {"site": "Ottawa"}, nifti_files(tmp_path), coordinator,
                  reconstruction={"inversion": "iswim"})
    run = scan.recon_runs.get()
    assert run.params["inversion"] == "iswim" and run.created_by == coordinator
    assert run.status == ReconRun.Status.QUEUED and scan.site == "Ottawa"


def test_without_parameters_the_first_run_uses_the_defaults(patient, coordinator, tmp_path):
    from recon.jobs import DEFAULT_PARAMS

    scan = ingest(patient, {}, [dicom_zip(tmp_path)], coordinator)
    assert scan.recon_runs.get().params == DEFAULT_PARAMS


def test_saving_a_scan_row_alone_starts_nothing(patient):
    assert not [r for r in post_save._live_receivers(ScanSession)[0] if "recon" in getattr(r, "__module__", "")]


def test_a_failing_hand_over_leaves_no_scan_and_no_files(patient, coordinator, tmp_path, media, monkeypatch):
    def broken(scan, reconstruction, user):
        raise RuntimeError("queue down")

    monkeypatch.setattr(scans, "_scan_stored", [*scans._scan_stored, broken])
    with pytest.raises(RuntimeError):
        ingest(patient, {}, [dicom_zip(tmp_path)], coordinator)
    assert not ScanSession.objects.exists() and not ReconRun.objects.exists()
    assert not list((Path(media) / "scans").rglob("*.nii.gz"))


def test_refusals_come_by_form_field(patient, coordinator, tmp_path):
    with pytest.raises(IngestRefused) as refused:
        ingest(patient, {"scan_date": "2024-03-16"}, [dicom_zip(tmp_path)], coordinator)
    assert list(refused.value.errors) == ["scan_date"] and refused.value.files_were_fine
    with pytest.raises(IngestRefused) as refused:
        ingest(patient, {}, [], coordinator)
    assert "Choose the scan's files" in refused.value.errors["files"][0] and not refused.value.files_were_fine


def test_the_page_and_the_api_refuse_an_oversized_upload_alike(as_coordinator, study, patient, settings, tmp_path):
    settings.SCAN_UPLOAD_MAX_BYTES = 1000
    archive = dicom_zip(tmp_path)
    page = as_coordinator.post(reverse("scan_upload", args=[study.pk, patient.pk]), {"files": [archive.open("rb")]})
    api = as_coordinator.post(f"/api/v1/studies/{study.pk}/scans/", {"patient": patient.pk, "files": [archive.open("rb")]})
    assert page.status_code == api.status_code == 413
    assert api.json()["detail"] == scans.too_large_message()
    assert scans.too_large_message() in page.content.decode()
