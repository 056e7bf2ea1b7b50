"""Imports and exports over the API: the clinical CSV, REDCap, BIDS and dashboard-dataset pages' transfers.

Each operation has the rule of the page that does it: any member downloads (REDCap records and
dictionary, the dataset CSV, a BIDS zip), only coordinators import (clinical CSV, ROI values measured
elsewhere, a BIDS zip). Imports are all or nothing; a refused CSV comes back as a 400 whose `file`
messages name the row and column and what to change.

BIDS exports and imports take minutes, so they are jobs (exchange.transfers): the request answers
202 with the job's address in `Location`; the job says its progress, then its outcome (a refused
import's problems name the dataset file) and, for an export, where to download the zip.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.http import FileResponse, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import parsers, status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from clinical import redcap
from clinical.importer import import_clinical_csv, size_problem
from clinical.scans import declared_too_large
from dashboard.dataset import build_dataset, csv_download
from dashboard.importer import import_roi_values
from exchange import transfers
from exchange.export import Selection
from exchange.models import Transfer

from . import serializers as s
from .views import StudyScoped, refused

CSV = {(200, "text/csv"): OpenApiTypes.BINARY}
ZIP = {(200, "application/zip"): OpenApiTypes.BINARY}
TOO_LARGE = OpenApiResponse(response=OpenApiTypes.OBJECT,
                            description="Larger than SCAN_UPLOAD_MAX_BYTES; nothing was read.")
STARTED = OpenApiResponse(response=s.TransferSerializer, description="The job was saved; follow it at `Location`.")
LOCATION = OpenApiParameter("Location", OpenApiTypes.URI, OpenApiParameter.HEADER, response=[202],
                            description="The job: GET it until its status is succeeded or failed.")


def csv_response(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def rows_refused(errors: list) -> ValidationError:
    """A refused CSV: one message per bad cell, 'row N, column 'X' (value 'V'): what to change'."""
    return ValidationError({"file": [str(error) for error in errors]})


def counts(result, *names: str) -> dict:
    return {**{name: getattr(result, name) for name in names}, "summary": result.summary()}


class TransferViewSet(StudyScoped, viewsets.ViewSet):
    """Whole-study transfers: CSV, REDCap and BIDS in and out, and the dashboard's dataset."""

    parser_classes = [parsers.MultiPartParser]  # every import is a file upload
    edit_actions = frozenset({"clinical_import", "roi_values_import", "bids_import"})
    download_actions = frozenset({"redcap_records", "redcap_dictionary", "dataset", "transfer_download"})

    @extend_schema(request={"multipart/form-data": s.ClinicalImportSerializer},
                   responses={200: s.ClinicalImportResultSerializer})
    def clinical_import(self, request, study_id: int) -> Response:
        """Import patients and exams from a CSV (this app's layout or a REDCap export), as the import page does.

        All or nothing; each change is audited with your name and the reason 'CSV import: <file name>'
        (or 'REDCap import: ...').
        """
        upload = s.ClinicalImportSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        file = upload.validated_data["file"]
        if problem := size_problem(file.size):
            raise ValidationError({"file": [problem]})
        result = import_clinical_csv(self.study, file.read(), filename=file.name, user=request.user)
        if not result.ok:
            raise rows_refused(result.errors)
        return Response(counts(result, "patients_created", "patients_updated", "exams_created", "exams_updated"))

    @extend_schema(responses=CSV)
    def redcap_records(self, request, study_id: int) -> HttpResponse:
        """The study's patients and exams as a REDCap raw record export (docs/redcap.md)."""
        return csv_response(redcap.data_csv(self.study), redcap.data_filename(self.study))

    @extend_schema(responses=CSV)
    def redcap_dictionary(self, request, study_id: int) -> HttpResponse:
        """The REDCap data dictionary that the record export fits (import it into REDCap first)."""
        return csv_response(redcap.dictionary_csv(), redcap.dictionary_filename(self.study))

    @extend_schema(parameters=[s.DatasetQuerySerializer], responses=CSV)
    def dataset(self, request, study_id: int) -> HttpResponse:
        """The dashboard's dataset as CSV: one row per measured scan with its nearest exam and ROI values (ppb)."""
        query = s.DatasetQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = build_dataset(self.study, query.filters())
        return csv_response(*csv_download(study_id, rows))

    @extend_schema(request={"multipart/form-data": s.RoiValuesImportSerializer},
                   responses={200: s.RoiValuesImportResultSerializer})
    def roi_values_import(self, request, study_id: int) -> Response:
        """Import ROI values measured elsewhere (patient_code, scan_date, roi, value_ppb), all or nothing.

        A value for the same patient, scan date and ROI replaces the one imported before.
        """
        upload = s.RoiValuesImportSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        file = upload.validated_data["file"]
        result = import_roi_values(self.study, file.read(), filename=file.name, user=request.user)
        if not result.ok:
            raise rows_refused(result.errors)
        return Response(counts(result, "created", "updated"))

    def started(self, transfer: Transfer) -> Response:
        """202 with the job, and its address in Location."""
        location = self.request.build_absolute_uri(reverse("api:transfer-detail", args=[self.study.pk, transfer.uid]))
        return Response(s.TransferSerializer(transfer, context={"request": self.request}).data,
                        status=status.HTTP_202_ACCEPTED, headers={"Location": location})

    @extend_schema(request=None, parameters=[s.BidsExportQuerySerializer, LOCATION], responses={202: STARTED})
    def bids_export(self, request, study_id: int) -> Response:
        """Start exporting the study, or the patients and sessions the filters select, as a BIDS zip (docs/bids.md).

        Diagnosis and patient choose participants; site, scan dates and the exam-scan gap choose sessions.
        The job's `download` gives the zip once it is written; it is kept for BIDS_EXPORT_KEPT_FOR (a day).
        """
        query = s.BidsExportQuerySerializer(data=request.query_params, context={"study": self.study})
        query.is_valid(raise_exception=True)
        selection = Selection(query.filters(), query.validated_data.get("patient", []))
        if not selection.patients(self.study).exists():
            raise ValidationError("No patient matches this selection; widen the filters.")
        return self.started(transfers.start_export(self.study, selection, request.user))

    @extend_schema(request={"multipart/form-data": s.BidsImportSerializer}, parameters=[LOCATION],
                   responses={202: STARTED, 413: TOO_LARGE})
    def bids_import(self, request, study_id: int) -> Response:
        """Start importing a BIDS dataset zip: participants, exams, MEGRE sessions (queued for reconstruction), ROIs.

        All or nothing: a refused dataset's job fails with every problem under `problems`, naming the
        dataset file; a succeeded one's `result` counts what was created.
        """
        if declared_too_large(request):
            return Response({"detail": f"The upload is larger than the {settings.SCAN_UPLOAD_MAX_BYTES} byte limit; "
                             "export a smaller selection (by diagnosis or patients) and import it in parts."},
                            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        upload = s.BidsImportSerializer(data=request.data)
        if not upload.is_valid():
            return refused(upload.errors)
        return self.started(transfers.start_import(self.study, upload.validated_data["file"], request.user))

    def transfer_of(self, transfer_uid: uuid.UUID) -> Transfer:
        return get_object_or_404(Transfer, study=self.study, uid=transfer_uid)

    @extend_schema(responses=s.TransferSerializer)
    def transfer(self, request, study_id: int, transfer_uid: uuid.UUID) -> Response:
        """A BIDS export or import job: its status and progress, then its outcome and, for an export, its zip."""
        return Response(s.TransferSerializer(self.transfer_of(transfer_uid), context={"request": request}).data)

    @extend_schema(responses=ZIP)
    def transfer_download(self, request, study_id: int, transfer_uid: uuid.UUID) -> FileResponse:
        """A succeeded export's BIDS zip (until it expires)."""
        transfer = self.transfer_of(transfer_uid)
        if transfer.file is None or not transfer.file.is_file():
            raise NotFound("This export is not ready, or it expired; export again.")
        return FileResponse(transfer.file.open("rb"), as_attachment=True, filename=transfer.file_name,
                            content_type="application/zip")
