"""What the API reads and writes. Input is typed here; the domain rules are the pages' own forms.

Clinical writes go through the same forms as the pages (clinical.forms), so the API applies the same
checks with the same messages (future dates, categories that do not fit the diagnosis, duplicate codes,
a reason for every change of saved data) and saves the same audit record.
"""
from __future__ import annotations

from django.forms.models import model_to_dict
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinical.forms import AuditedForm, ExamForm, PatientForm
from clinical.models import ALSFRS_FIELDS, Diagnosis, MAS_FIELDS, REFLEX_FIELDS, SIGN_FIELDS, Exam, Ingest, Patient, ScanSession, Study
from dashboard.analysis import WITHIN
from dashboard.dataset import Filters
from dashboard.importer import COLUMNS as ROI_VALUE_COLUMNS
from recon.jobs import DEFAULT_PARAMS
from recon.models import BACKGROUNDS, INVERSIONS, REFERENCES, ReconRun, RoiDefinition, RoiValue

NO_REASON = "Say why you are changing saved data."
REASON_HELP = "Why saved data is changed (kept in the audit trail), e.g. 'transcription error'."


class StudySerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="Your role: coordinator, investigator or viewer.")
    roi_labels = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Study
        fields = ["id", "name", "site", "description", "field_strength_t", "roi_labels", "role", "created_at"]

    def get_role(self, study: Study) -> str:
        return self.context["roles"][study.pk]


class AuditedSerializer(serializers.ModelSerializer):
    """Validated by the page's form and saved by it, with the request's user and reason in the history."""

    form_class: type[AuditedForm]
    reason = serializers.CharField(max_length=100, required=False, allow_blank=True, write_only=True,
                                   help_text=f"{REASON_HELP} Optional when creating.")

    def form_kwargs(self) -> dict:
        return {}

    def validate(self, attrs: dict) -> dict:
        names = [name for name in self.form_class.base_fields if name != "reason"]
        data = model_to_dict(self.instance, fields=names) if self.instance else {}
        data.update({name: value for name, value in attrs.items() if name in names})
        data["reason"] = attrs.get("reason", "")
        self.form = self.form_class(data=data, instance=self.instance, **self.form_kwargs())
        if not self.form.is_valid():
            raise serializers.ValidationError(
                {field if field != "__all__" else "non_field_errors": list(errors)
                 for field, errors in self.form.errors.items()})
        return attrs

    def save(self, **kwargs):
        self.form.instance._history_user = self.context["request"].user
        self.instance = self.form.save()
        return self.instance


def change_serializer(base: type[AuditedSerializer], read_only: tuple[str, ...] = ()) -> type[AuditedSerializer]:
    """The PATCH body of an audited record: every field optional except the reason for the change."""
    meta = type("Meta", (base.Meta,), {
        "extra_kwargs": {name: {"required": False} for name in base.Meta.fields if name not in read_only}})
    fixed = {name: serializers.PrimaryKeyRelatedField(read_only=True) for name in read_only}
    reason = serializers.CharField(max_length=100, write_only=True, help_text=REASON_HELP,
                                   error_messages={"required": NO_REASON, "blank": NO_REASON})
    name = f"{base.Meta.model.__name__}ChangeSerializer"
    return type(name, (base,), {"Meta": meta, "reason": reason, **fixed, "__module__": __name__})


class PatientSerializer(AuditedSerializer):
    form_class = PatientForm

    class Meta:
        model = Patient
        fields = ["id", "code", "diagnosis", "sex", "birth_year", "handedness", "onset_month", "onset_region",
                  "onset_side", "diagnostic_category", "gold_coast", "notes", "created_at", "reason"]
        validators = []  # the form checks the study code is unused, with its own message

    def form_kwargs(self) -> dict:
        return {} if self.instance else {"study": self.context["study"]}


PatientChangeSerializer = change_serializer(PatientSerializer)


