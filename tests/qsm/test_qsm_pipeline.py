"""Whole pipeline on the phantom against its ground truth (issue #3 accuracy figures).

1.5 mm head at 3 T, 5 echoes (4-28 ms), peak SNR 100, wrapped phase, given mask;
scored as the QSM challenge 2.0 does (demeaned NRMSE in the brain mask, motor
minus control cortex contrast recovery).
"""

import numpy as np
import pytest

from qsm import STAGES, reconstruct
from qsm.inversion import DEFAULT
from qsm.inputs import b0_direction
from qsm.metrics import motor_contrast_recovery, nrmse

NRMSE_LIMIT = 60.0
RECOVERY = {"straight": (0.7, 1.2), "tilted": (0.5, 1.2)}
_cache = {}


def reconstruct_head(head, orientation, inversion, **options):
    key = (orientation, inversion, tuple(sorted(options)))
    if key not in _cache:
        _cache[key] = reconstruct(head.magnitude, head.phase, head.te_s, head.b0_tesla, head.affine,
                                  inversion=inversion, **options)
    return _cache[key]


@pytest.fixture(params=["straight", "tilted"])
def oriented_head(request, straight_head, tilted_head):
    return request.param, straight_head if request.param == "straight" else tilted_head


def score(result, head):
    return nrmse(result.chi, head.chi, head.brain_mask), motor_contrast_recovery(result.chi, head.chi, head.rois)


def test_default_inversion_meets_the_accuracy_targets(oriented_head):
    orientation, head = oriented_head
    result = reconstruct_head(head, orientation, DEFAULT, mask=head.brain_mask)
    error, recovery = score(result, head)
    low, high = RECOVERY[orientation]
    assert error <= NRMSE_LIMIT, f"NRMSE {error:.1f}%"
    assert low <= recovery <= high, f"contrast recovery {recovery:.2f}"


def test_iswim_recovers_the_motor_cortex_contrast(oriented_head):
    orientation, head = oriented_head
    result = reconstruct_head(head, orientation, "iswim", mask=head.brain_mask)
    low, high = RECOVERY[orientation]
    assert low <= score(result, head)[1] <= high


def test_iswim_meets_the_nrmse_target(oriented_head):
    orientation, head = oriented_head
    result = reconstruct_head(head, orientation, "iswim", mask=head.brain_mask)
    assert score(result, head)[0] <= NRMSE_LIMIT


def test_iswim_beats_plain_tkd(straight_head):
    iswim = score(reconstruct_head(straight_head, "straight", "iswim", mask=straight_head.brain_mask), straight_head)
    tkd = score(reconstruct_head(straight_head, "straight", "tkd", mask=straight_head.brain_mask), straight_head)
    assert iswim[1] > tkd[1]


def test_outputs_are_ppm_float32_on_the_input_grid_with_timings(straight_head):
    result = reconstruct_head(straight_head, "straight", DEFAULT, mask=straight_head.brain_mask)
    for array in (result.chi, result.total_field_ppm, result.local_field_ppm):
        assert array.dtype == np.float32 and array.shape == straight_head.chi.shape
    assert np.all(result.chi[~result.mask] == 0)
    assert abs(result.chi[result.mask].mean()) < 1e-6  # referenced to the brain mean
    assert set(result.timings) == set(STAGES)
    assert result.params["inversion"] == DEFAULT


def test_total_field_matches_the_true_field_up_to_a_constant(straight_head):
    head = straight_head
    result = reconstruct_head(head, "straight", DEFAULT, mask=head.brain_mask)
    difference = (result.total_field_ppm - head.total_field_ppm)[head.brain_mask]
    assert np.percentile(np.abs(difference - np.median(difference)), 99) < 0.01


def test_derived_mask_matches_the_brain(straight_head):
    head = straight_head
    progress = []
    result = reconstruct(head.magnitude, head.phase, head.te_s, head.b0_tesla, head.affine, inversion="tkd",
                         progress=lambda stage, fraction: progress.append((stage, fraction)))
    dice = 2 * (result.mask & head.brain_mask).sum() / (result.mask.sum() + head.brain_mask.sum())
    assert dice > 0.95
    assert [stage for stage, _ in progress] == [*STAGES, "done"]
    fractions = [fraction for _, fraction in progress]
    assert fractions == sorted(fractions) and fractions[0] == 0 and fractions[-1] == 1


def test_phantom_b0_direction_is_recovered_from_its_affine(tilted_head):
    assert np.allclose(b0_direction(tilted_head.affine), tilted_head.b0_dir)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"te_s": (0.01, 0.004, 0.016, 0.022, 0.028)}, "increasing"),
        ({"te_s": (0.004, 0.01)}, "echo times for"),
        ({"b0_tesla": 0}, "b0_tesla"),
        ({"inversion": "nope"}, "unknown inversion"),
    ],
)
def test_bad_arguments_raise_value_error_up_front(straight_head, change, message):
    head = straight_head
    arguments = dict(magnitude=head.magnitude, phase=head.phase, te_s=head.te_s, b0_tesla=head.b0_tesla,
                     affine=head.affine) | change
    with pytest.raises(ValueError, match=message):
        reconstruct(**arguments)
