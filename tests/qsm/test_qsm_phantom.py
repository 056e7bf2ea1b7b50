"""The phantom's ground truth is what its documentation says."""

import numpy as np
import pytest

from qsm.phantom import ROI_LABELS, simulate_head


def world_x(head, mask):
    index = np.argwhere(mask)
    return (head.affine[:3, :3] @ index.T + head.affine[:3, 3:4])[0]


def test_rois_are_bilateral_cortex_with_the_chosen_extra_susceptibility(straight_head):
    head = straight_head
    assert all(head.rois[name].sum() > 100 for name in ROI_LABELS)
    assert (world_x(head, head.rois["LMC"]) < 0).all() and (world_x(head, head.rois["RMC"]) > 0).all()
    assert (world_x(head, head.rois["LCT"]) < 0).all() and (world_x(head, head.rois["RCT"]) > 0).all()
    extra = head.chi[head.rois["LMC"]].mean() - head.chi[head.rois["LCT"]].mean()
    assert extra == pytest.approx(0.05, abs=1e-6)
    assert all((head.rois[name] <= head.brain_mask).all() for name in ROI_LABELS)


def test_phantom_signal_and_fields_are_physical(straight_head):
    head = straight_head
    assert head.magnitude.shape == head.chi.shape + (5,) and head.phase.dtype == np.float32
    assert np.abs(head.phase).max() <= np.pi
    assert head.magnitude[..., -1][head.brain_mask].mean() < head.magnitude[..., 0][head.brain_mask].mean()
    # air and bone create a background field much larger than the local field
    assert np.ptp(head.total_field_ppm[head.brain_mask]) > 5 * np.ptp(head.local_field_ppm[head.brain_mask])


def test_side_specific_extra_and_validation():
    with pytest.raises(ValueError, match="field of view"):
        simulate_head(matrix=(64, 64, 64))
    with pytest.raises(ValueError, match="te_ms"):
        simulate_head(te_ms=(10, 4))
