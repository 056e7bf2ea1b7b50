"""Clinical records: studies, memberships, patients and dated clinical exams.

Scales follow the conventions in the docs:
- Reflexes: NINDS Myotatic Reflex Scale 0-4 (Hallett, Neurology 1996;47:969).
- Spasticity: Modified Ashworth Scale 0, 1, 1+, 2, 3, 4 (stored as codes; "1+" is its own level).
- ALSFRS-R: 12 items 0-4 (Cedarbaum et al., J Neurol Sci 1999;169:13); item 5 is 5a or 5b.
- Penn UMN score (Quinn et al., Muscle Nerve 2020): the total as entered, 0-32.
Derived values (spasticity, hyperreflexia, ALSFRS-R totals, disease duration) are
computed on save and stored so that they can be queried; they are never typed.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords

from .scanio.errors import describe_files

SIDES = ("left", "right")
REFLEXES = ("biceps", "brachioradialis", "triceps", "patellar", "ankle")
PATHOLOGICAL_SIGNS = ("hoffmann", "babinski", "clonus")
LIMBS = ("upper", "lower")
ALSFRS_ITEMS = tuple(range(1, 13))
ALSFRS_DOMAINS = {
    "bulbar": (1, 2, 3),
    "fine_motor": (4, 5, 6),
    "gross_motor": (7, 8, 9),
    "respiratory": (10, 11, 12),
}
ALSFRS_MAX = 48


class Role(models.TextChoices):
    COORDINATOR = "coordinator", "Coordinator (enters and edits data)"
    INVESTIGATOR = "investigator", "Investigator (reads everything, runs analyses)"
    VIEWER = "viewer", "Viewer (read only)"


class StudyQuerySet(models.QuerySet):
    def for_user(self, user) -> "StudyQuerySet":
        return self.filter(memberships__user=user)

    def by_id_or_name(self, text: str) -> "Study | None":
        """A study from a command-line argument: its id, or its exact name."""
        return self.filter(pk=int(text)).first() if text.isdigit() else self.filter(name=text).first()


def default_roi_labels() -> list[str]:
    """Left/right motor cortex (hand knob) and left/right control cortex (anterior precentral border)."""
    return ["LMC", "RMC", "LCT", "RCT"]


class Study(models.Model):
    """A cohort at a site. Everything else hangs off a study; access is per study."""

    name = models.CharField(max_length=200)
    site = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    field_strength_t = models.DecimalField(
        "protocol field strength (T)", max_digits=3, decimal_places=1, default=3
    )
    roi_labels = models.JSONField(
        "ROI labels", default=default_roi_labels,
        help_text="Names of the regions measured on every scan, e.g. LMC, RMC, LCT, RCT.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StudyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("study", args=[self.pk])

    def membership_for(self, user) -> Membership | None:
        return self.memberships.filter(user=user).first()

    def add_member(self, user, role: str) -> Membership:
        membership, _ = Membership.objects.update_or_create(study=self, user=user, defaults={"role": role})
        return membership


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "study"], name="one_membership_per_study")]

    def __str__(self) -> str:
        return f"{self.user} in {self.study} as {self.role}"

    @property
    def can_edit(self) -> bool:
        return self.role == Role.COORDINATOR

    @property
    def can_analyse(self) -> bool:
        return self.role in (Role.COORDINATOR, Role.INVESTIGATOR)


class Diagnosis(models.TextChoices):
    ALS = "ALS", "ALS"
    PLS = "PLS", "PLS"
    CONTROL = "HC", "Healthy control"
    OTHER_MND = "MND", "Other MND"


class Sex(models.TextChoices):
    FEMALE = "F", "Female"
    MALE = "M", "Male"
    OTHER = "X", "Other / not stated"


class Handedness(models.TextChoices):
    RIGHT = "right", "Right"
    LEFT = "left", "Left"
    AMBIDEXTROUS = "ambidextrous", "Ambidextrous"


class OnsetRegion(models.TextChoices):
    BULBAR = "bulbar", "Bulbar"
    UPPER_LIMB = "upper_limb", "Upper limb"
    LOWER_LIMB = "lower_limb", "Lower limb"
    RESPIRATORY = "respiratory", "Respiratory / thoracic"


class OnsetSide(models.TextChoices):
    LEFT = "left", "Left"
    RIGHT = "right", "Right"
    BILATERAL = "bilateral", "Bilateral"
    MIDLINE = "midline", "Midline (bulbar / axial)"


class DiagnosticCategory(models.TextChoices):
    """Revised El Escorial levels for ALS; Turner et al. 2020 levels for PLS."""

    EEC_DEFINITE = "eec_definite", "ALS definite (El Escorial revised)"
    EEC_PROBABLE = "eec_probable", "ALS probable (El Escorial revised)"
    EEC_PROBABLE_LAB = "eec_probable_lab", "ALS probable laboratory-supported (El Escorial revised)"
    EEC_POSSIBLE = "eec_possible", "ALS possible (El Escorial revised)"
    PLS_PROBABLE = "pls_probable", "PLS probable (Turner 2020: 2-4 years from onset)"
    PLS_DEFINITE = "pls_definite", "PLS definite (Turner 2020: 4 years or more from onset)"


CATEGORIES_BY_DIAGNOSIS = {
    Diagnosis.ALS: {c for c in DiagnosticCategory if c.startswith("eec_")},
    Diagnosis.PLS: {c for c in DiagnosticCategory if c.startswith("pls_")},
}

study_code_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$",
    "Use a pseudonymous study code of letters, digits, '-' or '_' (no spaces, no names), e.g. ALS-007.",
)


def first_of_month(value: dt.date | None) -> dt.date | None:
    return value.replace(day=1) if value else None


def months_between(start: dt.date, end: dt.date) -> float:
    """Whole and fractional months from start to end (30.4375-day months)."""
    return round((end - start).days / 30.4375, 1)


class Patient(models.Model):
    """A pseudonymous participant: a study code, never a name."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="patients")
    code = models.CharField("study code", max_length=32, validators=[study_code_validator])
    diagnosis = models.CharField(max_length=3, choices=Diagnosis.choices)
    sex = models.CharField(max_length=1, choices=Sex.choices, blank=True)
    birth_year = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1900)]
    )
    handedness = models.CharField(max_length=12, choices=Handedness.choices, blank=True)
    onset_month = models.DateField(
        "symptom onset (month)", null=True, blank=True, help_text="Stored as the first day of the month."
    )
    onset_region = models.CharField(max_length=12, choices=OnsetRegion.choices, blank=True)
    onset_side = models.CharField(max_length=10, choices=OnsetSide.choices, blank=True)
    diagnostic_category = models.CharField(max_length=20, choices=DiagnosticCategory.choices, blank=True)
    gold_coast = models.BooleanField(
        "meets Gold Coast criteria", null=True, blank=True, help_text="ALS only; leave blank if not assessed."
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(excluded_fields=["created_at"])

    class Meta:
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["study", "code"], name="unique_code_per_study")]

    def __str__(self) -> str:
        return self.code

    def unstored_uploads(self):
        """This week's uploads that are still being checked or were refused (stored ones are its scans)."""
        since = timezone.now() - dt.timedelta(days=7)
        return self.ingests.exclude(status=Ingest.Status.STORED).filter(created_at__gte=since)

    def get_absolute_url(self) -> str:
        return reverse("patient", args=[self.study_id, self.pk])

    def clean(self) -> None:
        errors: dict[str, str] = {}
        this_year = timezone.localdate().year
        if self.birth_year and self.birth_year > this_year:
            errors["birth_year"] = f"Birth year {self.birth_year} is in the future."
        if self.onset_month:
            self.onset_month = first_of_month(self.onset_month)
            if self.onset_month > timezone.localdate():
                errors["onset_month"] = "Symptom onset cannot be in the future."
            elif self.birth_year and self.onset_month.year < self.birth_year:
                errors["onset_month"] = "Symptom onset is before the birth year."
        allowed = CATEGORIES_BY_DIAGNOSIS.get(self.diagnosis, set())
        if self.diagnostic_category and self.diagnostic_category not in allowed:
            errors["diagnostic_category"] = (
                f"'{self.get_diagnostic_category_display()}' does not apply to diagnosis "
                f"{self.get_diagnosis_display()}: pick an El Escorial level for ALS or a Turner 2020 level for PLS."
            )
        if self.gold_coast is not None and self.diagnosis != Diagnosis.ALS:
            errors["gold_coast"] = "Gold Coast criteria apply to ALS only; leave blank."
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs) -> None:
        self.onset_month = first_of_month(self.onset_month)
        super().save(*args, **kwargs)
        # Durations depend on onset: keep the stored derived values in step.
        for exam in self.exams.all():
            exam.patient = self
            if exam.refresh_derived():
                exam.save_without_historical_record(update_fields=["disease_duration_months"])

    @property
    def age_at_onset(self) -> int | None:
        if self.onset_month and self.birth_year:
            return self.onset_month.year - self.birth_year
        return None


