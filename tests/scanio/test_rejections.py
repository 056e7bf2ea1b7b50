"""Every refused upload raises one UploadError naming the file and what to do, writing nothing outside workdir."""

from __future__ import annotations

import json
import shutil
import stat
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from clinical.scanio import UploadError, UploadLimits
from clinical.scanio.synthetic import write_dicom_series, write_nifti_series, zip_dir

from .conftest import in_truth_order, make_truth

SMALL = (12, 12, 6)
MIB = 1024**2


def small_truth(**kwargs):
    return make_truth(shape=SMALL, echo_times_s=(0.004, 0.008, 0.012), **kwargs)


def nifti_files(directory: Path, layout="per-echo", **kwargs) -> list[Path]:
    truth = small_truth()
    return write_nifti_series(directory, truth.magnitude, truth.phase, truth.echo_times_s, truth.affine,
                              layout=layout, **kwargs)


def dicom_files(directory: Path, truth=None, **kwargs) -> list[Path]:
    truth = truth or small_truth()
    return write_dicom_series(directory, truth.magnitude, truth.phase, truth.echo_times_s, truth.affine, **kwargs)


def names_of(files: list[Path], prefix: str = "") -> set[str]:
    return {f.name for f in files if f.name.startswith(prefix)}


def refused(ingest, paths, *, names: str | set[str], says: str, **kwargs) -> UploadError:
    """Assert the upload is refused with a message starting with the (or one of the) file name(s)."""
    with pytest.raises(UploadError) as info:
        ingest(paths, **kwargs)
    error = info.value
    allowed = {names} if isinstance(names, str) else names
    assert error.name in allowed and str(error).startswith(f"{error.name}: "), str(error)
    assert says in error.problem, str(error)
    assert error.remedy and str(error).endswith(".")
    return error


def edit_sidecar(path: Path, **changes) -> None:
    sidecar = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            sidecar.pop(key, None)
        else:
            sidecar[key] = value
    path.write_text(json.dumps(sidecar))


def write_zip(path: Path, members: dict, infos: list[zipfile.ZipInfo] = ()) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for info in infos:
            archive.writestr(info, b"payload")
    return path


# --- unreadable or wrong kinds of files -------------------------------------------------


def test_unknown_file_type_named(tmp_path, ingest):
    files = nifti_files(tmp_path / "nii")
    notes = tmp_path / "nii" / "notes.txt"
    notes.write_text("scan looked fine")
    refused(ingest, [*files, notes], names="notes.txt", says="not a DICOM, NIfTI, JSON or zip")


def test_corrupt_nifti_named(tmp_path, ingest):
    files = nifti_files(tmp_path / "nii")
    files[0].write_bytes(b"\x1f\x8b garbage")
    refused(ingest, files, names=files[0].name, says="not a readable NIfTI")


def test_invalid_json_named(tmp_path, ingest):
    files = nifti_files(tmp_path / "nii")
    files[1].write_text("{not json")
    refused(ingest, files, names=files[1].name, says="not valid JSON")


def test_nifti_without_sidecar(tmp_path, ingest):
    files = nifti_files(tmp_path / "nii")
    refused(ingest, [f for f in files if f.name != "gre_e2_ph.json"], names="gre_e2_ph.nii.gz", says="no JSON sidecar")


def test_orphan_sidecar(tmp_path, ingest):
    files = nifti_files(tmp_path / "nii")
    refused(ingest, [f for f in files if f.name != "gre_e2.nii.gz"], names="gre_e2.json", says="without its NIfTI")


def test_dicom_and_nifti_mixed(tmp_path, ingest):
    refused(ingest, nifti_files(tmp_path / "nii")[:2] + dicom_files(tmp_path / "dcm")[:1],
            names="gre_e1.nii.gz", says="is DICOM")


# --- consistency of grids, affines, echoes --------------------------------------------------


def test_nifti_grid_mismatch(tmp_path, ingest):
    files = nifti_files(tmp_path / "nii")
    phase_e3 = tmp_path / "nii" / "gre_e3_ph.nii.gz"
    image = nib.load(phase_e3)
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj)[:, :, :4], image.affine), phase_e3)
    error = refused(ingest, files, names="gre_e3_ph.nii.gz", says="grid 12x12x4 differs from gre_e1.nii.gz (12x12x6)")
    assert "same series" in error.remedy


