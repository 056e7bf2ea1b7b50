"""The REST API: thin views over the pages' domain functions, each scoped to one study.

Access is the pages' (clinical.access.membership_or_404): members of the study only (404 for
everyone else), coordinators write clinical records, scans and ROIs, coordinators and investigators
start, cancel and retry reconstructions, viewers read.
"""
from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.views import SpectacularAPIView
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, parsers, serializers, status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from clinical.access import membership_or_404
from clinical.models import Exam, Ingest, Membership, Patient, ScanSession, Study, audit_trail
from clinical.ingests import receive, receive_resumable
from clinical.tus import tus_id_list
from clinical.scans import IngestRefused, declared_too_large, too_large_message
from dashboard.analysis import analyse
from dashboard.dataset import build_dataset
from recon import jobs, rois, tasks
from recon.models import ReconRun, RoiDefinition, RoiValue
from recon.roi_forms import SphereForm

from . import filters
from . import serializers as s
from .errors import flatten

DOWNLOAD = {(200, "application/octet-stream"): OpenApiTypes.BINARY}
RUN_FILES = ["chi", "provenance", "mask", "total_field_ppm", "local_field_ppm", "preview"]
CONFLICT = OpenApiResponse(response=OpenApiTypes.OBJECT, description="The run's status does not allow this now.")


def kind_parameter(kinds: list[str]) -> OpenApiParameter:
    return OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=kinds, description="Which file.")


class StudyScoped:
    """Views under /api/v1/studies/{study_id}/: members only (404 for others), roles decide the writes."""

    edit_actions: frozenset[str] = frozenset()  # coordinators
    analyse_actions: frozenset[str] = frozenset()  # coordinators and investigators
    download_actions: frozenset[str] = frozenset()  # answered with a file whatever the Accept header
    membership: Membership

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)  # authentication first: 401 before 404
        action = getattr(self, "action", None)
        self.membership = membership_or_404(request, kwargs["study_id"], edit=action in self.edit_actions,
                                            analyse=action in self.analyse_actions)

    def perform_content_negotiation(self, request, force: bool = False):
        # Downloads are files, not rendered data: any Accept header gets them (and errors still come as JSON).
        download = getattr(self, "action", None) in self.download_actions
        return super().perform_content_negotiation(request, force=force or download)

    @property
    def study(self) -> Study:
        return self.membership.study

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        if hasattr(self, "membership"):
            context["study"] = self.study
        return context

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no study
            return self.queryset.none()
        return self.in_study(self.queryset)

    def in_study(self, queryset):
        raise NotImplementedError


def refused(errors: dict) -> Response:
    return Response(flatten(errors), status=status.HTTP_400_BAD_REQUEST)


def file_response(path, filename: str) -> FileResponse:
    if not path.exists():
        raise NotFound("That file is not there; it may not have been written yet.")
    return FileResponse(path.open("rb"), as_attachment=True, filename=filename,
                        content_type="application/octet-stream")


class StudyViewSet(viewsets.ReadOnlyModelViewSet):
    """The studies you are a member of, with your role in each."""

    serializer_class = s.StudySerializer
    lookup_url_kwarg = "study_id"
    queryset = Study.objects.all()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Study.objects.none()
        return Study.objects.for_user(self.request.user)

    def get_serializer_context(self) -> dict:
        roles = {} if getattr(self, "swagger_fake_view", False) else dict(
            Membership.objects.filter(user=self.request.user).values_list("study_id", "role"))
        return {**super().get_serializer_context(), "roles": roles}


class AuditedChange:
    """PATCH of a clinical record: the changed fields and a reason, saved with an audit record."""

    change_serializer_class: type[serializers.Serializer]

    def partial_update(self, request, *args, **kwargs) -> Response:
        record = self.get_object()
        change = self.change_serializer_class(record, data=request.data, context=self.get_serializer_context())
        change.is_valid(raise_exception=True)
        change.save()
        return Response(self.get_serializer(record).data)


