"""The upload and the command line (python -m qsm) refuse the same wrong inputs with the same message."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clinical.scanio import UploadError
from clinical.scanio.synthetic import write_nifti_series
from qsm.cli import main

from .conftest import PHASE_STEP, make_truth, phase_error

ECHOES = (0.004, 0.008, 0.012)


def dcm2niix_files(folder: Path, phase=None, **kwargs) -> list[Path]:
    truth = make_truth(shape=(12, 12, 6), echo_times_s=ECHOES)
    return write_nifti_series(folder, truth.magnitude, truth.phase if phase is None else phase(truth.phase),
                              ECHOES, truth.affine, **kwargs)


def cli_error(capsys, folder: Path) -> str:
    """Run python -m qsm on the per-echo files in ``folder``; return its one-line error."""
    mags = [str(folder / f"gre_e{e}.nii.gz") for e in (1, 2, 3)]
    phases = [str(folder / f"gre_e{e}_ph.nii.gz") for e in (1, 2, 3)]
    (folder / "out").mkdir()
    status = main(["--mag", *mags, "--phase", *phases, "--out", str(folder / "out" / "chi.nii.gz"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1, err
    return err


def assert_same_refusal(ingest, capsys, folder: Path, files: list[Path]) -> UploadError:
    with pytest.raises(UploadError) as info:
        ingest(files)
    error = info.value
    assert cli_error(capsys, folder) == f"qsm: error: {folder / error.name}: {error.problem}; {error.remedy}."
    return error


def test_phase_in_degrees(tmp_path, ingest, capsys):
    files = dcm2niix_files(tmp_path, phase=np.degrees)
    error = assert_same_refusal(ingest, capsys, tmp_path, files)
    assert error.name.endswith("_ph.nii.gz") and "which looks like degrees" in error.problem
    assert error.remedy == "export phase in radians (-pi..pi) or the scanner's integer scale (-4096..4095)"


def test_phase_mis_scaled_beyond_two_pi(tmp_path, ingest, capsys):
    files = dcm2niix_files(tmp_path, phase=lambda p: 2 * p)
    error = assert_same_refusal(ingest, capsys, tmp_path, files)
    assert "more than the 2 pi of wrapped radians" in error.problem


def test_sidecar_echo_time_in_milliseconds(tmp_path, ingest, capsys):
    files = dcm2niix_files(tmp_path)
    sidecar = tmp_path / "gre_e1_ph.json"
    sidecar.write_text(json.dumps(json.loads(sidecar.read_text()) | {"EchoTime": 4.0}))
    error = assert_same_refusal(ingest, capsys, tmp_path, files)
    assert str(error) == ("gre_e1_ph.json: EchoTime 4 s is 4000 ms, outside 0.5-100 ms; "
                          "BIDS EchoTime is in seconds (0.004 for 4 ms); fix the sidecar.")


def test_field_strength_in_millitesla(tmp_path, ingest, capsys):
    files = dcm2niix_files(tmp_path, field_strength_t=3000)
    with pytest.raises(UploadError, match=r"^gre_e1.json: MagneticFieldStrength 3000 is outside 0.1-12 T, which looks"):
        ingest(files)
    assert "MagneticFieldStrength 3000 is outside 0.1-12 T, which looks like millitesla" in cli_error(capsys, tmp_path)


def test_unsigned_12_bit_phase_is_read_right(tmp_path, ingest):
    truth = make_truth(shape=(12, 12, 6), echo_times_s=ECHOES)
    truth.phase[0, 0, 0, :], truth.phase[-1, -1, -1, :] = -np.pi, np.pi - 1e-3  # background noise fills the circle
    files = write_nifti_series(tmp_path, truth.magnitude, truth.phase, ECHOES, truth.affine, phase_scale="unsigned")
    scan = ingest(files)
    assert phase_error(scan.phase, truth.phase) <= PHASE_STEP
    assert scan.phase.min() >= -np.float32(np.pi) and scan.phase.max() < np.float32(np.pi)
