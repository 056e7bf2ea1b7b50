"""Resumable uploads with the tus protocol (https://tus.io/protocols/resumable-upload, v1.0.0).

A multi-GB exam sent over a hospital link in one POST is lost to any dropped connection. With tus
each file is created first (``POST`` with ``Upload-Length``), then sent in chunks (``PATCH`` at the
``Upload-Offset`` the server holds); after a drop, ``HEAD`` tells how much arrived and the client goes
on from there. Extensions: creation and termination (``DELETE``).

Each upload lives in ``MEDIA_ROOT/.incoming/tus/<id>/``: ``data`` (the bytes received, appended in
place, read from the request in blocks, never whole in memory) and ``info.json`` (owner, study, file
name, length). Its offset is the size of ``data``: what is on disk, whatever the client believes.
Uploads belong to the user who created them, for a study they coordinate; anyone else finds nothing
(404). The upload page and the API hand the finished ids to :func:`take_uploads`;
:func:`remove_abandoned` clears what was never finished or never used.

Authentication is the API's (REST_FRAMEWORK's authentication classes: a token, or the session with
its CSRF token), so that the same endpoint serves the page's JavaScript and API clients.
"""
from __future__ import annotations

import base64
import binascii
import fcntl
import functools
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.settings import api_settings

from .models import Membership, Study
from .scanio.errors import describe_files
from .scans import incoming_dir, save_uploads, too_large_message

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,termination"
#: A PATCH body is copied to disk this much at a time (Django's own upload chunk).
READ_BLOCK = 64 * 1024
_ID = re.compile(r"[0-9a-f]{32}")
_DIGITS = re.compile(r"[0-9]{1,18}")  # ids and byte counts (str.isdigit() also takes '²')
_COMMON = {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store"}


def tus_root() -> Path:
    folder = incoming_dir() / "tus"
    folder.mkdir(exist_ok=True)
    return folder


class Refused(Exception):
    """A request the protocol or the rules do not allow: answered with ``status`` and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TusUpload:
    """One file being uploaded: ``folder/data`` holds the bytes received, ``folder/info.json`` the rest."""

    id: str
    info: dict

    @property
    def folder(self) -> Path:
        return tus_root() / self.id

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def filename(self) -> str:
        return self.info["filename"]

    @property
    def length(self) -> int:
        return self.info["length"]

    @property
    def offset(self) -> int:
        """The bytes actually stored (a dropped PATCH keeps what had arrived)."""
        try:
            return self.data.stat().st_size
        except FileNotFoundError:
            return 0

    @property
    def complete(self) -> bool:
        return self.offset == self.length

    @classmethod
    def create(cls, user, study: Study, filename: str, length: int) -> TusUpload:
        upload = cls(secrets.token_hex(16), {"user": user.pk, "study": study.pk, "filename": filename,
                                             "length": length, "created": timezone.now().isoformat()})
        upload.folder.mkdir()
        upload.data.touch()
        # info.json last: a folder without it is a creation cut short (remove_abandoned clears it).
        (upload.folder / "info.json").write_text(json.dumps(upload.info), encoding="utf-8")
        return upload

    @classmethod
    def load(cls, upload_id: str) -> TusUpload | None:
        if not isinstance(upload_id, str) or not _ID.fullmatch(upload_id):
            return None
        try:
            info = json.loads((tus_root() / upload_id / "info.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return cls(upload_id, info)

    @classmethod
    def owned(cls, upload_id: str, user) -> TusUpload | None:
        """The upload if ``user`` created it; None for unknown and other people's ids alike."""
        upload = cls.load(upload_id)
        return upload if upload is not None and upload.info.get("user") == user.pk else None

    def append(self, offset: int, read: Callable[[int], bytes], size: int) -> int:
        """Append ``size`` bytes from ``read`` at ``offset``; return the new offset.

        Whatever arrives before the body is cut short stays: the client resumes from there. One
        PATCH at a time per upload (a retry while the dropped one is still being read gets 423).
        """
        if offset + size > self.length:
            raise Refused(400, f"The chunk ends at byte {offset + size} of {self.filename}, past its "
                               f"Upload-Length of {self.length}; send at most {self.length - offset} bytes.")
        try:
            out = self.data.open("r+b")  # never created here: a taken or deleted upload stays gone
        except FileNotFoundError:
            raise Refused(404, f"{self.filename} was deleted or used meanwhile.")
        with out:
            out.seek(0, os.SEEK_END)
            try:
                fcntl.flock(out, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Refused(423, f"Another PATCH of {self.filename} is still being received; retry shortly.")
            stored = os.fstat(out.fileno()).st_size
            if offset != stored:
                raise Refused(409, f"Upload-Offset {offset} does not match the {stored} bytes of {self.filename} "
                                   "stored; ask with HEAD and continue from there.")
            remaining = size
            while remaining:
                try:
                    block = read(min(READ_BLOCK, remaining))
                except OSError:  # the client went away: keep what arrived
                    break
                if not block:
                    break
                out.write(block)
                out.flush()  # on disk at once: a HEAD during a stalled PATCH sees it
                remaining -= len(block)
            written = size - remaining
        return offset + written

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def tus_id_list(text: str) -> list:
    """The ``tus_uploads`` field (a JSON list of upload ids) as a list; ValueError says what is wrong."""
    try:
        ids = json.loads(text)
    except ValueError:
        raise ValueError(f"tus_uploads must be a JSON list of upload ids, not {text[:80]!r}; "
                         "choose the files again.") from None
    return ids


def take_uploads(ids: list[str], user, folder: Path, *, study: Study | None = None) -> list[Path]:
    """Move the finished uploads ``ids`` of ``user`` into ``folder`` under their file names; return the paths.

    Names are the clients' (relative paths inside a chosen folder), sanitised like the page's
    uploads; repeated names go into 2/, 3/, ... Every id is checked before anything is moved: an
    unknown, expired, foreign or unfinished upload (or one made for another ``study``, when given)
    raises ValueError naming it, and nothing is taken.
    """
    if not isinstance(ids, list) or not all(isinstance(upload_id, str) for upload_id in ids):
        raise ValueError(f"tus_uploads must be a list of upload ids (text), not {str(ids)[:80]!r}; "
                         "choose the files again.")
    if len(set(ids)) != len(ids):
        raise ValueError("The list of uploads names the same upload twice; choose the files again.")
    uploads = []
    for upload_id in ids:
        upload = TusUpload.owned(upload_id, user)
        if upload is None or (study is not None and upload.info.get("study") != study.pk):
            raise ValueError(f"Upload {upload_id[:40]!r} is unknown or has expired (unfinished uploads are "
                             "removed after a day); choose the file again.")
        if not upload.complete:
            raise ValueError(f"{upload.filename} has not finished uploading ({upload.offset} of {upload.length} "
                             "bytes arrived); wait for its upload to finish, or choose it again.")
        uploads.append(upload)
    total = sum(upload.length for upload in uploads)
    if total > settings.SCAN_UPLOAD_MAX_BYTES:
        raise ValueError(f"{describe_files([u.filename for u in uploads])} come to {filesizeformat(total)}. "
                         f"{too_large_message()}")
    try:
        paths = save_uploads([upload.data for upload in uploads], folder, [upload.filename for upload in uploads])
    except FileNotFoundError as exc:
        raise ValueError(f"{Path(exc.filename or '').parent.name or 'An upload'} was taken by another submit "
                         "meanwhile; choose the files again.") from exc
    for upload in uploads:
        upload.discard()
    return paths


def remove_abandoned(older_than_s: float) -> int:
    """Delete uploads (finished or not) untouched for ``older_than_s`` seconds; return how many."""
    root = Path(settings.MEDIA_ROOT) / ".incoming" / "tus"
    removed = 0
    for folder in root.iterdir() if root.is_dir() else []:
        try:
            touched = max(entry.stat().st_mtime for entry in [folder, *folder.iterdir()])
        except FileNotFoundError:  # taken or removed meanwhile
            continue
        if time.time() - touched >= older_than_s:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


# Views -------------------------------------------------------------------------------------------


def _answer(status: int, message: str = "", headers: dict | None = None) -> HttpResponse:
    response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    for name, value in (_COMMON | (headers or {})).items():
        response[name] = str(value)
    return response


def _authenticated_user(request: HttpRequest):
    """The user of a token or of the session (whose unsafe requests need the CSRF token), as in the API."""
    authenticated = Request(request, authenticators=[cls() for cls in api_settings.DEFAULT_AUTHENTICATION_CLASSES])
    try:
        user = authenticated.user
    except APIException as exc:
        raise Refused(exc.status_code, str(exc.detail))
    if not user.is_authenticated:
        raise Refused(401, "Log in, or send your API token (Authorization: Token <key>; see /api/token).")
    return user


def _metadata(header: str) -> dict[str, str]:
    """Upload-Metadata: comma-separated ``key base64(value)`` pairs."""
    found = {}
    for pair in filter(None, (part.strip() for part in header.split(","))):
        key, _, value = pair.partition(" ")
        try:
            found[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Refused(400, f"Upload-Metadata {key!r} is not base64 of UTF-8 text.")
    return found


def _number(request: HttpRequest, header: str) -> int:
    value = request.headers.get(header, "")
    if not _DIGITS.fullmatch(value):
        raise Refused(400, f"{header} must be a whole number of bytes, not {value!r}.")
    return int(value)


def _study_to_upload_to(user, study_id: str) -> Study:
    membership = Membership.objects.select_related("study").filter(
        user=user, study_id=int(study_id) if _DIGITS.fullmatch(study_id) else -1).first()
    if membership is None:
        raise Refused(404, f"No study {study_id!r} of yours: Upload-Metadata must carry the id of your study "
                           "as 'study'.")
    if not membership.can_edit:
        raise Refused(403, "Only the study's coordinators can upload scans.")
    return membership.study


def _create(request: HttpRequest, user) -> HttpResponse:
    if "Upload-Defer-Length" in request.headers or "Upload-Length" not in request.headers:
        raise Refused(400, "Send Upload-Length, the size of the file in bytes (deferred lengths are not supported).")
    length = _number(request, "Upload-Length")
    metadata = _metadata(request.headers.get("Upload-Metadata", ""))
    filename = metadata.get("filename", "")[:1000]
    if not filename or any(ord(character) < 32 for character in filename):
        raise Refused(400, f"Upload-Metadata must carry the file's name as 'filename', without control "
                           f"characters, not {filename!r}.")
    study = _study_to_upload_to(user, metadata.get("study", ""))
    # The client may declare its exam's total (all the files chosen together): refused at the first file.
    exam_bytes = metadata.get("exam_bytes", "")
    if length > settings.SCAN_UPLOAD_MAX_BYTES:
        raise Refused(413, f"{filename} is {filesizeformat(length)}. {too_large_message()}")
    if _DIGITS.fullmatch(exam_bytes) and int(exam_bytes) > settings.SCAN_UPLOAD_MAX_BYTES:
        raise Refused(413, f"The files chosen with {filename} come to {filesizeformat(int(exam_bytes))}. "
                           f"{too_large_message()}")
    upload = TusUpload.create(user, study, filename, length)
    return _answer(201, headers={"Location": reverse("tus_upload", args=[upload.id]), "Upload-Offset": 0})


def _patch(request: HttpRequest, upload: TusUpload) -> HttpResponse:
    if request.content_type != "application/offset+octet-stream":
        raise Refused(415, "Send the chunk with Content-Type: application/offset+octet-stream.")
    if "Content-Length" not in request.headers:
        # Django reads no further than Content-Length: a chunked body would be lost.
        raise Refused(411, "Send the chunk with a Content-Length header.")
    offset = upload.append(_number(request, "Upload-Offset"), request.read, _number(request, "Content-Length"))
    return _answer(204, headers={"Upload-Offset": offset})


def _options() -> HttpResponse:
    return _answer(204, headers={"Tus-Version": TUS_VERSION, "Tus-Extension": EXTENSIONS,
                                 "Tus-Max-Size": settings.SCAN_UPLOAD_MAX_BYTES})


def _tus_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Authentication (401 rather than the login page), the protocol version, refusals as answers.

    CSRF is checked for session users by the authentication itself; a token needs none. The
    request runs outside a transaction: a chunk takes as long as the link needs, holding nothing.
    """
    @functools.wraps(view)
    def wrapped(request: HttpRequest, **kwargs) -> HttpResponse:
        try:
            user = _authenticated_user(request)
            if request.method == "OPTIONS":
                return _options()
            if request.headers.get("Tus-Resumable") != TUS_VERSION:
                return _answer(412, f"Send Tus-Resumable: {TUS_VERSION}.", {"Tus-Version": TUS_VERSION})
            return view(request, user, **kwargs)
        except Refused as refused:
            challenge = {"WWW-Authenticate": "Token"} if refused.status == 401 else {}
            return _answer(refused.status, str(refused), challenge)

    return login_not_required(csrf_exempt(transaction.non_atomic_requests(wrapped)))


@_tus_view
def uploads(request: HttpRequest, user) -> HttpResponse:
    """The creation endpoint: POST a new upload (Upload-Length, Upload-Metadata with filename and study)."""
    if request.method != "POST":
        return _answer(405, "POST to create an upload.", {"Allow": "POST, OPTIONS"})
    return _create(request, user)


@_tus_view
def upload(request: HttpRequest, user, upload_id: str) -> HttpResponse:
    """One upload: HEAD its offset, PATCH the next chunk, DELETE it."""
    found = TusUpload.owned(upload_id, user)
    if found is None:
        return _answer(404, "No such upload of yours (unfinished uploads are removed after a day).")
    if request.method == "HEAD":
        return _answer(200, headers={"Upload-Offset": found.offset, "Upload-Length": found.length})
    if request.method == "PATCH":
        return _patch(request, found)
    if request.method == "DELETE":
        found.discard()
        return _answer(204)
    return _answer(405, "HEAD, PATCH or DELETE an upload.", {"Allow": "HEAD, PATCH, DELETE, OPTIONS"})
