"""Loading: sidecars, per-echo and 4D files, phase scale detection; outputs with provenance (rules: test_qsm_inputs)."""

import json

import nibabel as nib
import numpy as np
import pytest

from qsm import InputError, load_inputs, reconstruct, save_outputs
from qsm.io import read_sidecar, sidecar_path

from qsm_files import write_nifti


def test_sidecar_path_and_parsing(tmp_path):
    image = tmp_path / "sub-01_echo-1_part-phase_MEGRE.nii.gz"
    assert sidecar_path(image) == tmp_path / "sub-01_echo-1_part-phase_MEGRE.json"
    sidecar_path(image).write_text(json.dumps({"EchoTime": 0.004, "MagneticFieldStrength": 3}))
    assert read_sidecar(image) == {"EchoTime": 0.004, "MagneticFieldStrength": 3}
    assert read_sidecar(tmp_path / "none.nii") == {}


def write_echoes(folder, magnitude, phase, te_ms, affine, sidecars=True):
    mags, phases = [], []
    for e, te in enumerate(te_ms):
        mags.append(write_nifti(folder / f"mag_e{e + 1}.nii.gz", magnitude[..., e], affine))
        phases.append(write_nifti(folder / f"phase_e{e + 1}.nii.gz", phase[..., e], affine))
        if sidecars:
            meta = {"EchoTime": te / 1000, "MagneticFieldStrength": 3.0}
            sidecar_path(phases[-1]).write_text(json.dumps(meta))
    return mags, phases


def test_load_inputs_per_echo_files_with_sidecars_and_siemens_phase(tmp_path):
    rng = np.random.default_rng(0)
    magnitude = rng.uniform(0, 1, (6, 7, 8, 3)).astype(np.float32)
    phase = rng.uniform(-np.pi, np.pi, (6, 7, 8, 3)).astype(np.float32)
    affine = np.diag([1.5, 1.5, 1.5, 1.0])
    mags, phases = write_echoes(tmp_path, magnitude, np.round(phase * 4096 / np.pi), (4, 10, 16), affine)
    inputs = load_inputs(mags, phases)
    assert inputs.te_s == pytest.approx((0.004, 0.010, 0.016))
    assert inputs.b0_tesla == 3.0
    assert inputs.phase_scaling == "siemens"
    assert np.allclose(inputs.phase, phase, atol=np.pi / 4096)
    assert len(inputs.sources["phase"][0]["sha256"]) == 64


def test_the_phase_scale_is_decided_over_all_echo_files(tmp_path):
    rng = np.random.default_rng(1)
    magnitude = np.ones((6, 7, 8, 2), np.float32)
    phase = np.stack([rng.uniform(-0.5, 0.5, (6, 7, 8)), rng.uniform(-np.pi, np.pi, (6, 7, 8))], axis=-1)
    mags, phases = write_echoes(tmp_path, magnitude, np.round(phase * 4096 / np.pi), (4, 10), np.eye(4))
    inputs = load_inputs(mags, phases)  # echo 1 alone (-650..650) could be milliradians
    assert inputs.phase_scaling == "siemens" and np.allclose(inputs.phase, phase, atol=np.pi / 4096)
    write_nifti(phases[1], np.degrees(phase[..., 1]).astype(np.float32))
    with pytest.raises(InputError, match=r"phase_e2.nii.gz: phase in non-integer steps while .*phase_e1.nii.gz holds"):
        load_inputs(mags, phases)


def test_load_inputs_4d_with_te_list_in_sidecar(tmp_path):
    data = np.ones((5, 5, 5, 2), np.float32)
    mag = write_nifti(tmp_path / "mag.nii", data)
    phase = write_nifti(tmp_path / "phase.nii", data * 0.5)
    sidecar_path(phase).write_text(json.dumps({"EchoTime": [0.005, 0.012], "MagneticFieldStrength": 7}))
    inputs = load_inputs([mag], [phase])
    assert inputs.te_s == pytest.approx((0.005, 0.012)) and inputs.b0_tesla == 7.0
    assert load_inputs([mag], [phase], te_ms=[3, 9], b0_tesla=1.5).te_s == pytest.approx((0.003, 0.009))


def test_save_outputs_writes_chi_provenance_and_intermediates(tmp_path, straight_head):
    head = straight_head
    mags, phases = write_echoes(tmp_path, head.magnitude[..., :3], head.phase[..., :3], (4, 10, 16), head.affine)
    mask = write_nifti(tmp_path / "mask.nii.gz", head.brain_mask.astype(np.uint8), head.affine)
    inputs = load_inputs(mags, phases, mask_path=mask)
    result = reconstruct(inputs.magnitude, inputs.phase, inputs.te_s, inputs.b0_tesla, inputs.affine,
                         mask=inputs.mask, inversion="tkd")
    written = save_outputs(result, inputs, tmp_path / "chi.nii.gz",
                           intermediates_dir=tmp_path / "steps")
    chi = nib.load(written["chi"])
    assert chi.get_data_dtype() == np.float32
    assert np.allclose(chi.affine, head.affine) and chi.shape == head.chi.shape
    provenance = json.loads((tmp_path / "chi.json").read_text())
    assert provenance["units"] == "ppm"
    assert provenance["inputs"]["mask"]["sha256"]
    assert set(provenance["stage_seconds"]) >= {"unwrap", "echo_fit", "background", "inversion", "reference"}
    assert provenance["parameters"]["inversion"] == "tkd"
    for name in ("mask", "total_field_ppm", "local_field_ppm"):
        assert (tmp_path / "steps" / f"{name}.nii.gz").exists()
    assert not list(tmp_path.rglob(".*tmp*"))
