"""What a coordinator is told about DICOM that is not a usable QSM series, always naming their file."""

from __future__ import annotations

import zipfile

import pydicom
import pytest

from clinical.scanio import UploadError
from clinical.scanio.synthetic import write_dicom_series, zip_dir

from .conftest import make_truth

SMALL = dict(shape=(12, 12, 6), echo_times_s=(0.004, 0.008, 0.012))


def series(directory, **kwargs):
    truth = make_truth(**SMALL)
    return write_dicom_series(directory, truth.magnitude, truth.phase, truth.echo_times_s, truth.affine, **kwargs)


def refusal(ingest, paths) -> UploadError:
    with pytest.raises(UploadError) as info:
        ingest(paths)
    return info.value


def edit_all(files, **values):
    for path in files:
        ds = pydicom.dcmread(path)
        for keyword, value in values.items():
            setattr(ds, keyword, value)
        ds.save_as(path)


def test_it_calls_a_file_cut_short_in_its_pixels_truncated(tmp_path, ingest):
    files = series(tmp_path / "dcm")
    cut = sorted(files)[3]
    cut.write_bytes(cut.read_bytes()[:-100])
    error = refusal(ingest, files)
    assert error.name == cut.name
    assert "truncated DICOM file" in error.problem and "pixel data" in error.problem
    assert "copy the file again" in error.remedy


def test_it_calls_a_file_cut_short_in_its_header_truncated(tmp_path, ingest):
    files = series(tmp_path / "dcm")
    cut = sorted(files)[0]
    cut.write_bytes(cut.read_bytes()[:400])
    error = refusal(ingest, files)
    assert error.name == cut.name and "truncated" in error.problem


def test_it_calls_an_empty_zip_empty(tmp_path, ingest):
    archive = tmp_path / "scan.zip"
    zipfile.ZipFile(archive, "w").close()
    error = refusal(ingest, [archive])
    assert error.name == "scan.zip" and "empty zip" in error.problem


def test_it_says_a_localizer_is_a_localizer(tmp_path, ingest):
    files = series(tmp_path / "dcm", protocol_name="AAHead_Scout")
    error = refusal(ingest, files)
    assert error.name in {f.name for f in files}
    assert "localizer" in error.problem and "AAHead_Scout" in error.problem


def test_it_says_a_derived_image_is_not_the_original(tmp_path, ingest):
    files = series(tmp_path / "dcm")
    edit_all(files, ImageType=["DERIVED", "SECONDARY", "P", "ND"])
    error = refusal(ingest, files)
    assert "derived image" in error.problem and "DERIVED\\SECONDARY" in error.problem


@pytest.mark.parametrize("sequence", [["GR", "IR"], "SE", ["EP", "GR"]], ids=["mprage", "spin-echo", "epi"])
def test_it_says_another_sequence_is_not_gradient_echo(tmp_path, ingest, sequence):
    files = series(tmp_path / "dcm")
    edit_all(files, ScanningSequence=sequence)
    error = refusal(ingest, files)
    assert error.name in {f.name for f in files}
    assert "is not a gradient-echo series" in error.problem and "series 5" in error.problem


def test_it_picks_the_gre_scan_out_of_an_exam_with_a_t1(tmp_path, ingest):
    truth = make_truth(**SMALL)
    write_dicom_series(tmp_path / "exam" / "gre", truth.magnitude, truth.phase, truth.echo_times_s, truth.affine)
    t1 = write_dicom_series(tmp_path / "exam" / "t1", truth.magnitude[..., :1], None, (0.003,), truth.affine,
                            series_number=2, protocol_name="t1_mprage")
    edit_all(t1, ScanningSequence=["GR", "IR"])
    scan = ingest([zip_dir(tmp_path / "exam", tmp_path / "exam.zip")])
    assert scan.n_echoes == 3 and scan.sidecar["SeriesNumber"] == 5


def test_it_names_the_file_when_dcm2niix_cannot_convert(tmp_path, ingest):
    files = series(tmp_path / "dcm")
    gone = sorted(f for f in files if pydicom.dcmread(f, stop_before_pixels=True).SeriesNumber == 6)[2]
    files.remove(gone)
    gone.unlink()
    error = refusal(ingest, files)
    assert error.name in {f.name for f in files}
    assert "dcm2niix could not convert" in error.problem and "Instance Number" not in error.problem


def test_it_says_when_magnitude_and_phase_cannot_be_told_apart(tmp_path, ingest):
    files = series(tmp_path / "dcm")
    edit_all(files, ImageType=["ORIGINAL", "PRIMARY", "OTHER"])
    error = refusal(ingest, files)
    assert error.name in {f.name for f in files}
    assert "cannot be told: ImageType ORIGINAL\\PRIMARY\\OTHER" in error.problem and "series 5" in error.problem