def test_nifti_affine_mismatch(tmp_path, ingest):
    files = nifti_files(tmp_path / "nii")
    mag_e2 = tmp_path / "nii" / "gre_e2.nii.gz"
    image = nib.load(mag_e2)
    shifted = image.affine.copy()
    shifted[0, 3] += 0.01
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj), shifted), mag_e2)
    refused(ingest, files, names="gre_e2.nii.gz", says="affine (position/orientation) differs from gre_e1.nii.gz")


def test_dicom_phase_grid_mismatch(tmp_path, ingest):
    full = dicom_files(tmp_path / "a", series_number=5)
    other = dicom_files(tmp_path / "b", truth=make_truth(shape=(12, 12, 4), echo_times_s=(0.004, 0.008, 0.012)),
                        series_number=7)
    phase = names_of(other, "IM008_")
    upload = [f for f in full if f.name.startswith("IM005_")] + [f for f in other if f.name in phase]
    error = refused(ingest, upload, names=phase, says="grid 12x12x4 differs from IM005_")
    assert "(12x12x6)" in error.problem


def test_dicom_echo_times_not_increasing(tmp_path, ingest):
    truth = make_truth(shape=SMALL, echo_times_s=(0.004, 0.012, 0.008))
    files = dicom_files(tmp_path / "dcm", truth=truth)
    echo_three = {f.name for f in files if pydicom.dcmread(f, stop_before_pixels=True).EchoNumbers == 3}
    error = refused(ingest, files, names=echo_three, says="echo time 8 ms does not follow the previous echo's 12 ms")
    assert "strictly increasing" in error.remedy


def test_nifti_echo_times_not_increasing(tmp_path, ingest):
    files = nifti_files(tmp_path / "nii")
    edit_sidecar(tmp_path / "nii" / "gre_e3.json", EchoTime=0.008)
    refused(ingest, files, names="gre_e3.json", says="does not follow")


def test_nifti_echo_time_missing(tmp_path, ingest):
    files = nifti_files(tmp_path / "nii")
    edit_sidecar(tmp_path / "nii" / "gre_e2_ph.json", EchoTime=None)
    refused(ingest, files, names="gre_e2_ph.json", says="gives 0 echo time(s) for 1 volume(s)")


def test_4d_nifti_echo_time_list_too_short(tmp_path, ingest):
    files = nifti_files(tmp_path / "nii", layout="4d")
    edit_sidecar(tmp_path / "nii" / "gre_ph.json", EchoTime=[0.004, 0.008])
    refused(ingest, files, names="gre_ph.json", says="gives 2 echo time(s) for 3 volume(s)")


def test_dicom_echo_time_missing(tmp_path, ingest):
    files = dicom_files(tmp_path / "dcm")
    ds = pydicom.dcmread(files[0])
    del ds.EchoTime
    ds.save_as(files[0])
    refused(ingest, files, names=files[0].name, says="has no EchoTime")


def test_phase_missing_dicom(tmp_path, ingest):
    files = dicom_files(tmp_path / "dcm", series_number=5)
    magnitude = [f for f in files if f.name.startswith("IM005_")]
    error = refused(ingest, magnitude, names=names_of(magnitude), says="no phase image found")
    assert "magnitude and phase" in error.remedy


def test_magnitude_missing_dicom(tmp_path, ingest):
    files = dicom_files(tmp_path / "dcm", series_number=5)
    phase = [f for f in files if f.name.startswith("IM006_")]
    refused(ingest, phase, names=names_of(phase), says="no magnitude image found")


def test_phase_missing_nifti(tmp_path, ingest):
    files = [f for f in nifti_files(tmp_path / "nii") if "_ph" not in f.name]
    refused(ingest, files, names=names_of(files), says="no phase image found")


def test_magnitude_missing_nifti(tmp_path, ingest):
    files = [f for f in nifti_files(tmp_path / "nii", layout="4d") if "_ph" in f.name]
    refused(ingest, files, names="gre_ph.nii.gz", says="no magnitude image found")


