"""The input rules of QSM, in one place: phase scale, echo times, field strength, grid, output path.

The command line and loader (:mod:`qsm.io`), the web and API upload
(:mod:`clinical.scanio`) and the reconstruction jobs all call these
functions, so they accept and refuse the same inputs with the same message.
Every refusal is an :class:`InputError` whose one-line message names the
user's file, the value found and what to do.

Phase scale
-----------
Decided once per phase series (all echoes together) from its smallest and
largest value, whether every value is an integer, and the span (largest
minus smallest).  A wrapped phase image of a head fills almost the whole
circle (noise outside the head alone does), so the span says which scale
the circle was stored in.  Every accepted scale ends wrapped to [-pi, pi).
Beyond +-2 pi, files holding integers mixed with files holding fractions
are refused (one series, one scale).  Then, in order, first match wins:

1. Within [-pi, pi] (tolerance 1e-3): radians, kept bit for bit.
2. Within [-2 pi, 2 pi] and a span of at most 2 pi: radians wrapped to
   another interval (e.g. 0..2 pi).
3. Within [-2 pi, 2 pi] with a larger span: refused; wrapped radians never
   span more than 2 pi, so the values were mis-scaled (e.g. divided by
   2048 instead of 4096).
4. Within [-360, 360] with a span of at most 360: refused as degrees
   (-180..180 or 0..360).  A range test alone would read them as the Siemens
   scale, 23 times too small.
5. Not integers: refused (no scanner stores fractional phase units).
6. Integers in 0..4095 spanning at least 4000 (351 degrees): the unsigned
   12-bit scale (raw Siemens pixels before rescaling),
   ``value * 2 pi / 4096 - pi``; a narrower span is refused, since it could
   as well be milliradians or half of the signed scale.
7. Integers in -4096..4095 with some value beyond +-3143: the signed
   Siemens scale, pixels 0..4095 rescaled with RescaleSlope 2 and
   RescaleIntercept -4096 (as dcm2niix writes them), ``value * pi / 4096``.
8. Anything else is refused.  In particular integers within +-3142 with
   negative values fit milliradians (GE-style, ``radians * 1000``) as well as
   a signed Siemens image that never wraps; the two differ by 30 %, so
   they are not guessed.

Vendor conventions
------------------
When the scanner's manufacturer is known (DICOM Manufacturer, the sidecar's
``Manufacturer``), its declared scale replaces the guess, see
:func:`vendor_phase_scale`:

* GE stores phase as signed integers in milliradians, ``radians * 1000``,
  -3142..3141, with no rescale; magnitude and phase are told apart by the
  private image type (0043,102F), 0/1/2/3 = magnitude/phase/real/imaginary
  (dcm2niix GE notes [2]_).  GE phase within +-3143 is divided by 1000;
  within [-pi, pi] it was converted already and is kept; anything else is
  refused.
* Philips phase images carry RescaleSlope/RescaleIntercept (and the same
  real-world value mapping, units ``mrad``) that map the stored 0..4095 onto
  -3142..3142 milliradians; their display values are divided by 1000.
  dcm2niix's default "precise" scaling divides by RescaleSlope x the private
  scale slope (2005,100E) instead, which gives radians: within [-pi, pi]
  they are kept (dcm2niix Philips notes [3]_).
* Siemens (classic and XA enhanced) needs no declaration: rules 6 and 7 read
  its signed and unsigned scales.

Echo times
----------
In ms after unit handling, each within 0.5-100 ms, strictly increasing.
BIDS sidecar ``EchoTime`` is in seconds [1]_, DICOM EchoTime (0018,0081) and
``--te-ms`` in ms; a value in the wrong unit lands far outside the window
(0.004 given as ms, 4.0 given as s) and is refused rather than converted,
because a wrong guess would scale chi by 1000.

Field strength
--------------
0.1-12 T: from low-field systems to the 11.7 T Iseult magnet; QSM below
0.1 T is not realistic.  Values of 100 and above look like millitesla or
gauss (old headers) and are refused with the conversion to tesla, not
converted, since 3000 could be either.

Geometry
--------
Affines map voxel indices to RAS+ world mm (NIfTI convention).  The
scanner's B0 points along world +z; :func:`b0_direction` maps it into the
orthonormal frame of the voxel axes.  Two images are on one grid when their
shapes match and their affines differ by at most 1e-3 mm.

References
----------
.. [1] Gorgolewski KJ, et al. The brain imaging data structure (BIDS). Sci
   Data 2016;3:160044 (sidecar fields EchoTime in s, MagneticFieldStrength in T).
.. [2] Li X, Morgan PS, Ashburner J, Smith J, Rorden C. The first step for
   neuroimaging data analysis: DICOM to NIfTI conversion. J Neurosci Methods
   2016;264:47-56; dcm2niix Siemens notes,
   https://github.com/rordenlab/dcm2niix/tree/master/Siemens (phase stored
   0..4095, RescaleSlope 2, RescaleIntercept -4096); GE notes,
   https://github.com/rordenlab/dcm2niix/tree/master/GE (complex image
   component in (0043,102F)).
.. [3] dcm2niix Philips notes, https://github.com/rordenlab/dcm2niix/tree/master/Philips
   ("Image scaling": display, precise and real-world values; issue #463 for
   phase with RescaleType mrad).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RADIAN_TOL = 1e-3
INTEGER_TOL = 1e-3
SIEMENS_MIN, SIEMENS_MAX = -4096, 4095
UNSIGNED_MIN_SPAN = 4000
#: round(1000 pi) plus one unit: milliradian phase never goes beyond this.
MILLIRADIAN_LIMIT = 3143
TE_MIN_MS, TE_MAX_MS = 0.5, 100.0
B0_MIN_T, B0_MAX_T = 0.1, 12.0
GRID_ATOL_MM = 1e-3
OUTPUT_SUFFIXES = (".nii", ".nii.gz")


class InputError(ValueError):
    """Unusable input, reported as ``"<file>: <problem>; <remedy>."`` on one line.

    Parameters
    ----------
    name : str
        The offending file (or argument) as the user knows it.
    problem : str
        What is wrong, with the value found.
    remedy : str
        What to do instead.
    """

    def __init__(self, name: str, problem: str, remedy: str) -> None:
        self.name, self.problem, self.remedy = str(name), problem, remedy
        super().__init__(f"{name}: {problem}; {remedy}.")

    def __reduce__(self):
        # Celery pickles task exceptions; rebuild from the three parts, not the message.
        return type(self), (self.name, self.problem, self.remedy)


# --- phase ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhaseScale:
    """How stored phase values become radians: ``value * factor + offset``, then wrapped."""

    name: str
    factor: float = 1.0
    offset: float = 0.0


RADIANS = PhaseScale("radians")
SIEMENS = PhaseScale("siemens", np.pi / 4096)
UNSIGNED_12BIT = PhaseScale("unsigned12", 2 * np.pi / 4096, -np.pi)
MILLIRADIANS = PhaseScale("milliradians", 1e-3)
_PHASE_REMEDY = "export phase in radians (-pi..pi) or the scanner's integer scale (-4096..4095)"


@dataclass(frozen=True)
class PhaseRange:
    """What the scale decision needs of one phase array: its file, extreme values and integer-ness."""

    name: str
    low: float
    high: float
    integral: bool

    @classmethod
    def of(cls, name: str, array: np.ndarray) -> PhaseRange:
        """Summarise ``array``, read from file ``name``."""
        return cls(str(name), float(array.min()), float(array.max()), _is_integral(array))


def phase_to_radians(parts: Sequence[tuple[str, np.ndarray]], manufacturer: str | None = None) -> str:
    """Convert one phase series to radians in [-pi, pi), in place.

    Parameters
    ----------
    parts : sequence of (str, ndarray)
        The series' float32 arrays (one per file, echo or slice) with the
        name of the file each came from; they are overwritten.
    manufacturer : str, optional
        The scanner's manufacturer as its headers give it; a vendor with a
        declared phase scale (:func:`vendor_phase_scale`) is read by it.

    Returns
    -------
    str
        The scale found: ``"radians"``, ``"siemens"`` or ``"unsigned12"``.

    Raises
    ------
    InputError
        When integer and non-integer files are mixed, or naming the file
        holding the most extreme value when the series matches no known
        scale (rules in the module docstring).
    """
    scale = series_phase_scale([PhaseRange.of(name, array) for name, array in parts], manufacturer)
    for _, array in parts:
        apply_phase_scale(array, scale)
    return scale.name


def series_phase_scale(ranges: Sequence[PhaseRange], manufacturer: str | None = None) -> PhaseScale:
    """Decide the scale of a phase series from the summaries of its arrays (one per file, echo or slice).

    Lets a caller that holds one echo at a time summarise each, decide once, then convert each
    with :func:`apply_phase_scale`; :func:`phase_to_radians` does both for arrays held together.

    Raises
    ------
    InputError
        As :func:`phase_to_radians`.
    """
    low, high = min(r.low for r in ranges), max(r.high for r in ranges)
    integral = [r.integral for r in ranges]
    # Integer-ness tells scales apart only beyond 2 pi (a radian echo may be all zeros).
    if any(integral) and not all(integral) and max(-low, high) > 2 * np.pi + RADIAN_TOL:
        fractional, whole = ranges[integral.index(False)].name, ranges[integral.index(True)].name
        raise InputError(fractional, f"phase in non-integer steps while {whole} holds integers",
                         "give every echo of the phase in one scale")
    extreme = low if abs(low) >= abs(high) else high
    owner = next(r.name for r in ranges if extreme in (r.low, r.high))
    declared = vendor_phase_scale(manufacturer)
    if declared is None:
        return phase_scale(low, high, all(integral), owner)
    return declared_phase_scale(declared, low, high, owner, manufacturer)


def apply_phase_scale(array: np.ndarray, scale: PhaseScale) -> None:
    """Convert float32 stored phase to radians in [-pi, pi) in place by ``scale``."""
    if scale.factor != 1.0:
        array *= np.float32(scale.factor)
    if scale.offset:
        array += np.float32(scale.offset)
    wrap_phase(array)


def phase_scale(low: float, high: float, integral: bool, name: str) -> PhaseScale:
    """The scale of a phase series from its value range (rules in the module docstring).

    Parameters
    ----------
    low, high : float
        Smallest and largest value of the whole series.
    integral : bool
        Whether every value is an integer.
    name : str
        File named in the error.

    Returns
    -------
    PhaseScale

    Raises
    ------
    InputError
        When the values match no known scale.
    """
    span = high - low
    values = f"phase spans {low:.6g}..{high:.6g}"
    if -np.pi - RADIAN_TOL <= low and high <= np.pi + RADIAN_TOL:
        return RADIANS
    if -2 * np.pi - RADIAN_TOL <= low and high <= 2 * np.pi + RADIAN_TOL:
        if span <= 2 * np.pi + RADIAN_TOL:
            return RADIANS
        raise InputError(name, f"{values}, more than the 2 pi of wrapped radians, so it is mis-scaled", _PHASE_REMEDY)
    if -360 <= low and high <= 360 and span <= 360 + RADIAN_TOL:
        raise InputError(name, f"{values}, which looks like degrees", _PHASE_REMEDY)
    if not integral:
        raise InputError(name, f"{values} in non-integer steps, neither radians nor a scanner's integer scale",
                         _PHASE_REMEDY)
    if 0 <= low and high <= 4095:
        if span >= UNSIGNED_MIN_SPAN:
            return UNSIGNED_12BIT
        raise InputError(name, f"{values} in integers, too narrow a span for the unsigned 12-bit scale (0..4095)",
                         "convert the phase to radians (-pi..pi) before loading it")
    if SIEMENS_MIN <= low < 0 and high <= SIEMENS_MAX and max(-low, high) > MILLIRADIAN_LIMIT:
        return SIEMENS
    if -MILLIRADIAN_LIMIT <= low and high <= MILLIRADIAN_LIMIT:
        raise InputError(name, f"{values} in integers, which fits milliradians as well as an unwrapped scanner scale",
                         "convert the phase to radians (-pi..pi) before loading it")
    raise InputError(name, f"{values} in integers, outside the scanner scales -4096..4095 and 0..4095",
                     _PHASE_REMEDY)


def vendor_phase_scale(manufacturer: str | None) -> PhaseScale | None:
    """The phase scale a manufacturer's export declares, or None to judge by the values.

    Parameters
    ----------
    manufacturer : str or None
        DICOM Manufacturer (0008,0070) or the sidecar's ``Manufacturer``
        (dcm2niix shortens it, e.g. ``GE``).

    Returns
    -------
    PhaseScale or None
        :data:`MILLIRADIANS` for GE and Philips; None otherwise (module docstring).
    """
    name = (manufacturer or "").strip().upper()
    ge = name == "GE" or name.startswith(("GE ", "GE_", "GEMS"))
    return MILLIRADIANS if ge or name.startswith("PHILIPS") else None


def declared_phase_scale(declared: PhaseScale, low: float, high: float, name: str, manufacturer: str) -> PhaseScale:
    """Check a series against its vendor's declared scale; phase already in radians is kept.

    Raises
    ------
    InputError
        When the values exceed the declared scale.
    """
    if -np.pi - RADIAN_TOL <= low and high <= np.pi + RADIAN_TOL:
        return RADIANS
    if -MILLIRADIAN_LIMIT <= low and high <= MILLIRADIAN_LIMIT:
        return declared
    raise InputError(name, f"phase spans {low:.6g}..{high:.6g}, beyond the -3142..3142 milliradians in which "
                     f"{manufacturer} stores phase", "upload the phase series as the scanner exported it, "
                     "or convert it to radians (-pi..pi)")


def wrap_phase(phase: np.ndarray) -> None:
    """Wrap float32 phase into [-pi, pi) in place; values already there keep their exact bits."""
    pi, two_pi = np.float32(np.pi), np.float32(2 * np.pi)
    outside = (phase < -pi) | (phase >= pi)
    if not outside.any():
        return
    wrapped = np.mod(phase[outside] + pi, two_pi) - pi
    wrapped[wrapped >= pi] -= two_pi
    phase[outside] = wrapped


def _is_integral(array: np.ndarray) -> bool:
    return bool(np.all(np.abs(array - np.round(array)) <= INTEGER_TOL))


# --- echo times and field strength -------------------------------------------------------------


def echo_times_s(values: Sequence[float], unit: str, owners: Sequence[str], source: str) -> tuple[float, ...]:
    """Echo times in seconds, checked: each within 0.5-100 ms, strictly increasing.

    Parameters
    ----------
    values : sequence of float
        The echo times as given.
    unit : {"s", "ms"}
        Their unit: ``"s"`` for BIDS sidecars, ``"ms"`` for DICOM and ``--te-ms``.
    owners : sequence of str
        The file each value came from (one name repeats for a list).
    source : str
        Where the values were read, e.g. ``"EchoTime"`` or ``"--te-ms"``.

    Returns
    -------
    tuple of float

    Raises
    ------
    InputError
        Naming the owner of the first value out of range or out of order.
    """
    to_ms = 1000.0 if unit == "s" else 1.0
    for value, owner in zip(values, owners):
        milliseconds = float(value) * to_ms
        if not TE_MIN_MS <= milliseconds <= TE_MAX_MS:
            raise InputError(owner, _echo_time_problem(float(value), unit, source), _echo_time_remedy(unit, source))
    for previous, current, owner in zip(values, values[1:], owners[1:]):
        if current <= previous:
            raise InputError(
                owner,
                f"echo time {float(current) * to_ms:g} ms does not follow the previous echo's "
                f"{float(previous) * to_ms:g} ms ({source})",
                "echo times must be strictly increasing; give the echoes in echo order, each once",
            )
    return tuple(float(v) * to_ms / 1000.0 for v in values)


def _echo_time_problem(value: float, unit: str, source: str) -> str:
    if unit == "s":
        return f"{source} {value:g} s is {value * 1000:g} ms, outside {TE_MIN_MS:g}-{TE_MAX_MS:g} ms"
    return f"{source} {value:g} ms is outside {TE_MIN_MS:g}-{TE_MAX_MS:g} ms"


def _echo_time_remedy(unit: str, source: str) -> str:
    if unit == "s":
        return "BIDS EchoTime is in seconds (0.004 for 4 ms); fix the sidecar"
    if source.startswith("--"):
        return f"give {source} in milliseconds (e.g. 4,10,16), not seconds"
    return f"{source} must be in milliseconds; export the original scanner images"


def field_strength_t(value: float, name: str, source: str) -> float:
    """Field strength in tesla, checked to be within 0.1-12 T.

    Parameters
    ----------
    value : float
        As given.
    name : str
        File (or argument) named in the error.
    source : str
        Where it was read, e.g. ``"MagneticFieldStrength"`` or ``"--b0-tesla"``.

    Returns
    -------
    float

    Raises
    ------
    InputError
        Outside 0.1-12 T, saying how to convert millitesla or gauss.
    """
    value = float(value)
    if B0_MIN_T <= value <= B0_MAX_T:
        return value
    problem = f"{source} {value:g} is outside {B0_MIN_T:g}-{B0_MAX_T:g} T"
    if 100 <= value <= 10000 * B0_MAX_T:
        problem += ", which looks like millitesla or gauss"
    raise InputError(name, problem, "give the field strength in tesla (3000 mT and 30000 G are 3 T)")


# --- geometry ------------------------------------------------------------------------------------


def voxel_sizes(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel edge lengths (mm): the column norms of the affine's linear part.

    Raises
    ------
    ValueError
        When a voxel axis has zero length.
    """
    sizes = np.linalg.norm(np.asarray(affine, dtype=float)[:3, :3], axis=0)
    if np.any(sizes <= 0):
        raise ValueError("the affine has a zero-length voxel axis")
    return tuple(float(s) for s in sizes)


