"""The official BIDS validator (bids-validator-deno) accepts an export with its derivatives, and would not accept
the old Chimap sidecar."""
import datetime as dt
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.utils import timezone

from exchange.export import Selection, export_study
from recon import rois
from tests.exchange.study_data import DESIGN, build_study
from tests.recon_data import reconstructed

pytestmark = pytest.mark.django_db

VALIDATOR = Path(sys.executable).with_name("bids-validator-deno")
#: Scanner facts the upload stores from DICOM headers (the phantom's NIfTI sidecars have none of these).
SCANNER = {"software_version": "syngo MR XA30", "sequence_name": "*fl3d5"}
#: Warnings the export used to draw and no longer does: (code, sidecar key or None).
FIXED = {("NO_AUTHORS", "Authors"), ("README_FILE_MISSING", None), ("GZIP_HEADER_MTIME", None), ("NIFTI_UNIT", None),
         ("TSV_COLUMN_TYPE_REDEFINED", "index"), ("SIDECAR_KEY_RECOMMENDED", "SoftwareVersions"),
         ("SIDECAR_KEY_RECOMMENDED", "SequenceName"), ("SIDECAR_KEY_RECOMMENDED", "PulseSequenceType"),
         ("SIDECAR_KEY_RECOMMENDED", "Type"), ("SIDECAR_KEY_RECOMMENDED", "Sources"),
         ("SIDECAR_KEY_RECOMMENDED", "Description"), ("SIDECAR_KEY_RECOMMENDED", "SpatialReference")}
CHIMAP = "sub-ALS01/ses-20240304/anat/sub-ALS01_ses-20240304_Chimap"


@pytest.fixture
def exported(study, coordinator, tmp_path):
    """Two patients with two exams each, reconstructed and measured, with the scanner facts of a DICOM upload."""
    for patient in build_study(study, coordinator, design=DESIGN[:2]):
        scan = patient.scans.get()
        scan.acquired_at = timezone.make_aware(dt.datetime.combine(scan.scan_date, dt.time(10, 15)))
        for field, value in SCANNER.items():
            setattr(scan, field, value)
        scan.save()
        rois.measure(reconstructed(scan))
    archive = tmp_path / "export.zip"
    with archive.open("wb") as out:
        summary = export_study(study, Selection(), out)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path / "out")
    return tmp_path / "out" / summary.name


def validate(root: Path) -> dict[str, list[dict]]:
    """The validator's issues for the raw dataset ("raw") and for derivatives/qsmstudy ("derivatives")."""
    assert VALIDATOR.exists(), f"{VALIDATOR} is missing: install the test extra (pip install -e '.[test]')"
    done = subprocess.run([str(VALIDATOR), "--format", "json", "--recursive", str(root)],
                          capture_output=True, text=True, timeout=120, check=False)
    report = json.loads(done.stdout)
    return {"raw": report["issues"]["issues"],
            "derivatives": report["derivativesSummary"]["/derivatives/qsmstudy/"]["issues"]["issues"]}


def errors(issues: list[dict]) -> list[tuple]:
    return [(i["code"], i.get("subCode"), i.get("location")) for i in issues if i["severity"] == "error"]


def test_the_official_validator_finds_no_error(exported):
    issues = validate(exported)
    assert errors(issues["raw"]) == [] and errors(issues["derivatives"]) == []
    warned = {(i["code"], i.get("subCode")) for part in issues.values() for i in part}
    assert warned & FIXED == set()
    # Only what de-identification withholds, and what the upload never had, is still reported missing.
    missing = {i.get("subCode") for i in issues["raw"] if i["code"] == "SIDECAR_KEY_RECOMMENDED"}
    assert {"InstitutionName", "InstitutionAddress", "StationName", "DeviceSerialNumber"} <= missing
    assert not missing & {"Manufacturer", "ManufacturersModelName", "SoftwareVersions", "SequenceName"}


def test_sidecars_carry_the_scanner_facts_and_no_identifying_key(exported):
    sidecar = json.loads((exported / "sub-ALS01/ses-20240304/anat/"
                                     "sub-ALS01_ses-20240304_echo-2_part-phase_MEGRE.json").read_text())
    assert sidecar["Manufacturer"] == "Siemens" and sidecar["ManufacturersModelName"] == "Prisma"
    assert sidecar["SoftwareVersions"] == "syngo MR XA30" and sidecar["SequenceName"] == "*fl3d5"
    assert sidecar["PulseSequenceType"] == "Multi-echo gradient echo" and sidecar["Units"] == "rad"
    assert not [key for key in sidecar if key.startswith(("Institution", "Station", "Acquisition", "DeviceSerial"))]
    assert "10:15" not in json.dumps(sidecar)
    description = json.loads((exported / "dataset_description.json").read_text())
    assert description["Authors"] == ["alice"]
    assert (exported / "derivatives/qsmstudy/README.md").is_file()
    # Only the long phenotype tables are kept from the validator (one row per exam, not per participant).
    assert (exported / ".bidsignore").read_text().split() == [
        "phenotype/exams.tsv", "phenotype/exams.json", "phenotype/external_roi_values.tsv",
        "phenotype/external_roi_values.json"]


def test_the_validator_reports_a_chimap_without_skull_stripped(exported):
    """The check can fail: the sidecar the export wrote before (no SkullStripped) is an error."""
    path = exported / "derivatives/qsmstudy" / f"{CHIMAP}.json"
    sidecar = json.loads(path.read_text())
    assert sidecar.pop("SkullStripped") is True
    path.write_text(json.dumps(sidecar))
    assert errors(validate(exported)["derivatives"]) == [("SIDECAR_KEY_REQUIRED", "SkullStripped",
                                                          f"/{CHIMAP}.nii.gz")]