class Reflex(models.IntegerChoices):
    """NINDS Myotatic Reflex Scale (Hallett 1996)."""

    ABSENT = 0, "0 absent"
    REDUCED = 1, "1 reduced (trace)"
    NORMAL = 2, "2 normal"
    BRISK = 3, "3 brisk"
    CLONUS = 4, "4 clonus"


class Ashworth(models.TextChoices):
    """Modified Ashworth Scale (Bohannon & Smith 1987); '1+' is a level of its own."""

    MAS_0 = "0", "0 no increase in tone"
    MAS_1 = "1", "1 catch and release"
    MAS_1P = "1+", "1+ catch, minimal resistance"
    MAS_2 = "2", "2 marked increase, easily moved"
    MAS_3 = "3", "3 considerable increase"
    MAS_4 = "4", "4 rigid"


class JawJerk(models.TextChoices):
    ABSENT = "absent", "Absent"
    NORMAL = "normal", "Normal"
    BRISK = "brisk", "Brisk"


def reflex_field(reflex: str, side: str) -> str:
    return f"reflex_{reflex}_{side}"


def sign_field(sign: str, side: str) -> str:
    return f"{sign}_{side}"


def mas_field(limb: str, side: str) -> str:
    return f"mas_{limb}_{side}"


def alsfrs_field(item: int) -> str:
    return f"alsfrs_{item}"


