"""The acquisition date and time recorded by the scanner, from BIDS / dcm2niix sidecars.

DICOM keeps it as AcquisitionDateTime (0008,002A, type DT, e.g. ``20240315101530.25``) or as
AcquisitionDate (0008,0022) with AcquisitionTime (0008,0032); dcm2niix reads either (for enhanced
files from the frame content) and writes ``AcquisitionDateTime`` in ISO form
(``2024-03-15T10:15:30.250000``) when run without BIDS anonymisation (``-ba n``), so DICOM uploads
and NIfTI uploads are dated by the same function.  Sidecars written by hand may carry the DICOM
form instead.  Times are on the scanner's clock, so they are kept naive.
"""

from __future__ import annotations

import re
from datetime import datetime


def from_sidecar(sidecar: dict) -> datetime | None:
    """Acquisition date and time of a BIDS / dcm2niix sidecar, or None."""
    value = sidecar.get("AcquisitionDateTime")
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip()).replace(tzinfo=None)
        except ValueError:
            return _dicom_datetime(value)
    return None


def _dicom_datetime(text: str) -> datetime | None:
    """Parse DICOM DT text (YYYYMMDD[HHMMSS[.ffffff]], optional offset); None if absent or malformed."""
    match = re.fullmatch(r"(\d{8})(\d{2})?(\d{2})?(\d{2})?(\.\d{1,6})?([+-]\d{4})?", text.strip())
    if match is None:
        return None
    date, hour, minute, second, fraction, _ = match.groups()
    try:
        return datetime.strptime(date, "%Y%m%d").replace(
            hour=int(hour or 0), minute=int(minute or 0), second=int(second or 0),
            microsecond=int(float(fraction or 0) * 1_000_000),
        )
    except ValueError:
        return None
