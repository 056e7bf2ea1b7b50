"""Command line: every kind of bad input exits 2 with a one-line message and writes nothing."""

import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from qsm.cli import main
from qsm.io import load_inputs, sidecar_path

from qsm_files import write_nifti

SHAPE = (8, 9, 10)


def echo_files(folder: Path, echoes=3, sidecar=True, phase_scale=1.0, shape=SHAPE, affine=None, tes=(0.004, 0.010, 0.016)):
    rng = np.random.default_rng(0)
    mags, phases = [], []
    for e in range(echoes):
        mags.append(str(write_nifti(folder / f"mag{e}.nii.gz", rng.uniform(0.1, 1, shape).astype(np.float32), affine)))
        phase = rng.uniform(-np.pi, np.pi, shape).astype(np.float32) * phase_scale
        phases.append(str(write_nifti(folder / f"ph{e}.nii.gz", phase, affine)))
        if sidecar:
            sidecar_path(phases[-1]).write_text(json.dumps({"EchoTime": tes[e], "MagneticFieldStrength": 3}))
    return mags, phases


def run(capsys, tmp_path, mags, phases, *extra):
    out = tmp_path / "out" / "chi.nii.gz"
    out.parent.mkdir(exist_ok=True)
    status = main(["--mag", *mags, "--phase", *phases, "--out", str(out), "--quiet", *extra])
    err = capsys.readouterr().err.strip()
    return status, err, out


def expect_rejection(capsys, tmp_path, mags, phases, names, *extra):
    status, err, out = run(capsys, tmp_path, mags, phases, *extra)
    assert status == 2
    assert len(err.splitlines()) == 1 and err.startswith("qsm: error:")
    assert names in err
    assert not any(out.parent.iterdir()), "no output may be written on bad input"
    return err


def test_shape_mismatch(capsys, tmp_path):
    mags, phases = echo_files(tmp_path)
    write_nifti(tmp_path / "ph1.nii.gz", np.zeros((8, 9, 11), np.float32))
    expect_rejection(capsys, tmp_path, mags, phases, "ph1.nii.gz")


def test_affine_mismatch(capsys, tmp_path):
    mags, phases = echo_files(tmp_path)
    write_nifti(tmp_path / "ph2.nii.gz", np.zeros(SHAPE, np.float32), np.diag([2.0, 1, 1, 1]))
    err = expect_rejection(capsys, tmp_path, mags, phases, "ph2.nii.gz")
    assert "affine" in err


@pytest.mark.parametrize("option, value, says", [
    ("--te-ms", "4,10", "3 echoes but 2 echo times"),
    ("--te-ms", "4,16,10", "echo time 10 ms does not follow the previous echo's 16 ms"),
    ("--te-ms", "0.004,0.010,0.016", "--te-ms 0.004 ms is outside 0.5-100 ms; give --te-ms in milliseconds"),
    ("--b0-tesla", "3000", "--b0-tesla 3000 is outside 0.1-12 T, which looks like millitesla"),
])
def test_bad_echo_times_and_field_strength_arguments(capsys, tmp_path, option, value, says):
    mags, phases = echo_files(tmp_path)
    assert says in expect_rejection(capsys, tmp_path, mags, phases, "ph0.nii.gz", option, value)


def test_nan_voxels(capsys, tmp_path):
    mags, phases = echo_files(tmp_path)
    data = np.ones(SHAPE, np.float32)
    data[1, 2, 3] = np.nan
    write_nifti(tmp_path / "mag1.nii.gz", data)
    err = expect_rejection(capsys, tmp_path, mags, phases, "mag1.nii.gz")
    assert "NaN" in err


@pytest.mark.parametrize("phase_scale, says", [
    (100.0, "in non-integer steps, neither radians nor a scanner's integer scale"),
    (180 / np.pi, "which looks like degrees; export phase in radians"),
    (2.0, "more than the 2 pi of wrapped radians"),
])
def test_phase_in_no_known_scale(capsys, tmp_path, phase_scale, says):
    mags, phases = echo_files(tmp_path, phase_scale=phase_scale)
    assert says in expect_rejection(capsys, tmp_path, mags, phases, "ph")