REFLEX_FIELDS = [reflex_field(r, s) for r in REFLEXES for s in SIDES]
SIGN_FIELDS = [sign_field(g, s) for g in PATHOLOGICAL_SIGNS for s in SIDES]
MAS_FIELDS = [mas_field(limb, s) for limb in LIMBS for s in SIDES]
ALSFRS_FIELDS = [alsfrs_field(i) for i in ALSFRS_ITEMS]
SIGN_LABELS = {"hoffmann": "Hoffmann", "babinski": "Babinski (extensor plantar)", "clonus": "Sustained ankle clonus"}


def _scale_fields() -> dict[str, models.Field]:
    """The per-side scale fields of an exam, generated from the scale definitions above."""
    fields: dict[str, models.Field] = {}
    for reflex in REFLEXES:
        for side in SIDES:
            fields[reflex_field(reflex, side)] = models.PositiveSmallIntegerField(
                f"{reflex} reflex, {side}", choices=Reflex.choices, null=True, blank=True
            )
    for sign in PATHOLOGICAL_SIGNS:
        for side in SIDES:
            fields[sign_field(sign, side)] = models.BooleanField(
                f"{SIGN_LABELS[sign]}, {side}", null=True, blank=True
            )
    for limb in LIMBS:
        for side in SIDES:
            fields[mas_field(limb, side)] = models.CharField(
                f"spasticity (MAS) {limb} limb, {side}", max_length=2, choices=Ashworth.choices, blank=True
            )
    for item in ALSFRS_ITEMS:
        fields[alsfrs_field(item)] = models.PositiveSmallIntegerField(
            f"ALSFRS-R item {item}", null=True, blank=True, validators=[MaxValueValidator(4)]
        )
    return fields


ExamScales = type(
    "ExamScales",
    (models.Model,),
    {"__module__": __name__, "Meta": type("Meta", (), {"abstract": True}), **_scale_fields()},
)


