"""A bad dataset saves nothing (rows or files) and the message names the file and the problem."""
import shutil
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from django.conf import settings

from clinical.models import Patient, ScanSession, Study
from exchange.export import Selection, export_study
from exchange.importer import BidsImportError, import_bids
from recon.models import RoiDefinition
from tests.exchange.study_data import DESIGN, build_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(study, tmp_path) -> Path:
    """The exported study, unpacked: tests damage it and zip it again."""
    build_study(study, design=DESIGN[:2])
    with (tmp_path / "export.zip").open("wb") as out:
        summary = export_study(study, Selection(), out)
    with zipfile.ZipFile(tmp_path / "export.zip") as zf:
        zf.extractall(tmp_path / "unpacked")
    return tmp_path / "unpacked" / summary.name


@pytest.fixture
def target(db, dataset, settings, tmp_path) -> Study:
    """The study imported into, with its own media folder so that files left behind would show."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return Study.objects.create(name="Target")


def rezip(folder: Path) -> Path:
    return Path(shutil.make_archive(str(folder.parent / "damaged"), "zip", folder.parent, folder.name))


def rejected(target: Study, folder: Path) -> list[str]:
    with pytest.raises(BidsImportError) as caught:
        import_bids(target, rezip(folder))
    assert not Patient.objects.filter(study=target).exists()
    assert not ScanSession.objects.filter(study=target).exists()
    assert not RoiDefinition.objects.filter(scan__study=target).exists()
    assert [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()] == []
    return caught.value.problems


def replace_in(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new))


def test_a_bad_participant_value_is_named_with_its_line(dataset, target):
    replace_in(dataset / "participants.tsv", "ALS-02\tALS", "ALS-02\tSMA")
    problems = rejected(target, dataset)
    assert problems[0] == ("participants.tsv, line 3: diagnosis: Select a valid choice. SMA is not one of the "
                           "available choices.")
    assert all(p.startswith("participants.tsv, line 3: ") for p in problems)


def test_an_exam_of_an_unknown_participant_is_refused(dataset, target):
    replace_in(dataset / "phenotype" / "exams.tsv", "sub-ALS02\t2024-09-02", "sub-ALS09\t2024-09-02")
    assert rejected(target, dataset) == ["phenotype/exams.tsv, line 5: sub-ALS09 is not in participants.tsv."]


def test_a_session_without_phase_is_refused_after_earlier_scans_were_stored(dataset, target):
    for path in (dataset / "sub-ALS02" / "ses-20240305" / "anat").glob("*part-phase*"):
        path.unlink()
    [problem] = rejected(target, dataset)
    assert problem.startswith("sub-ALS02/ses-20240305 (sub-ALS02_ses-20240305): ")
    assert "no phase image found" in problem


def test_a_label_map_on_another_grid_is_refused(dataset, target):
    path = dataset / "derivatives/qsmstudy/sub-ALS01/ses-20240304/anat/sub-ALS01_ses-20240304_desc-rois_dseg.nii.gz"
    image = nib.load(path)
    shifted = image.affine.copy()
    shifted[0, 3] += 6
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj), shifted), path)
    [problem] = rejected(target, dataset)
    assert problem.startswith("derivatives/qsmstudy/sub-ALS01/ses-20240304/anat/sub-ALS01_ses-20240304_desc-rois_dseg"
                              ".nii.gz: ")
    assert "affine" in problem or "grid" in problem


def test_a_zip_that_is_not_a_dataset_is_refused(dataset, target):
    (dataset / "dataset_description.json").unlink()
    assert rejected(target, dataset) == ["damaged.zip: no dataset_description.json; zip the BIDS dataset folder "
                                         "itself."]


def test_patients_already_in_the_target_study_are_refused(dataset, target):
    Patient.objects.create(study=target, code="ALS-01", diagnosis="ALS")
    with pytest.raises(BidsImportError) as caught:
        import_bids(target, rezip(dataset))
    assert caught.value.problems == ["participants.tsv, line 2: study code ALS-01 is already in Target; import into "
                                     "a study without these patients."]
    assert list(target.patients.values_list("code", flat=True)) == ["ALS-01"]


def test_a_yes_no_cell_that_is_neither_is_refused(dataset, target):
    replace_in(dataset / "phenotype" / "exams.tsv", "\ttrue\t", "\tmaybe\t")
    problems = rejected(target, dataset)
    assert problems[0].startswith("phenotype/exams.tsv, line 2: ") and "'maybe' is not true or false" in problems[0]


def test_every_bad_exam_is_listed(dataset, target):
    replace_in(dataset / "phenotype" / "exams.tsv", "\tDr Later\t", "\tn/a\t")
    problems = rejected(target, dataset)
    assert problems == [f"phenotype/exams.tsv, line {line}: examiner: This field is required." for line in (3, 5)]


def test_unknown_reconstruction_parameters_are_refused(dataset, target):
    chi = dataset / "derivatives/qsmstudy/sub-ALS01/ses-20240304/anat/sub-ALS01_ses-20240304_Chimap.json"
    chi.write_text('{"Units": "ppm", "Reconstruction": {"inversion": "magic", "background": "vsharp", '
                   '"reference": "brain"}}')
    assert rejected(target, dataset) == [
        "derivatives/qsmstudy/sub-ALS01/ses-20240304/anat/sub-ALS01_ses-20240304_Chimap.json: Reconstruction "
        "inversion: Select a valid choice. magic is not one of the available choices."]


@pytest.mark.parametrize("kind", ["dseg", "MEGRE"])
def test_a_truncated_nifti_is_refused_by_name(dataset, target, kind):
    folder = "derivatives/qsmstudy/sub-ALS01/ses-20240304/anat" if kind == "dseg" else "sub-ALS01/ses-20240304/anat"
    [path] = [p for p in (dataset / folder).glob(f"*{kind}.nii.gz") if "echo-2_part-phase" in p.name or kind == "dseg"]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a .nii.gz cut short, its header whole
    [problem] = rejected(target, dataset)
    assert f"{path.name}: is truncated or damaged (gzip stream ends early); " in problem, problem