def test_unsigned_12_bit_phase_is_read(tmp_path):
    mags, phases = echo_files(tmp_path, phase_scale=1.0)
    for path in phases:
        image = nib.load(path)
        radians = image.get_fdata()
        stored = np.mod(np.round(radians * 2048 / np.pi + 2048), 4096).astype(np.uint16)
        nib.save(nib.Nifti1Image(stored, image.affine), path)
    inputs = load_inputs(mags, phases)
    assert inputs.phase_scaling == "unsigned12"
    assert inputs.phase.min() >= -np.pi and inputs.phase.max() < np.pi


def test_sidecar_echo_time_in_milliseconds(capsys, tmp_path):
    mags, phases = echo_files(tmp_path, tes=(4.0, 10.0, 16.0))
    err = expect_rejection(capsys, tmp_path, mags, phases, "ph0.json")
    assert "EchoTime 4 s is 4000 ms, outside 0.5-100 ms; BIDS EchoTime is in seconds" in err


def test_a_missing_output_folder_fails_before_anything_is_read(capsys, tmp_path):
    out = tmp_path / "no-such-folder" / "chi.nii.gz"
    status = main(["--mag", str(tmp_path / "absent_mag.nii.gz"), "--phase", str(tmp_path / "absent_ph.nii.gz"),
                   "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert err == (f"qsm: error: {out}: the output folder {out.parent} does not exist; "
                   "create it or choose another output path.")
    assert not out.parent.exists()


def test_a_wrong_output_suffix_fails_first(capsys, tmp_path):
    status = main(["--mag", "absent.nii", "--phase", "absent.nii", "--out", str(tmp_path / "chi.mgz"), "--quiet"])
    assert status == 2 and "must end with .nii or .nii.gz" in capsys.readouterr().err


def test_two_dimensional_data(capsys, tmp_path):
    mags, phases = echo_files(tmp_path, shape=(8, 9, 1))
    err = expect_rejection(capsys, tmp_path, mags, phases, "mag0.nii.gz")
    assert "3D" in err


def test_missing_echo_times(capsys, tmp_path):
    mags, phases = echo_files(tmp_path, sidecar=False)
    err = expect_rejection(capsys, tmp_path, mags, phases, "ph0.nii.gz", "--b0-tesla", "3")
    assert "--te-ms" in err


def test_missing_field_strength(capsys, tmp_path):
    mags, phases = echo_files(tmp_path, sidecar=False)
    err = expect_rejection(capsys, tmp_path, mags, phases, "ph0.nii.gz", "--te-ms", "4,10,16")
    assert "--b0-tesla" in err


def test_module_entry_point_exits_2(tmp_path):
    mags, phases = echo_files(tmp_path, sidecar=False)
    completed = subprocess.run(
        [sys.executable, "-m", "qsm", "--mag", *mags, "--phase", *phases, "--out", str(tmp_path / "c.nii.gz")],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2],
    )
    assert completed.returncode == 2
    assert "ph0.nii.gz" in completed.stderr
    assert not (tmp_path / "c.nii.gz").exists()


def test_cli_reconstructs_the_phantom(capsys, tmp_path, straight_head):
    head = straight_head
    mags, phases = [], []
    for e in range(3):
        mags.append(str(write_nifti(tmp_path / f"m{e}.nii.gz", head.magnitude[..., e], head.affine)))
        phases.append(str(write_nifti(tmp_path / f"p{e}.nii.gz", np.clip(np.round(head.phase[..., e] * 4096 / np.pi), -4096, 4095).astype(np.int16), head.affine)))
    mask = str(write_nifti(tmp_path / "mask.nii.gz", head.brain_mask.astype(np.uint8), head.affine))
    status, err, out = run(capsys, tmp_path, mags, phases, "--te-ms", "4,10,16", "--b0-tesla", "3",
                           "--mask", mask, "--inversion", "tkd", "--save-intermediates", str(tmp_path / "steps"))
    assert status == 0, err
    assert out.exists() and (out.parent / "chi.json").exists()
    assert json.loads((out.parent / "chi.json").read_text())["phase_scaling"] == "siemens"
    assert (tmp_path / "steps" / "local_field_ppm.nii.gz").exists()