@extend_schema_field(OpenApiTypes.INT)
class StudyPatientField(serializers.PrimaryKeyRelatedField):
    """A patient of the study in the URL (others do not exist as far as the caller can tell)."""

    def get_queryset(self):
        return Patient.objects.filter(study=self.context["study"])


class ExamSerializer(AuditedSerializer):
    form_class = ExamForm
    patient = StudyPatientField()
    alsfrs_progression_rate = serializers.FloatField(read_only=True, allow_null=True,
                                                     help_text="ALSFRS-R points lost per month since onset.")

    class Meta:
        model = Exam
        fields = ["id", "patient", "date", "examiner", *REFLEX_FIELDS, *SIGN_FIELDS, *MAS_FIELDS, "jaw_jerk",
                  "penn_umn_score", *ALSFRS_FIELDS, "alsfrs_gastrostomy",
                  "spasticity_left", "spasticity_right", "spasticity", "hyperreflexia_left", "hyperreflexia_right",
                  "hyperreflexia", "alsfrs_total", "alsfrs_bulbar", "alsfrs_fine_motor", "alsfrs_gross_motor",
                  "alsfrs_respiratory", "disease_duration_months", "alsfrs_progression_rate", "created_at", "reason"]
        validators = []  # the form checks one exam per patient per day, with its own message

    def form_kwargs(self) -> dict:
        return {} if self.instance else {"patient": self.validated_patient}

    def validate(self, attrs: dict) -> dict:
        self.validated_patient = attrs.get("patient")
        return super().validate(attrs)


ExamChangeSerializer = change_serializer(ExamSerializer, read_only=("patient",))


class ScanSerializer(serializers.ModelSerializer):
    echo_times_ms = serializers.ListField(child=serializers.FloatField(), read_only=True)
    matrix = serializers.ListField(child=serializers.IntegerField(), read_only=True)
    voxel_size_mm = serializers.ListField(child=serializers.FloatField(), read_only=True)
    b0_direction = serializers.ListField(child=serializers.FloatField(), read_only=True,
                                         help_text="Unit vector of B0 in voxel axes.")
    warnings = serializers.ListField(child=serializers.CharField(), read_only=True)
    file_sha256 = serializers.DictField(child=serializers.CharField(), read_only=True)
    uploaded_by = serializers.StringRelatedField(read_only=True, allow_null=True)
    files = serializers.SerializerMethodField(help_text="Downloadable files (kinds for .../files/{kind}).")

    class Meta:
        model = ScanSession
        fields = ["id", "uid", "patient", "scan_date", "acquired_at", "scanner", "manufacturer", "model_name",
                  "software_version", "site", "field_strength_t", "protocol_name", "sequence_name", "source_format",
                  "echo_times_ms", "matrix", "voxel_size_mm", "orientation", "b0_direction", "warnings", "pixel_sha256", "file_sha256", "files", "uploaded_by", "created_at"]

    def get_files(self, scan: ScanSession) -> list[str]:
        return list(ScanSession.FILES)


class RunParamsSerializer(serializers.Serializer):
    inversion = serializers.ChoiceField(choices=list(INVERSIONS.items()), default=DEFAULT_PARAMS["inversion"])
    background = serializers.ChoiceField(choices=list(BACKGROUNDS.items()), default=DEFAULT_PARAMS["background"],
                                         help_text="Background field removal.")
    reference = serializers.ChoiceField(choices=list(REFERENCES.items()), default=DEFAULT_PARAMS["reference"])


