"""Protocol checks that warn but accept (LORIS MRI-violations style).

These are study policy.  Whether an input is usable at all (phase scale, echo-time
units, field strength, grids) is decided by :mod:`qsm.inputs`, shared with the CLI.
"""

from __future__ import annotations

import numpy as np

MIN_ECHOES = 3
MAX_ECHO_SPACING_DEVIATION = 0.05
MAX_VOXEL_MM = 1.5
FIELD_STRENGTH_TOL_T = 0.1


def protocol_warnings(
    echo_times_s: list[float],
    voxel_size_mm: tuple[float, float, float],
    field_strength_t: float | None,
    expected_field_strength_t: float | None,
) -> list[str]:
    """List the protocol deviations of an otherwise acceptable scan.

    Parameters
    ----------
    echo_times_s : list of float
        Strictly increasing echo times.
    voxel_size_mm : tuple of float
        Voxel edge lengths.
    field_strength_t : float or None
        Field strength recorded by the scanner.
    expected_field_strength_t : float or None
        The study's field strength, if it has one.

    Returns
    -------
    list of str
        Human-readable warnings, empty when the scan follows the protocol.
    """
    warnings = []
    if len(echo_times_s) < MIN_ECHOES:
        warnings.append(f"only {len(echo_times_s)} echo(es); the protocol asks for at least {MIN_ECHOES}")
    spacing = np.diff(echo_times_s)
    if len(spacing) >= 2:
        deviation = float(np.max(np.abs(spacing - spacing.mean())) / spacing.mean())
        if deviation > MAX_ECHO_SPACING_DEVIATION:
            spacings_ms = ", ".join(f"{1000 * s:.3g}" for s in spacing)
            warnings.append(f"uneven echo spacing ({spacings_ms} ms, {100 * deviation:.0f}% from the mean)")
    if max(voxel_size_mm) > MAX_VOXEL_MM:
        sizes = "x".join(f"{v:.2f}" for v in voxel_size_mm)
        warnings.append(f"voxels of {sizes} mm are larger than {MAX_VOXEL_MM} mm")
    if field_strength_t is None:
        warnings.append("the scanner did not record the field strength (MagneticFieldStrength)")
    elif expected_field_strength_t is not None and abs(field_strength_t - expected_field_strength_t) > FIELD_STRENGTH_TOL_T:
        warnings.append(f"field strength {field_strength_t:g} T differs from the study's {expected_field_strength_t:g} T")
    return warnings