def b0_direction(affine: np.ndarray, b0_world: Sequence[float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """Unit B0 vector in the orthonormal voxel-axis frame.

    Parameters
    ----------
    affine : ndarray
        4x4 voxel-to-RAS-mm affine.
    b0_world : sequence of float
        B0 in world (RAS) coordinates; scanner +z (superior) by default.

    Returns
    -------
    ndarray
        ``R^-1 b0_world`` normalised, with ``R`` the affine's linear part with
        voxel sizes divided out (an orthogonal matrix for unsheared affines).
        A slab tilted by +t about Right-Left gives ``(0, sin t, cos t)``.
    """
    rotation = np.asarray(affine, dtype=float)[:3, :3] / np.array(voxel_sizes(affine))
    direction = np.linalg.solve(rotation, np.asarray(b0_world, dtype=float))
    return direction / np.linalg.norm(direction)


def same_grid(shape: Sequence[int], affine: np.ndarray, ref_shape: Sequence[int], ref_affine: np.ndarray) -> bool:
    """Whether two images share spatial shape and affine (within 1e-3 mm)."""
    return tuple(shape)[:3] == tuple(ref_shape)[:3] and _affine_difference(affine, ref_affine) <= GRID_ATOL_MM


def check_same_grid(shape: Sequence[int], affine: np.ndarray, ref_shape: Sequence[int], ref_affine: np.ndarray,
                    name: str, ref_name: str) -> None:
    """Refuse an image that is not on the reference grid, naming a flip when that is the cause.

    Parameters
    ----------
    shape, affine : sequence of int, ndarray
        The image's shape (first three axes used) and 4x4 affine.
    ref_shape, ref_affine : sequence of int, ndarray
        The reference grid.
    name, ref_name : str
        The image's file and the reference as the user knows them.

    Raises
    ------
    InputError
        On a different shape, a flipped axis or another affine.
    """
    shape, ref_shape = tuple(shape)[:3], tuple(ref_shape)[:3]
    remedy = f"give it on the grid of {ref_name} (same series, or resampled onto it)"
    if shape != ref_shape:
        raise InputError(name, f"grid {_dims(shape)} differs from {ref_name} ({_dims(ref_shape)})", remedy)
    difference = _affine_difference(affine, ref_affine)
    if difference <= GRID_ATOL_MM:
        return
    affine, ref_affine = np.asarray(affine, dtype=float), np.asarray(ref_affine, dtype=float)
    flipped = [axis for axis in range(3) if np.allclose(affine[:3, axis], -ref_affine[:3, axis], atol=GRID_ATOL_MM)]
    if flipped:
        axes = ", ".join("ijk"[a] for a in flipped)
        raise InputError(name, f"flipped along voxel axis {axes} relative to {ref_name}",
                         f"export it without reorienting (same orientation as {ref_name})")
    raise InputError(name, f"affine (position/orientation) differs from {ref_name} by up to {difference:.3g} mm",
                     remedy)


def _affine_difference(affine: np.ndarray, ref_affine: np.ndarray) -> float:
    return float(np.abs(np.asarray(affine, dtype=float) - np.asarray(ref_affine, dtype=float)).max())


def _dims(shape: Sequence[int]) -> str:
    return "x".join(str(int(n)) for n in shape)


# --- output ------------------------------------------------------------------------------------


def check_output_path(path: str | Path) -> Path:
    """Refuse an output path that cannot be written, before any work is done.

    Parameters
    ----------
    path : str or Path
        The chi NIfTI to write.

    Returns
    -------
    Path

    Raises
    ------
    InputError
        Unless it ends with .nii or .nii.gz and its folder exists and is writable.
    """
    path = Path(path)
    folder = path.parent
    if not path.name.endswith(OUTPUT_SUFFIXES):
        raise InputError(path, "the output must end with .nii or .nii.gz", "rename the output")
    if not folder.is_dir():
        raise InputError(path, f"the output folder {folder} does not exist", "create it or choose another output path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(path, f"the output folder {folder} is not writable", "choose a folder you can write to")
    return path
