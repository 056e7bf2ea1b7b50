"""Every file of an export passes the BIDS specification's file rules (bidsschematools); bad names would not."""
import json
import zipfile

import pytest
from bidsschematools import rules, schema, validator

from exchange.export import Selection, export_study
from recon import rois
from tests.exchange.study_data import DESIGN, build_study
from tests.recon_data import reconstructed

pytestmark = pytest.mark.django_db


@pytest.fixture
def exported(study, coordinator, tmp_path):
    patients = build_study(study, coordinator, design=DESIGN[:2])
    for patient in patients:
        rois.measure(reconstructed(patient.scans.get()))
    archive = tmp_path / "export.zip"
    with archive.open("wb") as out:
        summary = export_study(study, Selection(), out)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path / "out")
    return tmp_path / "out" / summary.name


def _raw_problems(root):
    result = validator.validate_bids([str(root)])
    missing = [entry["regex"] for entry in result["schema_tracking"] if entry["mandatory"]]
    return result["path_tracking"], missing, result["path_listing"]


def _derivative_problems(root):
    """bidsschematools' validator reads only raw rules: check the nested derivative dataset with the schema's
    common and derivative file rules the same way (paths relative to its root: the common rule for a
    raw dataset's derivatives/ folder would match any path through it)."""
    bids_schema = schema.load_schema()
    regexes = [*rules.regexify_filename_rules(bids_schema.rules.files.common, bids_schema, level=2),
               *rules.regexify_filename_rules(bids_schema.rules.files.deriv, bids_schema, level=2)]
    paths = [p.relative_to(root).as_posix() for p in sorted(root.rglob("*")) if p.is_file()]
    return validator.validate_all(paths, regexes)["path_tracking"], paths


def test_every_raw_file_follows_the_bids_file_rules(exported):
    unmatched, missing, listed = _raw_problems(exported)
    assert unmatched == [] and missing == []
    names = {p.rsplit("/", 1)[-1] for p in listed}
    assert {"sub-ALS01_ses-20240304_echo-1_part-mag_MEGRE.nii.gz", "sub-ALS01_ses-20240304_echo-4_part-phase_MEGRE.json",
            "participants.tsv", "participants.json", "exams.tsv", "exams.json", "sub-ALS02_sessions.tsv",
            "dataset_description.json", "README.md", "external_roi_values.tsv"} <= names
    description = json.loads((exported / "dataset_description.json").read_text())
    assert description["DatasetType"] == "raw" and description["GeneratedBy"][0]["Name"] == "qsmstudy"


def test_every_derivative_file_follows_the_bids_derivative_rules(exported):
    unmatched, paths = _derivative_problems(exported / "derivatives" / "qsmstudy")
    assert unmatched == []
    names = {p.rsplit("/", 1)[-1] for p in paths}
    assert {"sub-ALS01_ses-20240304_Chimap.nii.gz", "sub-ALS01_ses-20240304_Chimap.json",
            "sub-ALS01_ses-20240304_desc-brain_mask.nii.gz", "sub-ALS01_ses-20240304_desc-rois_dseg.nii.gz",
            "sub-ALS01_ses-20240304_desc-rois_dseg.tsv"} <= names
    sidecar = json.loads((exported / "derivatives/qsmstudy/sub-ALS01/ses-20240304/anat/"
                                     "sub-ALS01_ses-20240304_Chimap.json").read_text())
    assert sidecar["Units"] == "ppm"
    dseg = json.loads((exported / "derivatives/qsmstudy/desc-rois_dseg.json").read_text())
    assert dseg["mean_ppb"]["Units"] == "ppb"


def test_the_check_reports_badly_named_files(exported):
    anat = exported / "sub-ALS01" / "ses-20240304" / "anat"
    (anat / "sub-ALS01_ses-20240304_part-mag_echo-1_MEGRE.nii.gz").write_bytes(b"entities out of order")
    (anat / "sub-ALS01_ses-20240304_echo1_MEGRE.json").write_text("{}")
    unmatched, _, _ = _raw_problems(exported)
    assert sorted(p.rsplit("/", 1)[-1] for p in unmatched) == [
        "sub-ALS01_ses-20240304_echo1_MEGRE.json", "sub-ALS01_ses-20240304_part-mag_echo-1_MEGRE.nii.gz"]
    derivative = exported / "derivatives" / "qsmstudy" / "sub-ALS01" / "ses-20240304" / "anat"
    (derivative / "sub-ALS01_ses-20240304_QSM.nii.gz").write_bytes(b"not a BIDS suffix")
    assert [p.rsplit("/", 1)[-1] for p in _derivative_problems(exported / "derivatives" / "qsmstudy")[0]] == [
        "sub-ALS01_ses-20240304_QSM.nii.gz"]
