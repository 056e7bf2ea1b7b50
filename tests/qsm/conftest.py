"""Shared phantoms for the QSM tests (simulated once per session)."""

import functools

import pytest

from qsm.phantom import simulate_head

TILT_DEG = 20.0


@functools.cache
def head(tilt_deg: float = 0.0):
    """The issue's test phantom: 1.5 mm, 3 T, 5 echoes 4-28 ms, peak SNR 100."""
    return simulate_head(
        voxel_size_mm=1.5,
        matrix=(112, 120, 112),
        b0_tesla=3.0,
        te_ms=(4, 10, 16, 22, 28),
        peak_snr=100,
        motor_extra_ppm=0.05,
        b0_tilt_deg=tilt_deg,
        seed=1,
    )


@pytest.fixture(scope="session")
def straight_head():
    return head(0.0)


@pytest.fixture(scope="session")
def tilted_head():
    return head(TILT_DEG)
