"""The input rules of qsm.inputs, case by case: each wrong input is refused (naming file and value) or read right."""

import os
import pickle

import numpy as np
import pytest

import qsm
from qsm.inputs import (
    InputError,
    b0_direction,
    check_output_path,
    check_same_grid,
    echo_times_s,
    field_strength_t,
    phase_to_radians,
    same_grid,
    voxel_sizes,
)
from qsm.phantom import slab_affine

RNG = np.random.default_rng(7)
#: A wrapped head phase: noise fills the whole circle.
TRUE_PHASE = RNG.uniform(-np.pi, np.pi, (6, 7, 8)).astype(np.float32)


def convert(stored, name="P1.nii.gz"):
    """Run the rule on a copy of ``stored``; return (radians, scale name)."""
    array = np.array(stored, dtype=np.float32)
    scale = phase_to_radians([(name, array)])
    return array, scale


def circular_error(a, b):
    return float(np.abs(np.angle(np.exp(1j * (np.asarray(a, np.float64) - b)))).max())


def refusal(stored, name="P1.nii.gz") -> InputError:
    with pytest.raises(InputError) as info:
        convert(stored, name)
    message = str(info.value)
    assert message.startswith(f"{name}: ") and "\n" not in message and message.endswith(".")
    return info.value


# --- phase scales that are read -------------------------------------------------------------------


def test_radians_are_kept():
    radians, scale = convert(TRUE_PHASE)
    assert scale == "radians" and np.array_equal(radians, TRUE_PHASE)


def test_radians_overshooting_pi_by_rounding_are_wrapped():
    radians, scale = convert([-np.pi - 5e-4, 0.0, np.pi + 5e-4])
    assert scale == "radians" and radians.min() >= -np.pi and radians.max() < np.pi


def test_radians_stored_0_to_2pi_are_wrapped_to_pi():
    radians, scale = convert(np.mod(TRUE_PHASE, 2 * np.pi))
    assert scale == "radians" and radians.min() >= -np.pi and radians.max() < np.pi
    assert circular_error(radians, TRUE_PHASE) < 1e-5


def test_siemens_signed_integers_are_scaled_by_pi_over_4096():
    stored = np.array([-4096, -2048, 0, 2048, 4094], dtype=np.float32)
    radians, scale = convert(stored)
    assert scale == "siemens"
    assert np.allclose(radians, [-np.pi, -np.pi / 2, 0, np.pi / 2, 4094 * np.pi / 4096])


def test_siemens_signed_head_phase_is_read_to_one_step():
    radians, scale = convert(2 * np.round(TRUE_PHASE * 2048 / np.pi))
    assert scale == "siemens" and circular_error(radians, TRUE_PHASE) <= np.pi / 2048


def test_unsigned_12_bit_phase_is_shifted_and_scaled():
    radians, scale = convert([0, 1024, 2048, 4095])
    assert scale == "unsigned12"
    assert np.allclose(radians, [-np.pi, -np.pi / 2, 0, np.pi - 2 * np.pi / 4096], atol=1e-6)


def test_unsigned_12_bit_head_phase_is_read_to_one_step():
    stored = np.mod(np.round(TRUE_PHASE * 2048 / np.pi + 2048), 4096)
    radians, scale = convert(stored)
    assert scale == "unsigned12" and circular_error(radians, TRUE_PHASE) <= np.pi / 2048


def test_the_scale_is_decided_over_the_whole_series():
    # a first echo that does not wrap is ambiguous on its own; the series as a whole is Siemens
    early = np.round(TRUE_PHASE * 0.2 * 4096 / np.pi)
    late = np.round(TRUE_PHASE * 4096 / np.pi).clip(-4096, 4095)
    parts = [("e1.nii", early.copy()), ("e2.nii", late.copy())]
    assert phase_to_radians(parts) == "siemens"
    assert np.allclose(parts[0][1], early * np.pi / 4096, atol=1e-6)


# --- phase scales that are refused ---------------------------------------------------------------


def test_degrees_are_refused_naming_file_and_values():
    error = refusal(np.append(np.degrees(TRUE_PHASE).round(1), [-180.0, 180.0]))
    assert str(error) == (
        "P1.nii.gz: phase spans -180..180, which looks like degrees; "
        "export phase in radians (-pi..pi) or the scanner's integer scale (-4096..4095)."
    )


@pytest.mark.parametrize("stored", [np.round(np.degrees(TRUE_PHASE)), np.mod(np.degrees(TRUE_PHASE), 360)])
def test_integer_and_0_to_360_degrees_are_refused_too(stored):
    assert "looks like degrees" in refusal(stored).problem


def test_radians_spanning_more_than_2_pi_are_refused():
    error = refusal(TRUE_PHASE * 2)
    assert "more than the 2 pi of wrapped radians" in error.problem and "-6.2" in error.problem


