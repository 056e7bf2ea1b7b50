"""Scans over the API: the date and the scanner facts come from the headers, as on the page."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest

from clinical.models import ScanSession
from tests.api.conftest import stored_scan, token_client, waited_for
from clinical.scanio.synthetic import zip_dir
from clinical.scanio.synthetic_vendors import write_vendor_series
from tests.scan_data import dicom_zip
from tests.scanio.conftest import assert_matches, axial_affine, make_truth

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


def upload(client, patient, files, **fields):
    return client.post(f"/api/v1/studies/{patient.study_id}/scans/", {"patient": patient.pk, "files": files, **fields},
                       format="multipart")


def test_the_api_takes_the_date_and_the_scanner_facts_from_the_headers(coordinator, patient, tmp_path):
    api = token_client(coordinator)
    with dicom_zip(tmp_path).open("rb") as archive:
        response = upload(api, patient, [archive])
    scan = stored_scan(api, response)
    assert scan["scan_date"] == "2024-03-15" and scan["acquired_at"].startswith("2024-03-15T10:15:30.25")
    assert (scan["manufacturer"], scan["model_name"], scan["software_version"]) == ("SIEMENS", "Prisma", "syngo MR E11")
    assert (scan["protocol_name"], scan["field_strength_t"], scan["sequence_name"]) == ("qsm_megre", 3.0, "")


def test_the_api_refuses_a_typed_date_that_disagrees_with_the_header(coordinator, patient, tmp_path):
    api = token_client(coordinator)
    with dicom_zip(tmp_path).open("rb") as archive:
        refused = waited_for(api, upload(api, patient, [archive], scan_date="2024-03-16"))
    assert refused["status"] == "refused"
    assert refused["errors"]["scan_date"] == [
        "The headers of series.zip say the scan was acquired on 2024-03-15; you typed 2024-03-16. "
        "Correct the date or leave it blank."]
    assert not ScanSession.objects.exists()


def test_the_api_starts_the_first_reconstruction_with_the_given_parameters(coordinator, patient, tmp_path):
    api = token_client(coordinator)
    with dicom_zip(tmp_path).open("rb") as archive:
        stored_scan(api, upload(api, patient, [archive], inversion="iswim"))
    assert ScanSession.objects.get().recon_runs.get().params["inversion"] == "iswim"


@pytest.mark.parametrize("flavour, transfer_syntax", [
    ("siemens-classic", "explicit"), ("siemens-xa-enhanced", "jpeg2000"), ("philips-enhanced", "explicit"),
    ("ge-classic", "rle"),
])
def test_the_api_stores_each_vendors_export_right(coordinator, patient, tmp_path, flavour, transfer_syntax):
    truth = make_truth(axial_affine(), echo_times_s=(0.0041, 0.0093, 0.0145), shape=(36, 32, 8))
    write_vendor_series(tmp_path / "export", truth.magnitude, truth.phase, truth.echo_times_s, truth.affine,
                        flavour=flavour, transfer_syntax=transfer_syntax, acquired_at=dt.datetime(2023, 11, 7, 8, 42, 5))
    api = token_client(coordinator)
    with zip_dir(tmp_path / "export", tmp_path / "export.zip").open("rb") as archive:
        stored_scan(api, upload(api, patient, [archive]))
    stored = ScanSession.objects.get()
    assert stored.echo_times_ms == [4.1, 9.3, 14.5] and stored.scan_date == dt.date(2023, 11, 7)
    image = nib.load(stored.path("phase"))
    scan = SimpleNamespace(magnitude=np.asarray(nib.load(stored.path("magnitude")).dataobj, dtype=np.float32),
                           phase=np.asarray(image.dataobj, dtype=np.float32), affine=image.affine,
                           echo_times_s=[t / 1000 for t in stored.echo_times_ms], n_echoes=stored.n_echoes)
    assert_matches(scan, truth, phase_tol=0.01, affine_tol=0.01)