@extend_schema_view(partial_update=extend_schema(request=s.PatientChangeSerializer, responses=s.PatientSerializer))
class PatientViewSet(StudyScoped, AuditedChange, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                     mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Pseudonymous patients of the study; changes are audited with your name and reason."""

    queryset = Patient.objects.all()
    serializer_class = s.PatientSerializer
    change_serializer_class = s.PatientChangeSerializer
    filterset_class = filters.PatientFilter
    lookup_url_kwarg = "patient_id"
    edit_actions = frozenset({"create", "partial_update"})

    def in_study(self, queryset):
        return queryset.filter(study=self.study)

    @extend_schema(responses=s.AuditEntrySerializer(many=True), filters=False)
    def history(self, request, study_id: int, patient_id: int) -> Response:
        """Every recorded change to the patient and their exams, newest first (who, when, what, why)."""
        page = self.paginate_queryset(audit_trail(self.get_object()))
        return self.get_paginated_response(s.AuditEntrySerializer(page, many=True).data)


@extend_schema_view(partial_update=extend_schema(request=s.ExamChangeSerializer, responses=s.ExamSerializer))
class ExamViewSet(StudyScoped, AuditedChange, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                  mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Dated clinical exams; spasticity, hyperreflexia, ALSFRS-R totals and durations are derived."""

    queryset = Exam.objects.select_related("patient")
    serializer_class = s.ExamSerializer
    change_serializer_class = s.ExamChangeSerializer
    filterset_class = filters.ExamFilter
    lookup_url_kwarg = "exam_id"
    edit_actions = frozenset({"create", "partial_update"})

    def in_study(self, queryset):
        return queryset.filter(patient__study=self.study)


class ScanViewSet(StudyScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Uploaded scans (de-identified, converted); every new scan is queued for reconstruction."""

    queryset = ScanSession.objects.select_related("uploaded_by")
    serializer_class = s.ScanSerializer
    filterset_class = filters.ScanFilter
    lookup_url_kwarg = "scan_id"
    edit_actions = frozenset({"create"})
    download_actions = frozenset({"file"})

    def in_study(self, queryset):
        return queryset.filter(study=self.study)

    def get_parsers(self):
        return [parsers.MultiPartParser()] if self.request and self.request.method == "POST" else super().get_parsers()

    @extend_schema(
        request={"multipart/form-data": s.ScanUploadSerializer},
        responses={202: s.IngestSerializer, 413: OpenApiResponse(
            response=OpenApiTypes.OBJECT, description="Larger than SCAN_UPLOAD_MAX_BYTES; nothing was read.")},
    )
    def create(self, request, study_id: int) -> Response:
        """Upload a scan: the files are received and checked by a worker; follow the ingest in `Location`.

        The answer is 202 with the ingest; GET its URL until `status` is `stored` (then `scan` and
        `scan_url`) or `refused` (then `errors`, the same messages a synchronous check gave; nothing saved).
        """
        if declared_too_large(request):
            return Response({"detail": too_large_message()}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        upload = s.ScanUploadSerializer(data=request.data, context=self.get_serializer_context())
        if not upload.is_valid():
            return refused(upload.errors)
        data = dict(upload.validated_data)
        patient, files, tus_ids = data.pop("patient"), data.pop("files", None), data.pop("tus_uploads", None)
        reconstruction = {name: data.pop(name) for name in s.RunParamsSerializer().fields if name in data} or None
        try:
            if tus_ids:
                received = receive_resumable(patient, data, tus_id_list(tus_ids), request.user,
                                             reconstruction=reconstruction)
            else:
                received = receive(patient, data, files, None, request.user, reconstruction=reconstruction)
        except IngestRefused as exc:
            return refused(exc.errors)
        except ValueError as exc:  # resumable uploads that cannot be used
            return refused({"tus_uploads": [str(exc)]})
        location = reverse("api:ingest-detail", args=[study_id, received.uid], request=request)
        return Response(s.IngestSerializer(received, context=self.get_serializer_context()).data,
                        status=status.HTTP_202_ACCEPTED, headers={"Location": location})

    @extend_schema(responses=DOWNLOAD, filters=False, parameters=[kind_parameter(list(ScanSession.FILES))])
    def file(self, request, study_id: int, scan_id: int, kind: str) -> FileResponse:
        """A scan file: magnitude or phase (4D NIfTI), sidecar (JSON), original (zip) or preview (PNG)."""
        scan = self.get_object()
        if kind not in ScanSession.FILES:
            raise NotFound(f"No {kind} file; choose one of {', '.join(ScanSession.FILES)}.")
        return file_response(scan.path(kind), f"{scan.patient.code}_{scan.scan_date:%Y%m%d}_{ScanSession.FILES[kind]}")


class IngestViewSet(StudyScoped, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Uploads being checked and stored (what a scan upload answers with 202)."""

    queryset = Ingest.objects.all()
    serializer_class = s.IngestSerializer
    lookup_field = "uid"
    lookup_url_kwarg = "ingest_uid"

    def in_study(self, queryset):
        return queryset.filter(study=self.study)


class RunViewSet(StudyScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """QSM reconstructions: start one with other parameters, follow its status, cancel, retry, use it."""

    queryset = ReconRun.objects.select_related("scan__patient", "created_by")
    serializer_class = s.RunSerializer
    filterset_class = filters.RunFilter
    lookup_url_kwarg = "run_id"
    analyse_actions = frozenset({"create", "cancel", "retry", "make_current"})
    download_actions = frozenset({"file"})

    def in_study(self, queryset):
        return queryset.filter(scan__study=self.study)

    @extend_schema(request=s.RunStartSerializer, responses={201: s.RunSerializer})
    def create(self, request, study_id: int) -> Response:
        """Queue a reconstruction of a scan (the scan's earlier runs are kept)."""
        start = s.RunStartSerializer(data=request.data, context=self.get_serializer_context())
        start.is_valid(raise_exception=True)
        params = dict(start.validated_data)
        run = tasks.queue_run(params.pop("scan"), params, user=request.user)
        return Response(self.get_serializer(run).data, status=status.HTTP_201_CREATED)

    def _act(self, done: bool, run: ReconRun, what: str) -> Response:
        run.refresh_from_db()
        if not done:
            return Response({"detail": f"Run {run.pk} is {run.status}; it cannot be {what} now."},
                            status=status.HTTP_409_CONFLICT)
        return Response(self.get_serializer(run).data)

    @extend_schema(request=None, responses={200: s.RunSerializer, 409: CONFLICT}, filters=False)
    def cancel(self, request, study_id: int, run_id: int) -> Response:
        """Cancel a queued or running reconstruction (the worker stops at its next progress report)."""
        run = self.get_object()
        return self._act(jobs.cancel(run), run, "cancelled")

    @extend_schema(request=None, responses={200: s.RunSerializer, 409: CONFLICT}, filters=False)
    def retry(self, request, study_id: int, run_id: int) -> Response:
        """Send a failed or cancelled run again, with the same parameters."""
        run = self.get_object()
        return self._act(tasks.retry(run), run, "retried")

    @extend_schema(request=None, responses={200: s.RunSerializer, 409: CONFLICT}, filters=False)
    def make_current(self, request, study_id: int, run_id: int) -> Response:
        """Use this succeeded run for the scan's ROI values and the analysis."""
        run = self.get_object()
        return self._act(tasks.make_current(run), run, "made current")

    @extend_schema(responses=DOWNLOAD, filters=False, parameters=[kind_parameter(RUN_FILES)])
    def file(self, request, study_id: int, run_id: int, kind: str) -> FileResponse:
        """A succeeded run's output: chi (ppm), provenance JSON, mask, fields or preview."""
        run = self.get_object()
        if run.status != ReconRun.Status.SUCCEEDED or kind not in run.outputs:
            raise NotFound(f"Run {run.pk} has no {kind} output.")
        scan = run.scan
        return file_response(run.output_path(kind),
                             f"{scan.patient.code}_{scan.scan_date:%Y%m%d}_run{run.pk}_{run.outputs[kind]}")


class RoiViewSet(StudyScoped, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """ROI definitions on each scan's grid; a changed ROI is a new version and its values are recomputed."""

    queryset = RoiDefinition.objects.select_related("created_by")
    serializer_class = s.RoiSerializer
    filterset_class = filters.RoiFilter
    lookup_url_kwarg = "roi_id"
    edit_actions = frozenset({"sphere", "upload"})
    download_actions = frozenset({"mask"})

    def in_study(self, queryset):
        return queryset.filter(scan__study=self.study)

    def get_parsers(self):
        upload = self.request is not None and self.request.path.endswith("/upload")
        return [parsers.MultiPartParser()] if upload else super().get_parsers()

    def _saved(self, saved: list[RoiDefinition]) -> Response:
        return Response(self.get_serializer(saved, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.SphereSerializer, responses={201: s.RoiSerializer(many=True)}, filters=False)
    def sphere(self, request, study_id: int) -> Response:
        """Place a sphere (centre in scanner RAS mm, radius in mm) as the next version of a named ROI."""
        sphere = s.SphereSerializer(data=request.data, context=self.get_serializer_context())
        sphere.is_valid(raise_exception=True)
        data = dict(sphere.validated_data)
        scan = data.pop("scan")
        form = SphereForm(data, labels=self.study.roi_labels)
        if not form.is_valid():
            raise ValidationError(form.errors)
        data = form.cleaned_data
        centre = [data["x"], data["y"], data["z"]]
        try:
            mask = rois.sphere_roi(scan, centre, data["radius"], data["within_brain"])
        except rois.RoiError as exc:
            raise ValidationError(f"{exc} Nothing was saved.") from exc
        details = {data["name"]: {"centre_ras_mm": centre, "radius_mm": data["radius"],
                                  "within_brain": data["within_brain"]}}
        return self._saved(rois.save_rois(scan, {data["name"]: mask}, RoiDefinition.Source.SPHERE, details,
                                          request.user))

    @extend_schema(request={"multipart/form-data": s.RoiUploadSerializer}, responses={201: s.RoiSerializer(many=True)},
                   filters=False)
    def upload(self, request, study_id: int) -> Response:
        """Upload a label NIfTI on the scan's grid with its value=name mapping; each label becomes an ROI."""
        upload = s.RoiUploadSerializer(data=request.data, context=self.get_serializer_context())
        upload.is_valid(raise_exception=True)
        scan, file = upload.validated_data["scan"], upload.validated_data["file"]
        try:
            mapping = rois.parse_mapping(upload.validated_data["mapping"], self.study.roi_labels)
        except rois.RoiError as exc:
            raise ValidationError({"mapping": [f"{exc} Nothing was saved."]}) from exc
        try:
            image = rois.read_label_image(file.read(), file.name)
            masks = rois.masks_from_labels(image, mapping, scan, file.name)
        except rois.RoiError as exc:
            raise ValidationError({"file": [f"{exc} Nothing was saved."]}) from exc
        details = {name: {"file": file.name, "label_value": value} for value, name in mapping.items()}
        return self._saved(rois.save_rois(scan, masks, RoiDefinition.Source.UPLOADED, details, request.user))

    @extend_schema(responses=DOWNLOAD, filters=False)
    def mask(self, request, study_id: int, roi_id: int) -> FileResponse:
        """The ROI's mask as a uint8 NIfTI on the scan's grid."""
        roi = self.get_object()
        return file_response(roi.path, f"{roi.scan.patient.code}_{roi.scan.scan_date:%Y%m%d}_{roi.name}_v{roi.version}.nii.gz")


class RoiValueViewSet(StudyScoped, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Measurements: susceptibility statistics (ppb) of each ROI version on each reconstruction."""

    queryset = RoiValue.objects.select_related("roi", "run").order_by("run__scan_id", "roi__name", "-roi__version",
                                                                      "run_id")
    serializer_class = s.RoiValueSerializer
    filterset_class = filters.RoiValueFilter

    def in_study(self, queryset):
        return queryset.filter(run__scan__study=self.study)


class AnalysisView(StudyScoped, APIView):
    """The dashboard's comparisons on the dataset the filters select (dashboard.analysis)."""

    @extend_schema(parameters=[s.AnalysisQuerySerializer], responses=s.AnalysisSerializer)
    def get(self, request, study_id: int) -> Response:
        query = s.AnalysisQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        given, chosen = query.validated_data, query.filters()
        result = analyse(build_dataset(self.study, chosen), given["within"])
        comparisons = [{"section": section.title, **comparison.as_dict()}
                       for section in result["sections"] for comparison in section.comparisons]
        # Already plain JSON (dashboard.stats turns NaN into null); AnalysisSerializer documents its shape.
        return Response({"study": self.study.pk, "filters": chosen.as_dict(), "within": given["within"],
                         "n_rows": result["n_rows"], "n_patients": result["n_patients"], "comparisons": comparisons})


@extend_schema(exclude=True)  # not an operation: what every unknown address under /api/v1/ answers
class NotFoundView(APIView):
    permission_classes: list = []

    def initial(self, request, *args, **kwargs) -> None:
        raise NotFound(f"No API operation at {request.path}; the operations are listed at /api/docs.")


@extend_schema(exclude=True)  # the schema itself, not an operation on the study's data
class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 schema (YAML; ?format=json for JSON), for members with a token or session."""


class RootView(APIView):
    """Where to start: your studies, the schema and the docs."""

    @extend_schema(responses=s.RootSerializer)
    def get(self, request) -> Response:
        return Response({name: reverse(route, request=request) for name, route in
                         [("studies", "api:study-list"), ("schema", "api:schema"), ("docs", "api:docs"),
                          ("token", "api:token")]})