def test_non_integer_values_in_the_thousands_are_refused():
    assert "non-integer steps" in refusal(TRUE_PHASE * 1000.5).problem


def test_milliradians_are_refused_as_ambiguous():
    error = refusal(np.round(TRUE_PHASE * 1000))
    assert "milliradians" in error.problem and "convert the phase to radians" in error.remedy


def test_a_narrow_unsigned_range_is_refused():
    assert "too narrow a span" in refusal(np.round((TRUE_PHASE + np.pi) * 300)).problem


def test_integers_beyond_12_bits_are_refused():
    assert "outside the scanner scales" in refusal(np.round(TRUE_PHASE * 4096 / np.pi) * 4).problem


def test_integer_and_fractional_files_in_one_series_are_refused():
    parts = [("e1.nii", np.round(TRUE_PHASE * 4096 / np.pi)), ("e2.nii", TRUE_PHASE.copy())]
    with pytest.raises(InputError, match=r"^e2\.nii: phase in non-integer steps while e1\.nii holds integers; give"):
        phase_to_radians(parts)


def test_an_all_zero_echo_among_radian_echoes_is_fine():
    parts = [("e1.nii", np.zeros((3, 3, 3), np.float32)), ("e2.nii", TRUE_PHASE.copy())]
    assert phase_to_radians(parts) == "radians"


def test_the_refusal_names_the_file_holding_the_extreme_value():
    parts = [("e1.nii", TRUE_PHASE.copy()), ("e2.nii", np.degrees(TRUE_PHASE)), ("e3.nii", TRUE_PHASE.copy())]
    with pytest.raises(InputError, match=r"^e2\.nii: phase spans .* looks like degrees"):
        phase_to_radians(parts)


# --- echo times -------------------------------------------------------------------------------------


def test_echo_times_in_ms_and_s_give_seconds():
    assert echo_times_s([4, 10, 16], "ms", ["x"] * 3, "--te-ms") == pytest.approx((0.004, 0.010, 0.016))
    assert echo_times_s([0.004, 0.010], "s", ["a.json", "b.json"], "EchoTime") == pytest.approx((0.004, 0.010))


def test_seconds_given_as_milliseconds_are_refused():
    with pytest.raises(InputError) as info:
        echo_times_s([0.004, 0.010, 0.016], "ms", ["P1.nii.gz"] * 3, "--te-ms")
    assert str(info.value) == ("P1.nii.gz: --te-ms 0.004 ms is outside 0.5-100 ms; "
                               "give --te-ms in milliseconds (e.g. 4,10,16), not seconds.")


def test_a_sidecar_echo_time_in_milliseconds_is_refused():
    with pytest.raises(InputError) as info:
        echo_times_s([0.004, 10.0], "s", ["e1.json", "e2.json"], "EchoTime")
    assert str(info.value) == ("e2.json: EchoTime 10 s is 10000 ms, outside 0.5-100 ms; "
                               "BIDS EchoTime is in seconds (0.004 for 4 ms); fix the sidecar.")


def test_a_dicom_echo_time_in_seconds_is_refused():
    with pytest.raises(InputError, match="IM1: DICOM EchoTime 0.004 ms is outside .* must be in milliseconds"):
        echo_times_s([0.004], "ms", ["IM1"], "DICOM EchoTime")


@pytest.mark.parametrize("values", [[4, 4, 16], [4, 16, 10]])
def test_echo_times_must_increase(values):
    with pytest.raises(InputError, match=r"^e\d.json: echo time \d+ ms does not follow .*strictly increasing"):
        echo_times_s(values, "ms", ["e1.json", "e2.json", "e3.json"], "EchoTime")


# --- field strength -----------------------------------------------------------------------------------


@pytest.mark.parametrize("tesla", [0.55, 1.5, 3, 7, 11.7])
def test_plausible_field_strengths_pass(tesla):
    assert field_strength_t(tesla, "a.json", "MagneticFieldStrength") == tesla


def test_millitesla_are_refused_with_the_conversion():
    with pytest.raises(InputError) as info:
        field_strength_t(3000, "a.json", "MagneticFieldStrength")
    assert str(info.value) == ("a.json: MagneticFieldStrength 3000 is outside 0.1-12 T, which looks like millitesla "
                               "or gauss; give the field strength in tesla (3000 mT and 30000 G are 3 T).")


@pytest.mark.parametrize("tesla", [0, -3, 0.05, 30])
def test_other_implausible_field_strengths_are_refused(tesla):
    with pytest.raises(InputError, match=f"--b0-tesla {tesla:g} is outside 0.1-12 T; give"):
        field_strength_t(tesla, "P1.nii.gz", "--b0-tesla")


# --- geometry ------------------------------------------------------------------------------------------