class ScanUploadSerializer(serializers.ModelSerializer):
    """The web form's inputs: the scan's files (all echoes, magnitude and phase) and what headers may lack.

    Scanner facts and the acquisition date come from the headers; a typed date or field strength
    that disagrees with them is refused. The first reconstruction's parameters may be given.
    """

    patient = StudyPatientField()
    scan_date = serializers.DateField(required=False, allow_null=True,
                                      help_text="Only when the headers do not record the acquisition date.")
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=False), min_length=1, required=False,
        help_text="A DICOM zip (series or whole exam), the DICOM files themselves, NIfTI files with their JSON "
        "sidecars, or a zipped BIDS anat/ folder; repeat the field for several files.")
    tus_uploads = serializers.CharField(
        required=False, help_text='Instead of files: a JSON list of finished resumable uploads\' ids ("tus" in '
        "docs/api.md), e.g. [\"3f2a...\", \"9b1c...\"].")
    inversion = serializers.ChoiceField(choices=list(INVERSIONS.items()), required=False,
                                        help_text="First reconstruction's inversion (default: the recommended one).")
    background = serializers.ChoiceField(choices=list(BACKGROUNDS.items()), required=False)
    reference = serializers.ChoiceField(choices=list(REFERENCES.items()), required=False)

    class Meta:
        model = ScanSession
        fields = ["patient", "scan_date", "site", "field_strength_t", "files", "tus_uploads", "inversion", "background",
                  "reference"]
        extra_kwargs = {"field_strength_t": {"help_text": "Only when the headers do not record it."}}

    def validate(self, data: dict) -> dict:
        if bool(data.get("files")) == bool(data.get("tus_uploads")):
            raise serializers.ValidationError({"files": ["Send the scan's files, or the ids of its resumable uploads "
                                                         "in tus_uploads (one of the two)."]})
        return data


class IngestSerializer(serializers.ModelSerializer):
    """An upload being checked and stored: follow it until ``status`` is ``stored`` (then ``scan``) or ``refused``."""

    id = serializers.UUIDField(source="uid", read_only=True)
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), read_only=True,
                                   help_text="Why it was refused, by field (as a synchronous 400 would say).")
    files = serializers.ListField(child=serializers.DictField(), read_only=True,
                                  help_text="The received files: name, bytes and sha256.")
    scan_url = serializers.SerializerMethodField(help_text="The stored scan, once stored.")

    class Meta:
        model = Ingest
        fields = ["id", "patient", "status", "stage", "errors", "duplicate_of", "scan", "scan_url", "files",
                  "created_at", "started_at", "finished_at"]
        read_only_fields = fields

    def get_scan_url(self, ingest: Ingest) -> str | None:
        if ingest.scan_id is None:
            return None
        return self.context["request"].build_absolute_uri(
            reverse("api:scan-detail", args=[ingest.study_id, ingest.scan_id]))


class RunSerializer(serializers.ModelSerializer):
    params = serializers.DictField(child=serializers.CharField(), read_only=True,
                                   help_text="inversion, background, mask and reference.")
    elapsed_seconds = serializers.FloatField(read_only=True, allow_null=True)
    files = serializers.SerializerMethodField(help_text="Output kinds for .../files/{kind} once succeeded.")
    created_by = serializers.StringRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = ReconRun
        fields = ["id", "uid", "scan", "params", "status", "stage", "percent", "elapsed_seconds", "error",
                  "is_current", "attempts", "package_version", "files", "created_by", "created_at", "started_at",
                  "finished_at"]
        read_only_fields = fields

    def get_files(self, run: ReconRun) -> list[str]:
        return sorted(run.outputs) if run.status == ReconRun.Status.SUCCEEDED else []


@extend_schema_field(OpenApiTypes.INT)
class StudyScanField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self):
        return ScanSession.objects.filter(study=self.context["study"])


class RunStartSerializer(RunParamsSerializer):
    scan = StudyScanField()


class RoiSerializer(serializers.ModelSerializer):
    details = serializers.DictField(read_only=True, help_text="Sphere centre/radius, or uploaded file and label value.")
    created_by = serializers.StringRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = RoiDefinition
        fields = ["id", "scan", "name", "version", "source", "details", "voxels", "created_by", "created_at"]
        read_only_fields = fields


