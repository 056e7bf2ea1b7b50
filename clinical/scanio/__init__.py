"""Scan-ingest library: turn an uploaded multi-echo GRE scan into canonical, de-identified files.

Pure Python (numpy, nibabel, pydicom, stdlib); no Django.  Typical use::

    scan = read_upload(paths, workdir, limits=UploadLimits(), study_code="MND-0042",
                       expected_field_strength_t=3.0)
    files = write_canonical(scan, outdir)

See :mod:`clinical.scanio.deid` for what de-identification removes.
"""

from .canonical import write_canonical
from .errors import UploadError
from .ingest import read_upload
from .limits import UploadLimits
from .model import ScanData

__all__ = ["ScanData", "UploadError", "UploadLimits", "read_upload", "write_canonical"]
