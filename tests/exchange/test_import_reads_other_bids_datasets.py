"""A BIDS dataset from elsewhere: mapped participant columns, dates from session labels, one scan per run,
Siemens-scaled phase and identifying sidecars handled by the upload path."""
import json
import shutil

import pytest

from clinical.models import Study
from clinical.scanio.synthetic import write_nifti_series
from exchange.importer import import_bids
from tests.scan_data import ECHO_TIMES_S, gre_arrays

pytestmark = pytest.mark.django_db


def write_session(root, subject, session, seed, run=None):
    anat = root / f"sub-{subject}" / f"ses-{session}" / "anat"
    magnitude, phase, affine = gre_arrays(seed=seed)
    for path in write_nifti_series(anat, magnitude, phase, ECHO_TIMES_S, affine, layout="bids", subject=subject,
                                   session=session, phase_scale="siemens", identifying=True):
        if run:
            path.rename(path.with_name(path.name.replace("_echo-", f"_run-{run}_echo-")))


def test_a_foreign_dataset_is_imported_with_the_documented_mapping(tmp_path):
    root = tmp_path / "ds000001"
    root.mkdir()
    (root / "dataset_description.json").write_text(json.dumps({"Name": "Elsewhere", "BIDSVersion": "1.9.0"}))
    (root / "participants.tsv").write_text("participant_id\tage\tsex\tgroup\thandedness\tsite_code\n"
                                           "sub-01\t61\tmale\tals\tR\tX1\n"
                                           "sub-02\tn/a\tF\tcontrol\tn/a\tX2\n")
    # The session labels agree with the sidecars' AcquisitionDateTime (2024-03-15): a contradiction is refused.
    write_session(root, "01", "20240315", seed=1)
    write_session(root, "02", "20240315", seed=2, run=1)
    write_session(root, "02", "20240315", seed=3, run=2)
    (root / "sub-01/ses-20240315/anat/sub-01_ses-20240315_T1w.json").write_text("{}")
    archive = shutil.make_archive(str(tmp_path / "elsewhere"), "zip", tmp_path, root.name)
    target = Study.objects.create(name="Target")

    result = import_bids(target, archive)

    assert (result.patients, result.exams, result.scans) == (2, 0, 3)
    assert "participants.tsv: columns not imported: site_code" in result.notes
    assert ("sub-01/ses-20240315/anat/sub-01_ses-20240315_T1w.json: not imported (only MEGRE and GRE series are)."
            in result.notes)
    first, second = target.patients.order_by("code")
    assert (first.code, first.diagnosis, first.sex, first.handedness) == ("01", "ALS", "M", "right")
    assert (second.code, second.diagnosis, second.sex, second.handedness) == ("02", "HC", "F", "")
    scan = first.scans.get()
    assert str(scan.scan_date) == "2024-03-15" and scan.n_echoes == 4 and scan.source_format == "bids"
    sidecar = json.loads(scan.path("sidecar").read_text())
    assert "PatientName" not in sidecar and sidecar["PatientID"] == "01"
    assert second.scans.count() == 2