class SphereSerializer(serializers.Serializer):
    scan = StudyScanField()
    name = serializers.CharField(max_length=20, help_text="One of the study's ROI labels, e.g. LMC.")
    x = serializers.FloatField(help_text="Centre, R+ in scanner RAS (mm).")
    y = serializers.FloatField(help_text="Centre, A+ in scanner RAS (mm).")
    z = serializers.FloatField(help_text="Centre, S+ in scanner RAS (mm).")
    radius = serializers.FloatField(min_value=0.5, max_value=50, help_text="Radius (mm).")
    within_brain = serializers.BooleanField(default=True, help_text="Keep only voxels inside the current run's brain mask.")


class RoiUploadSerializer(serializers.Serializer):
    scan = StudyScanField()
    file = serializers.FileField(help_text="A label NIfTI (.nii or .nii.gz) on the scan's grid.")
    mapping = serializers.CharField(help_text="value=name pairs, e.g. '1=LMC, 2=RMC'.")


class RoiValueSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="roi.name", read_only=True)
    roi_version = serializers.IntegerField(source="roi.version", read_only=True)
    scan = serializers.IntegerField(source="run.scan_id", read_only=True)
    current_run = serializers.BooleanField(source="run.is_current", read_only=True)

    class Meta:
        model = RoiValue
        fields = ["id", "roi", "name", "roi_version", "run", "scan", "current_run", "mean_ppb", "median_ppb",
                  "sd_ppb", "q1_ppb", "q3_ppb", "p5_ppb", "p95_ppb", "voxels", "reference", "computed_at"]
        read_only_fields = fields


class AuditEntrySerializer(serializers.Serializer):
    when = serializers.DateTimeField()
    who = serializers.CharField()
    what = serializers.CharField(help_text="'patient' or 'exam YYYY-MM-DD'.")
    action = serializers.CharField(help_text="Created, Changed or Deleted.")
    reason = serializers.CharField()
    changes = serializers.ListField(child=serializers.ListField(child=serializers.CharField()),
                                    help_text="[field, old, new] triples.")


class DatasetQuerySerializer(serializers.Serializer):
    """The dashboard's filters (dashboard.dataset.Filters), checked: a bad value is refused, not ignored."""

    diagnosis = serializers.ListField(child=serializers.ChoiceField(choices=Diagnosis.choices),
                                      required=False, help_text="Repeat for several diagnoses.")
    site = serializers.CharField(required=False, allow_blank=True, help_text="Part of the scan's site name.")
    date_from = serializers.DateField(required=False, help_text="First scan date.")
    date_to = serializers.DateField(required=False, help_text="Last scan date.")
    max_gap = serializers.IntegerField(required=False, min_value=0, help_text="Largest exam-scan gap (days).")

    def filters(self) -> Filters:
        given = self.validated_data
        return Filters(diagnoses=given.get("diagnosis", []), site=given.get("site", "").strip(),
                       date_from=given.get("date_from"), date_to=given.get("date_to"),
                       max_gap_days=given.get("max_gap"))


class AnalysisQuerySerializer(DatasetQuerySerializer):
    within = serializers.ChoiceField(choices=list(WITHIN), default="spasticity",
                                     help_text="The group for the paired motor-control comparison.")


class BidsExportQuerySerializer(DatasetQuerySerializer):
    """The BIDS page's selection: the dashboard's filters and, optionally, patients by study code."""

    patient = serializers.ListField(child=serializers.CharField(), required=False,
                                    help_text="A patient's study code; repeat for several (default: all).")

    def validate_patient(self, codes: list[str]) -> list[str]:
        """A code not in the study is a typo to fix, not a patient to leave out silently."""
        known = set(Patient.objects.filter(study=self.context["study"], code__in=codes)
                    .values_list("code", flat=True))
        unknown = sorted(set(codes) - known)
        if unknown:
            raise serializers.ValidationError(f"No patient {', '.join(unknown)} in this study; check the study codes.")
        return codes


class AnalysisFiltersSerializer(serializers.Serializer):
    diagnosis = serializers.ListField(child=serializers.CharField())
    site = serializers.CharField(allow_blank=True)
    date_from = serializers.DateField(allow_null=True)
    date_to = serializers.DateField(allow_null=True)
    max_gap = serializers.IntegerField(allow_null=True)


