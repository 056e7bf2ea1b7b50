"""BIDS zips are uploaded straight into MEDIA_ROOT/.incoming, where an import job takes them over by a rename.

Django's own temporary upload files go to the system's temporary folder, which may be another disk
(a copy of gigabytes, or no room at all) and is not what the sweep watches.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import wraps

from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, TemporaryFileUploadHandler
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from clinical.scans import incoming_dir


class IncomingUploadedFile(TemporaryUploadedFile):
    """An uploaded file written under MEDIA_ROOT/.incoming; removed when the request ends unless moved away."""

    def __init__(self, name: str, content_type: str, size: int, charset: str | None,
                 content_type_extra: dict | None = None) -> None:
        file = tempfile.NamedTemporaryFile(prefix="bids-upload-", suffix=".zip", dir=incoming_dir())
        UploadedFile.__init__(self, file, name, content_type, size, charset, content_type_extra)


class IncomingUploadHandler(TemporaryFileUploadHandler):
    def new_file(self, *args, **kwargs) -> None:
        FileUploadHandler.new_file(self, *args, **kwargs)
        self.file = IncomingUploadedFile(self.file_name, self.content_type, 0, self.charset, self.content_type_extra)


def streamed_to_incoming(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Stream this view's uploads to MEDIA_ROOT/.incoming.

    Upload handlers must be chosen before anything reads the body, and the CSRF middleware reads it:
    the view is exempt from the middleware, so a page view must check CSRF itself (csrf_protect);
    the API checks it in its session authentication.
    """
    @wraps(view)
    def streamed(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        request.upload_handlers = [IncomingUploadHandler(request)]
        return view(request, *args, **kwargs)

    return csrf_exempt(streamed)
