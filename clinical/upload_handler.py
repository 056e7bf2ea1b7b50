"""Uploaded files are streamed to MEDIA_ROOT/.incoming/tmp/, not to the system's /tmp.

Raw uploads carry identifying DICOM headers. Keeping them under MEDIA_ROOT/.incoming, which the sweep
owns, means a web worker killed mid-upload leaves nothing outside it; and since .incoming is on the
same file system as the stored scans, receiving a file is a rename, not a copy.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler


def upload_temp_dir() -> Path:
    folder = Path(settings.MEDIA_ROOT) / ".incoming" / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class IncomingUploadedFile(TemporaryUploadedFile):
    def __init__(self, name, content_type, size, charset, content_type_extra=None) -> None:
        _, ext = os.path.splitext(name)
        file = tempfile.NamedTemporaryFile(suffix=".upload" + ext, dir=upload_temp_dir())
        super(TemporaryUploadedFile, self).__init__(file, name, content_type, size, charset, content_type_extra)


class IncomingFileUploadHandler(TemporaryFileUploadHandler):
    def new_file(self, *args, **kwargs) -> None:
        super(TemporaryFileUploadHandler, self).new_file(*args, **kwargs)
        self.file = IncomingUploadedFile(self.file_name, self.content_type, 0, self.charset, self.content_type_extra)