class GroupSerializer(serializers.Serializer):
    label = serializers.CharField()
    n = serializers.IntegerField()
    median = serializers.FloatField(allow_null=True, required=False)
    iqr = serializers.ListField(child=serializers.FloatField(allow_null=True), required=False)


class EffectSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    ci = serializers.ListField(child=serializers.FloatField(allow_null=True))
    ci_level = serializers.FloatField()
    ci_attained = serializers.FloatField(required=False,
                                         help_text="Coverage the distribution-free interval actually attains.")


class ComparisonSerializer(serializers.Serializer):
    section = serializers.CharField()
    name = serializers.CharField()
    test = serializers.CharField()
    why = serializers.CharField()
    groups = GroupSerializer(many=True)
    statistic = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    p_method = serializers.CharField()
    p_holm = serializers.FloatField(allow_null=True)
    effects = EffectSerializer(many=True)
    effect = EffectSerializer(allow_null=True, help_text="The primary effect size (the first of effects).")
    warnings = serializers.ListField(child=serializers.CharField())


class AnalysisSerializer(serializers.Serializer):
    study = serializers.IntegerField()
    filters = AnalysisFiltersSerializer()
    within = serializers.CharField()
    n_rows = serializers.IntegerField(help_text="Scans (exam/scan pairs) after the filters.")
    n_patients = serializers.IntegerField(help_text="Patients (baseline scans) the tests run on.")
    comparisons = ComparisonSerializer(many=True)


class RootSerializer(serializers.Serializer):
    studies = serializers.URLField()
    schema = serializers.URLField(help_text="OpenAPI 3 schema (YAML; ?format=json for JSON).")
    docs = serializers.URLField(help_text="The operations, for people.")
    token = serializers.URLField(help_text="Your API token (a page; log in first).")


class ClinicalImportSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A UTF-8 CSV: this app's layout (docs/clinical-import.md) or a REDCap "
                                 "record export (docs/redcap.md).")


class ClinicalImportResultSerializer(serializers.Serializer):
    patients_created = serializers.IntegerField()
    patients_updated = serializers.IntegerField()
    exams_created = serializers.IntegerField()
    exams_updated = serializers.IntegerField()
    summary = serializers.CharField()


class RoiValuesImportSerializer(serializers.Serializer):
    file = serializers.FileField(help_text=f"A UTF-8 CSV with the columns {', '.join(ROI_VALUE_COLUMNS)} "
                                 "(docs/roi-import.md).")


class RoiValuesImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    summary = serializers.CharField()


class BidsImportSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A zip of a BIDS dataset folder (with dataset_description.json and "
                                 "participants.tsv); docs/bids.md.")


class TransferSerializer(serializers.Serializer):
    """A BIDS export or import job (exchange.models.Transfer): poll it until `status` is succeeded or failed."""

    id = serializers.UUIDField(source="uid")
    kind = serializers.CharField(help_text="export or import.")
    status = serializers.CharField(help_text="queued (waiting for a worker), running, succeeded or failed.")
    state = serializers.CharField(help_text="The status in words, as the job's page shows it.")
    stage = serializers.CharField(help_text="What a running job is doing.")
    percent = serializers.FloatField()
    message = serializers.CharField(help_text="The outcome: what was exported or imported, or why it failed.")
    problems = serializers.ListField(child=serializers.CharField(),
                                     help_text="A refused import: every problem, naming the dataset file. "
                                               "Nothing was imported.")
    result = serializers.DictField(help_text="Export: participants, sessions, with_derivatives. Import: patients, "
                                             "exams, scans, rois, external_values, notes, summary.")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    download = serializers.SerializerMethodField(help_text="A succeeded export's zip, until it expires (a day).")

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_download(self, transfer) -> str | None:
        if transfer.file is None:
            return None
        url = reverse("api:transfer-download", args=[transfer.study_id, transfer.uid])
        return self.context["request"].build_absolute_uri(url)