def test_single_slice_dicom_refused(tmp_path, ingest):
    files = dicom_files(tmp_path / "dcm", truth=make_truth(shape=(12, 12, 1), echo_times_s=(0.004, 0.008, 0.012)))
    refused(ingest, files, names=names_of(files), says="is 2D")


def test_2d_nifti_refused(tmp_path, ingest):
    files = nifti_files(tmp_path / "nii")
    path = tmp_path / "nii" / "gre_e1.nii.gz"
    image = nib.load(path)
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj)[:, :, 0], image.affine), path)
    refused(ingest, files, names="gre_e1.nii.gz", says="is 2D")


def test_nan_refused(tmp_path, ingest):
    files = nifti_files(tmp_path / "nii")
    path = tmp_path / "nii" / "gre_e2_ph.nii.gz"
    image = nib.load(path)
    data = np.asarray(image.dataobj).copy()
    data[3, 4, 2] = np.nan
    nib.save(nib.Nifti1Image(data, image.affine), path)
    refused(ingest, files, names="gre_e2_ph.nii.gz", says="NaN")


def test_phase_out_of_range_nifti(tmp_path, ingest):
    files = nifti_files(tmp_path / "nii")
    path = tmp_path / "nii" / "gre_e1_ph.nii.gz"
    image = nib.load(path)
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj) * 2000 + 5000, image.affine), path)
    refused(ingest, files, names="gre_e1_ph.nii.gz", says="in non-integer steps, neither radians nor")


def test_phase_out_of_range_dicom(tmp_path, ingest):
    files = dicom_files(tmp_path / "dcm", series_number=5)
    bad = sorted(f for f in files if f.name.startswith("IM006_"))[0]
    ds = pydicom.dcmread(bad)
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 4
    ds.save_as(bad)
    refused(ingest, files, names=bad.name, says="outside the scanner scales -4096..4095 and 0..4095")


def test_missing_dicom_slice(tmp_path, ingest):
    files = dicom_files(tmp_path / "dcm")
    gone = files.pop(7)
    error = refused(ingest, files, names=names_of(files), says="Missing images")
    assert "dcm2niix could not convert" in error.problem and gone.name not in str(error)


def test_an_exact_copy_of_a_slice_is_read_once(tmp_path, ingest):
    truth = make_truth(shape=SMALL, echo_times_s=(0.004, 0.008, 0.012))
    files = dicom_files(tmp_path / "dcm", truth=truth)
    copy = tmp_path / "dcm" / "copy_of_one"
    shutil.copy(files[0], copy)
    magnitude, _, _ = in_truth_order(ingest([*files, copy]), truth)
    np.testing.assert_allclose(magnitude, truth.magnitude, atol=1e-4)


def test_two_gre_scans_in_one_upload_are_ambiguous(tmp_path, ingest):
    run1 = dicom_files(tmp_path / "exam" / "run1", series_number=5)
    run2 = dicom_files(tmp_path / "exam" / "run2", series_number=7)
    archive = zip_dir(tmp_path / "exam", tmp_path / "exam.zip")
    members = {f"exam.zip:run1/{n}" for n in names_of(run1)} | {f"exam.zip:run2/{n}" for n in names_of(run2)}
    error = refused(ingest, [archive], names=members, says="several 3-echo magnitude/phase series pairs")
    assert "one GRE scan at a time" in error.remedy


# --- zip safety and limits ---------------------------------------------------------------------


@pytest.mark.parametrize("member, says", [
    ("/etc/passwd", "absolute path"),
    ("C:/Windows/evil.dcm", "absolute path"),
    ("series/../../evil.dcm", "'..' path component"),
])
def test_unsafe_member_paths(tmp_path, ingest, member, says):
    archive = write_zip(tmp_path / "evil.zip", {"series/a.dcm": b"x"}, [zipfile.ZipInfo(member)])
    refused(ingest, [archive], names=f"evil.zip:{member}", says=says)


def test_symlink_member(tmp_path, ingest):
    link = zipfile.ZipInfo("series/link.dcm")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = write_zip(tmp_path / "links.zip", {}, [link])
    refused(ingest, [archive], names="links.zip:series/link.dcm", says="symbolic link")