class Exam(ExamScales):
    """A dated clinical examination of one patient."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="exams")
    date = models.DateField("exam date")
    examiner = models.CharField(max_length=100)
    jaw_jerk = models.CharField(max_length=6, choices=JawJerk.choices, blank=True)
    penn_umn_score = models.PositiveSmallIntegerField(
        "Penn UMN score (total as entered)", null=True, blank=True, validators=[MaxValueValidator(32)]
    )
    alsfrs_gastrostomy = models.BooleanField(
        "ALSFRS-R item 5 scored as 5b (with gastrostomy)", default=False
    )

    # Derived on save, never typed.
    spasticity_left = models.BooleanField(null=True, editable=False)
    spasticity_right = models.BooleanField(null=True, editable=False)
    spasticity = models.BooleanField("spasticity present", null=True, editable=False)
    hyperreflexia_left = models.BooleanField(null=True, editable=False)
    hyperreflexia_right = models.BooleanField(null=True, editable=False)
    hyperreflexia = models.BooleanField("hyperreflexia present", null=True, editable=False)
    alsfrs_total = models.PositiveSmallIntegerField("ALSFRS-R total", null=True, editable=False)
    alsfrs_bulbar = models.PositiveSmallIntegerField(null=True, editable=False)
    alsfrs_fine_motor = models.PositiveSmallIntegerField(null=True, editable=False)
    alsfrs_gross_motor = models.PositiveSmallIntegerField(null=True, editable=False)
    alsfrs_respiratory = models.PositiveSmallIntegerField(null=True, editable=False)
    disease_duration_months = models.FloatField("disease duration at exam (months)", null=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(excluded_fields=["created_at"])

    class Meta:
        ordering = ["patient", "-date"]
        constraints = [models.UniqueConstraint(fields=["patient", "date"], name="one_exam_per_patient_per_day")]

    def __str__(self) -> str:
        return f"{self.patient} exam {self.date:%Y-%m-%d}"

    def get_absolute_url(self) -> str:
        return reverse("exam_edit", args=[self.patient.study_id, self.patient_id, self.pk])

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.date and self.date > timezone.localdate():
            errors["date"] = "The exam date is in the future."
        if errors:
            raise ValidationError(errors)

    def onset_warning(self) -> str:
        """Why the exam date deserves a second look, or "": an exam before the onset month is kept, not refused
        (presymptomatic carriers are examined, and onset is often recalled later), but it may be a typing error."""
        onset = self.patient.onset_month if self.patient_id else None
        if self.date and onset and self.date < onset:
            return (f"The exam of {self.date:%Y-%m-%d} is before the recorded symptom onset ({onset:%Y-%m}); it was "
                    "kept (a presymptomatic exam, or onset recalled later): check both dates if neither applies.")
        return ""

    def save(self, *args, **kwargs) -> None:
        self.refresh_derived()
        super().save(*args, **kwargs)

    def refresh_derived(self) -> bool:
        """Recompute the stored derived values; return True if anything changed."""
        before = self.derived_values()
        for side in SIDES:
            setattr(self, f"spasticity_{side}", self._spastic(side))
            setattr(self, f"hyperreflexia_{side}", self._hyperreflexic(side))
        self.spasticity = _any_known(self.spasticity_left, self.spasticity_right)
        self.hyperreflexia = _any_known(self.hyperreflexia_left, self.hyperreflexia_right)
        for domain, items in ALSFRS_DOMAINS.items():
            setattr(self, f"alsfrs_{domain}", _complete_sum(getattr(self, alsfrs_field(i)) for i in items))
        self.alsfrs_total = _complete_sum(getattr(self, alsfrs_field(i)) for i in ALSFRS_ITEMS)
        onset = self.patient.onset_month if self.patient_id else None
        self.disease_duration_months = months_between(onset, self.date) if onset and self.date else None
        return before != self.derived_values()

    def derived_values(self) -> tuple:
        return tuple(getattr(self, f.name) for f in self._meta.concrete_fields if not f.editable and f.name != "id")

    def _spastic(self, side: str) -> bool | None:
        """Any Modified Ashworth grade of 1 or more on that side; None if no limb was graded."""
        grades = [getattr(self, mas_field(limb, side)) for limb in LIMBS]
        graded = [g for g in grades if g]
        return any(g != Ashworth.MAS_0 for g in graded) if graded else None

    def _hyperreflexic(self, side: str) -> bool | None:
        """Any reflex >= 3 (brisk) or a positive Hoffmann, Babinski or clonus on that side."""
        reflexes = [getattr(self, reflex_field(r, side)) for r in REFLEXES]
        signs = [getattr(self, sign_field(g, side)) for g in PATHOLOGICAL_SIGNS]
        findings = [r >= Reflex.BRISK for r in reflexes if r is not None] + [s for s in signs if s is not None]
        return any(findings) if findings else None

    @property
    def alsfrs_progression_rate(self) -> float | None:
        """ALSFRS-R points lost per month since onset: (48 - total) / months."""
        if self.alsfrs_total is None or (self.disease_duration_months or 0) <= 0:  # none before onset
            return None
        return round((ALSFRS_MAX - self.alsfrs_total) / self.disease_duration_months, 2)


def _any_known(*values: bool | None) -> bool | None:
    known = [v for v in values if v is not None]
    return any(known) if known else None


def _complete_sum(values) -> int | None:
    """Sum of item scores, or None unless every item was scored (a partial total misleads)."""
    values = list(values)
    return None if any(v is None for v in values) else sum(values)


def _display(record, field_name: str, value) -> str:
    if value is None or value == "":
        return "—"
    field = record._meta.get_field(field_name)
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@dataclass(frozen=True)
class AuditEntry:
    when: dt.datetime
    who: str
    what: str
    action: str
    reason: str
    changes: list[tuple[str, str, str]]


def audit_trail(patient: Patient) -> list[AuditEntry]:
    """Every recorded change to a patient and its exams, newest first."""
    records = [*patient.history.all(), *Exam.history.filter(patient_id=patient.pk)]
    entries = []
    for record in records:
        previous = record.prev_record
        changes = []
        if previous is not None and record.history_type == "~":
            for change in record.diff_against(previous).changes:
                if not record._meta.get_field(change.field).editable:
                    continue
                label = str(record._meta.get_field(change.field).verbose_name)
                changes.append((label, _display(record, change.field, change.old), _display(record, change.field, change.new)))
        what = "patient" if record._meta.model_name == "historicalpatient" else f"exam {record.date:%Y-%m-%d}"
        entries.append(
            AuditEntry(
                when=record.history_date,
                who=str(record.history_user or "system"),
                what=what,
                action=record.get_history_type_display(),
                reason=record.history_change_reason or "",
                changes=changes,
            )
        )
    return sorted(entries, key=lambda e: e.when, reverse=True)


def scan_directory(scan: "ScanSession") -> str:
    """Storage folder of a scan, relative to MEDIA_ROOT: unguessable and never served directly."""
    return f"scans/{scan.study_id}/{scan.uid}"


class ScanSessionQuerySet(models.QuerySet):
    def for_user(self, user) -> "ScanSessionQuerySet":
        return self.filter(study__memberships__user=user)


class ScanSession(models.Model):
    """One uploaded multi-echo GRE scan (magnitude + phase, all echoes), de-identified and converted.

    Converted files (under MEDIA_ROOT/scans/<study>/<uid>/): magnitude.nii.gz and phase.nii.gz
    (4D float32, RAS affine, phase in radians), scan.json (de-identified sidecar), original.zip
    (the de-identified originals) and preview.png.
    """

    uid = models.UUIDField(unique=True, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="scans", editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="scans")
    scan_date = models.DateField()
    scanner = models.CharField("scanner", max_length=100, blank=True, help_text="e.g. Siemens Prisma")
    site = models.CharField(max_length=100, blank=True)
    field_strength_t = models.DecimalField("field strength (T)", max_digits=3, decimal_places=1, null=True, blank=True)
    protocol_name = models.CharField(max_length=100, blank=True)
    # Scanner facts from the headers, shown for confirmation and never typed.
    acquired_at = models.DateTimeField(
        "acquired at", null=True, blank=True, editable=False,
        help_text="Acquisition date and time from the headers (scanner clock, stored in the site's time zone).")
    manufacturer = models.CharField(max_length=100, blank=True, editable=False)
    model_name = models.CharField("model", max_length=100, blank=True, editable=False)
    software_version = models.CharField(max_length=100, blank=True, editable=False)
    sequence_name = models.CharField(max_length=100, blank=True, editable=False)

    source_format = models.CharField(max_length=10, editable=False)
    echo_times_ms = models.JSONField(editable=False)
    matrix = models.JSONField(editable=False)
    voxel_size_mm = models.JSONField(editable=False)
    orientation = models.CharField(max_length=3, editable=False)
    b0_direction = models.JSONField("B0 direction (voxel axes)", editable=False)
    warnings = models.JSONField(default=list, editable=False)
    pixel_sha256 = models.CharField("pixel data SHA-256", max_length=64, editable=False)
    file_sha256 = models.JSONField("file SHA-256", default=dict, editable=False)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScanSessionQuerySet.as_manager()
    history = HistoricalRecords(excluded_fields=["created_at"])

    FILES = {
        "magnitude": "magnitude.nii.gz",
        "phase": "phase.nii.gz",
        "sidecar": "scan.json",
        "original": "original.zip",
        "preview": "preview.png",
    }

    class Meta:
        ordering = ["-scan_date", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["study", "pixel_sha256"], name="one_upload_per_series_per_study")
        ]

    def __str__(self) -> str:
        return f"{self.patient} scan {self.scan_date:%Y-%m-%d}"

    def get_absolute_url(self) -> str:
        return reverse("scan", args=[self.study_id, self.pk])

    @property
    def directory(self) -> str:
        return scan_directory(self)

    def path(self, kind: str) -> Path:
        return Path(settings.MEDIA_ROOT) / self.directory / self.FILES[kind]

    @property
    def n_echoes(self) -> int:
        return len(self.echo_times_ms)

    def nearest_exam(self) -> tuple[Exam | None, int | None]:
        """The patient's exam closest in time to the scan, and the gap in days (exam minus scan)."""
        exams = list(self.patient.exams.only("date"))
        if not exams:
            return None, None
        exam = min(exams, key=lambda e: (abs((e.date - self.scan_date).days), e.date))
        return exam, (exam.date - self.scan_date).days