def test_b0_direction_of_a_slab_tilted_about_right_left_matches_the_phantom_convention():
    tilt = np.deg2rad(20)
    affine = slab_affine((10, 12, 14), (0.9, 0.9, 2.0), 20)
    assert voxel_sizes(affine) == pytest.approx((0.9, 0.9, 2.0))
    # the slab is tilted by +20 degrees about x, so B0 (world +z) leans towards +j in voxel axes
    assert np.allclose(b0_direction(affine), [0, np.sin(tilt), np.cos(tilt)])
    assert np.allclose(b0_direction(np.eye(4)), [0, 0, 1])


def test_b0_direction_with_swapped_axes():
    affine = np.zeros((4, 4))
    affine[0, 2], affine[1, 0], affine[2, 1], affine[3, 3] = 1.2, 1.0, 1.0, 1.0  # k -> x, i -> y, j -> z
    assert np.allclose(b0_direction(affine), [0, 1, 0])


def test_a_zero_voxel_axis_is_refused():
    with pytest.raises(ValueError, match="zero-length"):
        voxel_sizes(np.diag([1.0, 0.0, 1.0, 1.0]))


def test_grids_are_compared_by_shape_and_affine():
    affine = slab_affine((10, 12, 14), (1, 1, 1), 17)
    check_same_grid((10, 12, 14, 3), affine, (10, 12, 14), affine + 5e-4, "m.nii", "ref.nii")
    assert same_grid((10, 12, 14), affine, (10, 12, 14), affine)
    with pytest.raises(InputError, match=r"^m.nii: grid 10x12x13 differs from ref.nii \(10x12x14\); give it on"):
        check_same_grid((10, 12, 13), affine, (10, 12, 14), affine, "m.nii", "ref.nii")
    shifted = affine.copy()
    shifted[0, 3] += 0.01
    with pytest.raises(InputError, match="affine .* differs from ref.nii by up to 0.01 mm"):
        check_same_grid((10, 12, 14), shifted, (10, 12, 14), affine, "m.nii", "ref.nii")
    flipped = affine.copy()
    flipped[:3, 1] *= -1
    with pytest.raises(InputError, match="flipped along voxel axis j relative to ref.nii"):
        check_same_grid((10, 12, 14), flipped, (10, 12, 14), affine, "m.nii", "ref.nii")


# --- output path and the error type ---------------------------------------------------------------------


def test_output_path_rules(tmp_path):
    assert check_output_path(tmp_path / "chi.nii.gz") == tmp_path / "chi.nii.gz"
    with pytest.raises(InputError, match=r"chi.nii.gz: the output folder .*missing does not exist; create it"):
        check_output_path(tmp_path / "missing" / "chi.nii.gz")
    with pytest.raises(InputError, match="must end with .nii or .nii.gz"):
        check_output_path(tmp_path / "chi.mgz")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_output_folder_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(InputError, match="is not writable"):
        check_output_path(locked / "chi.nii")


def test_input_error_is_one_value_error_that_survives_pickling():
    error = InputError("P1.nii.gz", "phase spans -180..180", "export radians")
    assert isinstance(error, ValueError) and qsm.InputError is InputError
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) == "P1.nii.gz: phase spans -180..180; export radians."
    assert (copy.name, copy.problem, copy.remedy) == ("P1.nii.gz", "phase spans -180..180", "export radians")


# --- vendor conventions ---------------------------------------------------------------------------


@pytest.mark.parametrize("manufacturer", ["GE MEDICAL SYSTEMS", "GE"])
def test_ge_milliradians_are_read_when_the_vendor_is_known(manufacturer):
    stored = np.clip(np.round(TRUE_PHASE * 1000), -3142, 3141)
    array = stored.astype(np.float32)
    assert phase_to_radians([("P1.dcm", array)], manufacturer) == "milliradians"
    assert circular_error(array, TRUE_PHASE) < 1e-3


def test_the_same_milliradians_without_a_vendor_are_refused():
    assert "fits milliradians" in refusal(np.round(TRUE_PHASE * 1000)).problem


def test_ge_phase_already_in_radians_is_kept():
    array = TRUE_PHASE.copy()
    assert phase_to_radians([("P1.nii", array)], "GE") == "radians" and np.array_equal(array, TRUE_PHASE)


def test_ge_phase_beyond_milliradians_is_refused():
    stored = np.round(TRUE_PHASE * 4096 / np.pi).astype(np.float32)
    with pytest.raises(InputError) as info:
        phase_to_radians([("P1.dcm", stored)], "GE MEDICAL SYSTEMS")
    assert info.value.name == "P1.dcm" and "milliradians in which GE MEDICAL SYSTEMS stores phase" in info.value.problem


def test_siemens_is_judged_by_its_values():
    stored = np.round(TRUE_PHASE * 4096 / np.pi).astype(np.float32)
    assert phase_to_radians([("P1.dcm", stored)], "SIEMENS") == "siemens"
