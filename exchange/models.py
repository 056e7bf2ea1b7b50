"""BIDS transfers: an export or an import of a study, run by a worker as a job (exchange.tasks)."""
from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from clinical.models import Study


class Transfer(models.Model):
    """One BIDS export or import, from the request that asked for it to its zip or its outcome.

    An export writes MEDIA_ROOT/exports/<uid>.zip (kept BIDS_EXPORT_KEPT_FOR seconds); an import reads
    the uploaded zip from MEDIA_ROOT/.incoming/ and removes it when it is done. A worker claims the job
    (claim, heartbeat_at) like a reconstruction run, so a killed worker's job is taken over.
    """

    class Kind(models.TextChoices):
        EXPORT = "export"
        IMPORT = "import"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    FINISHED = (Status.SUCCEEDED, Status.FAILED)

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=6, choices=Kind.choices)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="transfers")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=40, blank=True)
    percent = models.FloatField(default=0)
    message = models.TextField(blank=True, help_text="The outcome in a sentence: the summary, or why it failed.")
    problems = models.JSONField(default=list, help_text="Why an import was refused, one line per problem.")
    selection = models.JSONField(default=dict, help_text="Export: the filters and patient codes chosen.")
    upload_name = models.CharField(max_length=255, blank=True, help_text="Import: the zip's name as uploaded.")
    upload_path = models.CharField(max_length=255, blank=True, help_text="Import: the zip, relative to MEDIA_ROOT.")
    result = models.JSONField(default=dict, help_text="Counts of what was exported or imported, and notes.")
    file_path = models.CharField(max_length=255, blank=True, help_text="Export: the zip, relative to MEDIA_ROOT.")
    file_name = models.CharField(max_length=255, blank=True, help_text="Export: the name to download it as.")
    attempts = models.PositiveSmallIntegerField(default=0)
    claim = models.UUIDField(null=True, editable=False)
    heartbeat_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"BIDS {self.kind} {self.uid} of {self.study} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("bids_transfer", args=[self.study_id, self.uid])

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def file(self) -> Path | None:
        """The export's zip when it is ready to download (None before, and once it expired)."""
        if self.status != self.Status.SUCCEEDED or not self.file_path:
            return None
        return Path(settings.MEDIA_ROOT) / self.file_path

    @property
    def upload(self) -> Path:
        return Path(settings.MEDIA_ROOT) / self.upload_path

    @property
    def elapsed_seconds(self) -> float | None:
        if not self.started_at:
            return None
        return ((self.finished_at or timezone.now()) - self.started_at).total_seconds()

    def describe(self) -> str:
        """What was asked for, in words: the selection of an export, the file of an import."""
        if self.kind == self.Kind.IMPORT:
            return self.upload_name
        from .export import Selection

        return Selection.from_dict(self.selection).describe()

    def state(self) -> str:
        """The status as people read it on the pages."""
        if self.status == self.Status.QUEUED:
            return "waiting for a worker"
        if self.status == self.Status.RUNNING:
            return f"{self.stage or 'starting'} ({self.percent:.0f} %)"
        if self.file is None and self.kind == self.Kind.EXPORT and self.status == self.Status.SUCCEEDED:
            return "expired: export again"
        return self.status

    def as_status(self) -> dict:
        """What the job page polls: the state, progress, outcome and, when ready, where to download."""
        return {
            "id": str(self.uid),
            "kind": self.kind,
            "status": self.status,
            "state": self.state(),
            "stage": self.stage,
            "percent": round(self.percent, 1),
            "message": self.message,
            "problems": self.problems,
            "result": self.result,
            "elapsed_seconds": round(self.elapsed_seconds, 1) if self.elapsed_seconds is not None else None,
            "download": reverse("bids_download", args=[self.study_id, self.uid]) if self.file else None,
            "file_name": self.file_name,
        }
