"""De-identified originals and sidecars carry no identifying value, not even as raw bytes."""

from __future__ import annotations

import gzip
import io
import json
import zipfile

import pydicom
import pytest

from clinical.scanio import UploadLimits, read_upload, write_canonical
from clinical.scanio.deid import deidentify_sidecar
from clinical.scanio.synthetic import IDENTIFYING_VALUES, write_dicom_series, write_nifti_series

from .conftest import STUDY_CODE, make_truth

REMOVED_KEYWORDS = (
    "PatientBirthDate", "PatientAddress", "PatientSex", "PatientAge", "OtherPatientIDs", "AccessionNumber",
    "InstitutionName", "InstitutionAddress", "ReferringPhysicianName", "PerformingPhysicianName",
    "OperatorsName", "StationName", "DeviceSerialNumber", "StudyDate", "SeriesDate", "AcquisitionDate",
    "ContentDate", "StudyTime", "AcquisitionTime",
)


def identifying_strings(extra=()) -> list[bytes]:
    values = [*IDENTIFYING_VALUES.values(), "Doe", "Jane", "MRN12345", "CSA1", "2024-03-15", "10:15:30", *extra]
    return [v.encode() for v in values]


def assert_clean(name: str, blob: bytes, extra=()) -> None:
    if name.endswith(".gz"):
        blob = gzip.decompress(blob)
    for value in identifying_strings(extra):
        assert value not in blob, f"{value!r} found in {name}"


def original_uids(files) -> set[str]:
    uids = set()
    for path in files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        uids |= {ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.FrameOfReferenceUID}
    return uids


@pytest.fixture(scope="module")
def dicom_outputs(tmp_path_factory, standard_dicom):
    root = tmp_path_factory.mktemp("deid")
    scan = read_upload([standard_dicom.zip], root, limits=UploadLimits(), study_code=STUDY_CODE)
    return scan, write_canonical(scan, root / "out")


def test_dicom_originals_have_no_identifying_bytes(dicom_outputs, standard_dicom):
    _, files = dicom_outputs
    uids = original_uids(standard_dicom.files)
    with zipfile.ZipFile(files["original"]) as archive:
        names = archive.namelist()
        assert len(names) == len(standard_dicom.files)
        for name in names:
            assert_clean(name, archive.read(name), extra=uids)
    for key in ("sidecar", "magnitude", "phase"):
        assert_clean(files[key].name, files[key].read_bytes(), extra=uids)


def test_dicom_originals_are_readable_and_pseudonymised(dicom_outputs):
    scan, files = dicom_outputs
    series, studies, frames, instances = {}, set(), set(), set()
    with zipfile.ZipFile(files["original"]) as archive:
        for name in archive.namelist():
            ds = pydicom.dcmread(io.BytesIO(archive.read(name)))
            assert ds.PatientID == STUDY_CODE and str(ds.PatientName) == STUDY_CODE
            assert ds.PatientIdentityRemoved == "YES"
            assert not [elem for elem in ds if elem.tag.is_private]
            assert not [k for k in REMOVED_KEYWORDS if k in ds]
            assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
            assert ds.pixel_array.shape == (24, 24)
            series.setdefault(name.split("/")[1], set()).add(ds.SeriesInstanceUID)
            studies.add(ds.StudyInstanceUID)
            frames.add(ds.FrameOfReferenceUID)
            instances.add(ds.SOPInstanceUID)
    assert sorted(series) == ["magnitude", "phase"]
    assert all(len(uids) == 1 for uids in series.values())
    assert series["magnitude"] != series["phase"]
    assert len(studies) == 1 and len(frames) == 1 and len(instances) == len(archive.namelist())
    assert all(uid.startswith("2.25.") for uid in studies | frames | instances)


def test_canonical_sidecar_has_only_acquisition_fields(dicom_outputs):
    _, files = dicom_outputs
    sidecar = json.loads(files["sidecar"].read_text())
    assert sidecar["PatientID"] == STUDY_CODE
    assert sidecar["SourceFormat"] == "dicom"
    assert sidecar["Manufacturer"] == "SIEMENS" and sidecar["MagneticFieldStrength"] == 3.0
    assert not [k for k in sidecar if "Date" in k or "Institution" in k or "Physician" in k or k == "PatientName"]


def test_replacement_uids_are_deterministic_and_keyed(tmp_path, workdir):
    truth = make_truth(shape=(8, 8, 4), echo_times_s=(0.004, 0.008))
    files = write_dicom_series(tmp_path / "dcm", truth.magnitude, truth.phase, truth.echo_times_s, truth.affine)

    def study_uid(salt):
        scan = read_upload(files, workdir, limits=UploadLimits(), study_code=STUDY_CODE, uid_salt=salt)
        first = sorted(scan.deidentified.rglob("*.dcm"))[0]
        return pydicom.dcmread(first, stop_before_pixels=True).StudyInstanceUID

    assert study_uid("secret-a") == study_uid("secret-a")
    assert study_uid("secret-a") != study_uid("secret-b")


def test_nifti_originals_and_sidecars_are_cleaned(tmp_path, ingest, truth):
    uploaded = write_nifti_series(tmp_path / "nii", truth.magnitude, truth.phase, truth.echo_times_s, truth.affine,
                                  basename="Doe_Jane_20240315_gre")
    scan = ingest(uploaded)
    files = write_canonical(scan, tmp_path / "out")
    with zipfile.ZipFile(files["original"]) as archive:
        names = sorted(archive.namelist())
        assert names == sorted(f"nifti/{part}_e{n}.{ext}" for part in ("magnitude", "phase") for n in (1, 2, 3, 4)
                               for ext in ("json", "nii.gz"))
        for name in names:
            assert_clean(name, archive.read(name), extra=["Time=101530", "20240315"])
        sidecar = json.loads(archive.read("nifti/phase_e2.json"))
    assert sidecar["PatientID"] == STUDY_CODE
    assert sidecar["EchoTime"] == truth.echo_times_s[1] and sidecar["PatientPosition"] == "HFS"
    for key in ("sidecar", "magnitude", "phase"):
        assert_clean(files[key].name, files[key].read_bytes(), extra=["Time=101530", "20240315"])


def test_sidecar_deidentification_removes_identifying_keys():
    sidecar = {
        "EchoTime": 0.004, "RepetitionTime": 0.03, "PatientPosition": "HFS", "PatientName": "Doe^Jane",
        "PatientBirthDate": "1961-02-03", "InstitutionalDepartmentName": "Neuro", "AcquisitionDateTime": "x",
        "AcquisitionTime": "10:15:30", "ReferringPhysicianName": "Who", "DeviceSerialNumber": "1",
        "StudyInstanceUID": "1.2.3", "ImageComments": "Jane's scan", "ProtocolName": "qsm",
    }
    assert deidentify_sidecar(sidecar, STUDY_CODE) == {
        "EchoTime": 0.004, "RepetitionTime": 0.03, "PatientPosition": "HFS", "ProtocolName": "qsm",
        "PatientID": STUDY_CODE,
    }