def test_nested_zip_by_name(tmp_path, ingest, standard_dicom):
    archive = write_zip(tmp_path / "outer.zip", {"inner.zip": standard_dicom.zip.read_bytes()})
    error = refused(ingest, [archive], names="outer.zip:inner.zip", says="zip inside the zip")
    assert "upload it directly" in error.remedy


def test_nested_zip_by_content(tmp_path, ingest, standard_dicom):
    archive = write_zip(tmp_path / "outer.zip", {"scan/data.bin": standard_dicom.zip.read_bytes()})
    refused(ingest, [archive], names="outer.zip:scan/data.bin", says="zip inside the zip")


def test_zip_bomb_member_ratio(tmp_path, ingest):
    archive = write_zip(tmp_path / "bomb.zip", {"big.dcm": bytes(8 * MIB)})
    refused(ingest, [archive], names="bomb.zip:big.dcm", says="compresses",
            limits=UploadLimits(max_compression_ratio=100))


def test_zip_bomb_archive_ratio(tmp_path, ingest):
    archive = write_zip(tmp_path / "many.zip", {f"s/{i}.dcm": bytes(512 * 1024) for i in range(4)})
    refused(ingest, [archive], names="many.zip", says="expands", limits=UploadLimits(max_compression_ratio=100))


def test_zip_uncompressed_total_limit(tmp_path, ingest, standard_dicom):
    refused(ingest, [standard_dicom.zip], names="series.zip", says="archives expand to",
            limits=UploadLimits(max_uncompressed_bytes=100_000, max_compression_ratio=1000))


def test_zip_too_many_files(tmp_path, ingest, standard_dicom):
    refused(ingest, [standard_dicom.zip], names="series.zip", says="files, more than the 50 allowed",
            limits=UploadLimits(max_files=50))


def test_received_bytes_limit(ingest, standard_dicom):
    refused(ingest, [standard_dicom.zip], names="series.zip", says="received",
            limits=UploadLimits(max_total_bytes=1000))


def test_zip_that_lies_about_sizes_is_refused_as_damaged(tmp_path, ingest, workdir):
    archive = write_zip(tmp_path / "liar.zip", {"a.dcm": bytes(3 * MIB)})
    patch_declared_size(archive, 100)
    refused(ingest, [archive], names="liar.zip:a.dcm", says="is damaged",
            limits=UploadLimits(max_uncompressed_bytes=MIB, max_compression_ratio=1e9))
    assert max(p.stat().st_size for p in workdir.rglob("*") if p.is_file()) <= 100


def patch_declared_size(archive: Path, size: int) -> None:
    """Rewrite the uncompressed sizes in the local and central headers, as a malicious zip would."""
    data = bytearray(archive.read_bytes())
    local = data.index(b"PK\x03\x04")
    data[local + 22:local + 26] = size.to_bytes(4, "little")
    central = data.index(b"PK\x01\x02")
    data[central + 24:central + 28] = size.to_bytes(4, "little")
    archive.write_bytes(bytes(data))


def test_empty_upload(ingest):
    refused(ingest, [], names="upload", says="no files")


# --- nothing written outside the work directory -------------------------------------------------


def snapshot(root: Path, exclude: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if not p.is_relative_to(exclude)
    }


@pytest.mark.parametrize("damage", ["grid", "bomb", "traversal"])
def test_rejected_upload_writes_nothing_outside_workdir(tmp_path, ingest, workdir, damage):
    files = nifti_files(tmp_path / "upload")
    if damage == "grid":
        path = tmp_path / "upload" / "gre_e3_ph.nii.gz"
        image = nib.load(path)
        nib.save(nib.Nifti1Image(np.asarray(image.dataobj)[:, :, :4], image.affine), path)
    elif damage == "bomb":
        files = [write_zip(tmp_path / "upload" / "bomb.zip", {"x/big.nii": bytes(8 * MIB)})]
    else:
        files = [write_zip(tmp_path / "upload" / "t.zip", {"a/gre_e1.json": b"{}"},
                           [zipfile.ZipInfo("../../escaped.json")])]
    before = snapshot(tmp_path, workdir)
    with pytest.raises(UploadError):
        ingest(files)
    assert snapshot(tmp_path, workdir) == before
    assert not list(tmp_path.parent.glob("escaped.json"))