class Ingest(models.Model):
    """One received upload on its way to becoming a scan: checked, converted and stored by a worker.

    The request only streams the files under MEDIA_ROOT/.incoming/ingests/<uid>/files/ (with their
    sizes and SHA-256) and saves this row; the ``clinical.ingest`` task does the rest and ends in
    ``stored`` (with the scan) or ``refused`` (with the reasons, and no scan row and no files left).
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "received, waiting for a worker"
        CHECKING = "checking", "checking"
        STORED = "stored", "stored"
        REFUSED = "refused", "refused"

    FINISHED = (Status.STORED, Status.REFUSED)

    uid = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="ingests", editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="ingests")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    fields = models.JSONField("typed fields", default=dict, help_text="The upload form's fields as submitted.")
    reconstruction = models.JSONField(null=True, help_text="Parameters of the first reconstruction (API).")
    files = models.JSONField(default=list, help_text="[{name, bytes, sha256}] of the received files.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    stage = models.CharField(max_length=40, blank=True)
    errors = models.JSONField(default=dict, help_text="Why it was refused, by form field.")
    held = models.CharField(max_length=64, blank=True, help_text="Token of the files kept when only typed fields were wrong.")
    scan = models.OneToOneField(ScanSession, null=True, on_delete=models.SET_NULL, related_name="ingest")
    duplicate_of = models.ForeignKey(ScanSession, null=True, on_delete=models.SET_NULL, related_name="+")
    claim = models.UUIDField(null=True, editable=False)
    heartbeat_at = models.DateTimeField(null=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"upload of {self.describe_files()} for {self.patient}"

    def get_absolute_url(self) -> str:
        return reverse("ingest", args=[self.study_id, self.uid])

    @property
    def folder(self) -> Path:
        return Path(settings.MEDIA_ROOT) / ".incoming" / "ingests" / str(self.uid)

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def total_bytes(self) -> int:
        return sum(f["bytes"] for f in self.files)

    def describe_files(self) -> str:
        return describe_files([f["name"] for f in self.files]) or "no files"

    def messages(self) -> list[str]:
        return [message for messages in self.errors.values() for message in messages]

    def correction_url(self) -> str:
        """The upload form with this ingest's fields and kept files, when only the typed fields were wrong."""
        if not self.held:
            return ""
        return f"{reverse('scan_upload', args=[self.study_id, self.patient_id])}?ingest={self.uid}&held={self.held}"

    def as_status(self) -> dict:
        """What the ingest page polls."""
        return {
            "id": str(self.uid), "status": self.status, "label": self.get_status_display(), "stage": self.stage,
            "messages": self.messages(), "scan_url": self.scan.get_absolute_url() if self.scan else "",
            "duplicate_url": self.duplicate_of.get_absolute_url() if self.duplicate_of else "",
            "correction_url": self.correction_url(),
        }
