"""Uploads kept after a refused form, so that nothing has to be sent twice.

When only the typed fields were wrong (a missing or disagreeing date, say), the files stay under
MEDIA_ROOT/.incoming/held/<token>/ for a day and the form carries the token. The token is
unguessable and bound to the user and the patient: anyone else presenting it finds nothing.
"""
from __future__ import annotations

import json
import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone

from .models import Patient
from .scans import save_uploads
from .tus import take_uploads

KEPT_FOR = timedelta(days=1)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


def held_root() -> Path:
    return Path(settings.MEDIA_ROOT) / ".incoming" / "held"


@dataclass(frozen=True)
class HeldUpload:
    """The files of one submit, in ``folder/files``, with who may use them in ``folder/owner.json``."""

    token: str

    @property
    def folder(self) -> Path:
        return held_root() / self.token

    @property
    def paths(self) -> list[Path]:
        return sorted(p for p in (self.folder / "files").rglob("*") if p.is_file())

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.paths)

    @classmethod
    def receive(cls, uploads: list[UploadedFile], names: list[str] | None, user, patient: Patient) -> HeldUpload:
        """Write a submit's files to disk, owned by the user for the patient."""
        remove_expired()
        held = cls(secrets.token_urlsafe(32))
        save_uploads(uploads, held.folder / "files", names)
        held._own(user, patient)
        return held

    @classmethod
    def take(cls, tus_ids: list[str], user, patient: Patient) -> HeldUpload:
        """Take the user's finished resumable uploads (clinical.tus) for the patient; ValueError names a bad one."""
        remove_expired()
        held = cls(secrets.token_urlsafe(32))
        try:
            take_uploads(tus_ids, user, held.folder / "files", study=patient.study)
        except ValueError:
            held.discard()
            raise
        held._own(user, patient)
        return held

    @classmethod
    def adopt(cls, files: Path, user, patient: Patient) -> HeldUpload:
        """Keep a refused ingest's files (the folder ``files`` is moved), owned by the user for the patient."""
        remove_expired()
        held = cls(secrets.token_urlsafe(32))
        held.folder.mkdir(parents=True)
        files.rename(held.folder / "files")
        held._own(user, patient)
        return held

    def _own(self, user, patient: Patient) -> None:
        owner = {"user": user.pk, "patient": patient.pk, "received": timezone.now().isoformat()}
        (self.folder / "owner.json").write_text(json.dumps(owner), encoding="utf-8")

    @classmethod
    def find(cls, token: str, user, patient: Patient) -> HeldUpload | None:
        """The held files behind a token, if they are this user's for this patient and not expired."""
        if not _TOKEN.fullmatch(token or ""):
            return None
        held = cls(token)
        owner = held.owner()
        if owner is None or _expired(owner):
            held.discard()
            return None
        return held if (owner["user"], owner["patient"]) == (user.pk, patient.pk) else None

    def owner(self) -> dict | None:
        try:
            return json.loads((self.folder / "owner.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _expired(owner: dict) -> bool:
    try:
        received = datetime.fromisoformat(owner["received"])
    except (KeyError, TypeError, ValueError):
        return True
    return timezone.now() - received > KEPT_FOR


def remove_expired() -> int:
    """Delete held uploads older than a day (and leftovers without an owner); return how many."""
    removed = 0
    for folder in held_root().glob("*") if held_root().is_dir() else []:
        owner = HeldUpload(folder.name).owner()
        try:
            age_s = timezone.now().timestamp() - folder.stat().st_mtime
        except OSError:  # removed meanwhile by another request
            continue
        if owner is None and age_s < 3600:
            continue  # being written right now
        if owner is None or _expired(owner):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
