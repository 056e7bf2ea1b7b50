"""Reconstruction runs: one per scan and parameter set, versioned, with one current run per scan."""
from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone

from clinical.models import ScanSession

INVERSIONS = {"tv": "TV (default; single-step with the dipole fit)", "iswim": "iSWIM (Tang 2013, the seed study's)", "tkd": "TKD"}
BACKGROUNDS = {"fit": "Dipole fit (default)", "vsharp": "V-SHARP", "pdf": "PDF"}
MASK_SOURCES = {"magnitude": "from the magnitude (automatic)"}
REFERENCES = {"brain": "whole-brain mean"}


class ReconRunQuerySet(models.QuerySet):
    def succeeded(self) -> "ReconRunQuerySet":
        """The runs with outputs: the only ones that can be current, measured or downloaded."""
        return self.filter(status=ReconRun.Status.SUCCEEDED)

    def current(self) -> "ReconRunQuerySet":
        """The run of each scan that its ROI values and the analysis use."""
        return self.succeeded().filter(is_current=True)


class ReconRun(models.Model):
    """A QSM reconstruction of one scan with one parameter set.

    Outputs live under MEDIA_ROOT/recon/<study>/<uid>/ and are moved there whole
    when the run succeeds: chi.nii.gz (ppm), chi.json (provenance), mask.nii.gz,
    total_field.nii.gz, local_field.nii.gz (ppm), preview.png.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    scan = models.ForeignKey(ScanSession, on_delete=models.CASCADE, related_name="recon_runs")
    params = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=20, blank=True)
    percent = models.FloatField(default=0)
    error = models.TextField(blank=True)
    is_current = models.BooleanField(default=False)
    package_version = models.CharField(max_length=20, blank=True)
    input_sha256 = models.JSONField(default=dict)
    outputs = models.JSONField(default=dict)
    timings = models.JSONField(default=dict)
    display_limit_ppm = models.FloatField(
        null=True, editable=False, help_text="Symmetric display limit of chi (ppm), fixed when the run is published."
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    claim = models.UUIDField(null=True, editable=False)
    heartbeat_at = models.DateTimeField(null=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)

    objects = ReconRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["scan"], condition=models.Q(is_current=True), name="one_current_run_per_scan")
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.scan} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("run_status", args=[self.scan.study_id, self.pk])

    @property
    def directory(self) -> Path:
        return Path(settings.MEDIA_ROOT) / "recon" / str(self.scan.study_id) / str(self.uid)

    def output_path(self, kind: str) -> Path:
        return self.directory / self.outputs[kind]

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def elapsed_seconds(self) -> float | None:
        if not self.started_at:
            return None
        return ((self.finished_at or timezone.now()) - self.started_at).total_seconds()

    def describe_params(self) -> str:
        p = self.params
        return (
            f"{INVERSIONS.get(p.get('inversion'), p.get('inversion'))}, "
            f"{BACKGROUNDS.get(p.get('background'), p.get('background'))}, "
            f"mask {p.get('mask', 'magnitude')}, reference {REFERENCES.get(p.get('reference'), p.get('reference'))}"
        )

    @transaction.atomic
    def make_current(self) -> bool:
        """Make this the run the scan's ROI values and the analysis use; the scan's other runs stop being current.

        Only a succeeded run can be current: False (and nothing changed) for any other. Calls for
        runs of one scan take turns on a lock of the scan's row: unserialised, two could each clear
        the current run and then both set their own, and the second would break the constraint
        ``one_current_run_per_scan`` (a 500).  The last call wins.
        """
        ScanSession.objects.select_for_update().only("pk").get(pk=self.scan_id)
        if not ReconRun.objects.succeeded().filter(pk=self.pk).exists():
            return False
        ReconRun.objects.filter(scan=self.scan_id, is_current=True).exclude(pk=self.pk).update(is_current=False)
        ReconRun.objects.filter(pk=self.pk).update(is_current=True)
        self.is_current = True
        return True

    @property
    def stage_text(self) -> str:
        """The stage in words; a queued run nobody has taken yet is waiting for a worker (or for the broker)."""
        return self.stage or ("waiting for a worker" if self.status == self.Status.QUEUED else "")

    def as_status(self) -> dict:
        return {
            "id": self.pk,
            "status": self.status,
            "stage": self.stage_text,
            "percent": round(self.percent, 1),
            "elapsed_seconds": round(self.elapsed_seconds, 1) if self.elapsed_seconds is not None else None,
            "error": self.error,
            "is_current": self.is_current,
            "attempts": self.attempts,
        }


class RoiDefinition(models.Model):
    """One version of a named region on a scan's grid (a uint8 NIfTI mask). Editing adds a version."""

    class Source(models.TextChoices):
        DRAWN = "drawn", "drawn in the viewer"
        UPLOADED = "uploaded", "uploaded label image"
        SPHERE = "sphere", "sphere placed in RAS"

    scan = models.ForeignKey(ScanSession, on_delete=models.CASCADE, related_name="rois")
    name = models.CharField(max_length=20)
    version = models.PositiveIntegerField()
    source = models.CharField(max_length=10, choices=Source.choices)
    details = models.JSONField(default=dict, help_text="sphere centre/radius, uploaded file and label value, ...")
    voxels = models.PositiveIntegerField()
    mask_file = models.CharField(max_length=200)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [models.UniqueConstraint(fields=["scan", "name", "version"], name="one_roi_version")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def path(self) -> Path:
        return Path(settings.MEDIA_ROOT) / self.mask_file

    @classmethod
    def latest_for(cls, scan: ScanSession) -> list["RoiDefinition"]:
        latest: dict[str, RoiDefinition] = {}
        for roi in cls.objects.filter(scan=scan).order_by("name", "-version"):
            latest.setdefault(roi.name, roi)
        return list(latest.values())


class RoiValue(models.Model):
    """Susceptibility statistics of one ROI version on one reconstruction run, in ppb."""

    roi = models.ForeignKey(RoiDefinition, on_delete=models.CASCADE, related_name="values")
    run = models.ForeignKey(ReconRun, on_delete=models.CASCADE, related_name="roi_values")
    mean_ppb = models.FloatField(null=True)
    median_ppb = models.FloatField(null=True)
    sd_ppb = models.FloatField(null=True)
    q1_ppb = models.FloatField(null=True)
    q3_ppb = models.FloatField(null=True)
    p5_ppb = models.FloatField(null=True)
    p95_ppb = models.FloatField(null=True)
    voxels = models.PositiveIntegerField()
    reference = models.CharField(max_length=40, help_text="what chi is referenced to")
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["roi", "run"], name="one_value_per_roi_version_and_run")]

    @classmethod
    def analysed(cls) -> models.QuerySet["RoiValue"]:
        """The values the analysis uses: each scan's current run, measured with the latest version of each ROI.

        The dashboard's dataset and the patient page both read this, so they cannot disagree.
        """
        newer_version = RoiDefinition.objects.filter(
            scan=models.OuterRef("roi__scan"), name=models.OuterRef("roi__name"),
            version__gt=models.OuterRef("roi__version"))
        return cls.objects.filter(run__is_current=True).filter(~models.Exists(newer_version))

    STATISTICS = {"mean": "mean_ppb", "median": "median_ppb", "sd": "sd_ppb", "q1": "q1_ppb", "q3": "q3_ppb",
                  "p5": "p5_ppb", "p95": "p95_ppb"}
