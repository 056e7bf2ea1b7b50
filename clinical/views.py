"""Clinical pages: studies, patients, exams, CSV import, REDCap export. Thin views over the models."""
from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.db.models import OuterRef, Subquery
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from . import redcap
from .access import membership_or_404
from .forms import ExamForm, ImportForm, PatientForm, ScanUploadForm
from .importer import import_clinical_csv, size_problem, template_csv
from .ingests import receive
from .models import Diagnosis, Exam, Ingest, Membership, Patient, ScanSession, audit_trail
from .panels import patient_panels, scan_panels, study_links
from .held import HeldUpload
from .tus import tus_id_list
from .scans import declared_too_large, too_large_message


def _patient(membership: Membership, patient_id: int) -> Patient:
    return get_object_or_404(Patient, pk=patient_id, study=membership.study)


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    memberships = Membership.objects.filter(user=request.user).select_related("study").order_by("study__name")
    return render(request, "clinical/home.html", {"memberships": memberships})


@require_safe
def study(request: HttpRequest, study_id: int) -> HttpResponse:
    membership = membership_or_404(request, study_id)
    latest = Exam.objects.filter(patient=OuterRef("pk")).order_by("-date")
    patients = membership.study.patients.annotate(
        last_exam=Subquery(latest.values("date")[:1]),
        spasticity=Subquery(latest.values("spasticity")[:1]),
        hyperreflexia=Subquery(latest.values("hyperreflexia")[:1]),
        alsfrs_total=Subquery(latest.values("alsfrs_total")[:1]),
    )
    diagnosis = request.GET.get("diagnosis", "")
    if diagnosis in Diagnosis.values:
        patients = patients.filter(diagnosis=diagnosis)
    return render(
        request,
        "clinical/study.html",
        {"study": membership.study, "membership": membership, "patients": patients,
         "diagnoses": Diagnosis.choices, "diagnosis": diagnosis, "study_links": study_links(membership.study)},
    )


@require_http_methods(["GET", "POST"])
def patient_new(request: HttpRequest, study_id: int) -> HttpResponse:
    membership = membership_or_404(request, study_id, edit=True)
    form = PatientForm(request.POST or None, study=membership.study)
    if request.method == "POST" and form.is_valid():
        patient = form.save()
        messages.success(request, f"Patient {patient.code} created.")
        return redirect(patient)
    return render(request, "clinical/patient_form.html", {"form": form, "study": membership.study})


@require_safe
def patient(request: HttpRequest, study_id: int, patient_id: int) -> HttpResponse:
    membership = membership_or_404(request, study_id)
    patient = _patient(membership, patient_id)
    return render(
        request,
        "clinical/patient.html",
        {"study": membership.study, "membership": membership, "patient": patient,
         "exams": patient.exams.all(), "audit": audit_trail(patient), "uploads": patient.unstored_uploads(),
         "panels": patient_panels(request, patient, membership)},
    )


@require_http_methods(["GET", "POST"])
def patient_edit(request: HttpRequest, study_id: int, patient_id: int) -> HttpResponse:
    membership = membership_or_404(request, study_id, edit=True)
    patient = _patient(membership, patient_id)
    form = PatientForm(request.POST or None, instance=patient)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Patient {patient.code} updated.")
        return redirect(patient)
    return render(request, "clinical/patient_form.html", {"form": form, "study": membership.study, "patient": patient})


@require_http_methods(["GET", "POST"])
def exam_new(request: HttpRequest, study_id: int, patient_id: int) -> HttpResponse:
    membership = membership_or_404(request, study_id, edit=True)
    patient = _patient(membership, patient_id)
    form = ExamForm(request.POST or None, patient=patient)
    if request.method == "POST" and form.is_valid():
        exam = form.save()
        messages.success(request, f"Exam of {exam.date:%Y-%m-%d} saved.")
        if warning := exam.onset_warning():
            messages.warning(request, warning)
        return redirect(patient)
    return render(request, "clinical/exam_form.html", {"form": form, "study": membership.study, "patient": patient})


@require_http_methods(["GET", "POST"])
def exam_edit(request: HttpRequest, study_id: int, patient_id: int, exam_id: int) -> HttpResponse:
    membership = membership_or_404(request, study_id, edit=True)
    patient = _patient(membership, patient_id)
    exam = get_object_or_404(Exam, pk=exam_id, patient=patient)
    form = ExamForm(request.POST or None, instance=exam)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Exam of {exam.date:%Y-%m-%d} updated.")
        if warning := exam.onset_warning():
            messages.warning(request, warning)
        return redirect(patient)
    return render(
        request, "clinical/exam_form.html", {"form": form, "study": membership.study, "patient": patient, "exam": exam}
    )


@require_http_methods(["GET", "POST"])
def import_clinical(request: HttpRequest, study_id: int) -> HttpResponse:
    membership = membership_or_404(request, study_id, edit=True)
    form = ImportForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if problem := size_problem(upload.size):
            form.add_error("file", problem)
        else:
            result = import_clinical_csv(membership.study, upload.read(), filename=upload.name, user=request.user)
            if result.ok:
                messages.success(request, f"Imported {upload.name}: {result.summary()}")
                for warning in result.warnings:
                    messages.warning(request, f"{upload.name}, {warning}")
                return redirect(membership.study)
    return render(request, "clinical/import.html", {"form": form, "study": membership.study, "result": result})


@require_safe
def import_template(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(template_csv(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="qsmstudy-clinical-template.csv"'
    return response


def _csv_download(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_safe
def redcap_data(request: HttpRequest, study_id: int) -> HttpResponse:
    """The study's patients and exams as a REDCap raw record export; any member may download, like the dataset CSV."""
    membership = membership_or_404(request, study_id)
    return _csv_download(redcap.data_csv(membership.study), redcap.data_filename(membership.study))


@require_safe
def redcap_dictionary(request: HttpRequest, study_id: int) -> HttpResponse:
    membership = membership_or_404(request, study_id)
    return _csv_download(redcap.dictionary_csv(), redcap.dictionary_filename(membership.study))


@transaction.non_atomic_requests
@require_http_methods(["GET", "POST"])
def scan_upload(request: HttpRequest, study_id: int, patient_id: int) -> HttpResponse:
    """Receive the files, then hand them to the ingest worker: the check runs on the ingest's page."""
    membership = membership_or_404(request, study_id, edit=True)
    patient = _patient(membership, patient_id)
    context = {"study": membership.study, "patient": patient, "limit_bytes": settings.SCAN_UPLOAD_MAX_BYTES}
    if request.method == "GET":
        return render(request, "clinical/scan_upload.html", {**context, **_correction(request, patient)})
    if declared_too_large(request):
        # Refuse before reading the body: nothing reaches the disk.
        context["refused"] = too_large_message()
        return render(request, "clinical/scan_upload.html", {**context, "form": ScanUploadForm(patient=patient)},
                      status=413)
    data = request.POST.copy()
    data["held"] = ""  # set again only when the files are kept
    token = request.POST.get("held", "")
    try:
        held = _received_files(request, patient) or (HeldUpload.find(token, request.user, patient) if token else None)
    except ValueError as exc:  # resumable uploads that cannot be used
        form = ScanUploadForm(data, patient=patient)
        form.add_error("files", str(exc))
        return render(request, "clinical/scan_upload.html", {**context, "form": form})
    if held:
        data["held"] = held.token
    form = ScanUploadForm(data, patient=patient)
    if token and held is None:
        form.add_error("files", "The files kept from your last submit are gone (they are kept for a day); "
                                "choose them again.")
    elif held is None:
        form.add_error("files", "Choose the scan's files, a zip or a folder.")
    if not form.is_valid():
        return render(request, "clinical/scan_upload.html", {**context, "form": form, "held": held})
    files = held.folder / "files"
    received = receive(patient, form.typed_fields(), held.paths, [p.relative_to(files).as_posix() for p in held.paths],
                       request.user)
    held.discard()
    return redirect(received)


def _correction(request: HttpRequest, patient: Patient) -> dict:
    """The form again after a refused ingest whose files were fine: its typed fields and its kept files."""
    held = HeldUpload.find(request.GET.get("held", ""), request.user, patient)
    refused = patient.ingests.filter(uid=request.GET.get("ingest"), held=held.token).first() if held else None
    if refused is None:
        return {"form": ScanUploadForm(patient=patient)}
    form = ScanUploadForm({**refused.fields, "held": held.token}, patient=patient)
    form.is_valid()
    for field, problems in refused.errors.items():
        for problem in problems:
            form.add_error(field if field in form.fields else None, problem)
    return {"form": form, "held": held}


@require_safe
def ingest(request: HttpRequest, study_id: int, ingest_uid) -> HttpResponse:
    membership = membership_or_404(request, study_id)
    received = get_object_or_404(Ingest.objects.select_related("patient", "scan"), uid=ingest_uid,
                                 study=membership.study)
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse(received.as_status())
    if received.scan:
        return redirect(received.scan)
    return render(request, "clinical/ingest.html",
                  {"study": membership.study, "patient": received.patient, "ingest": received})


def _received_files(request: HttpRequest, patient: Patient) -> HeldUpload | None:
    """The submit's files (picked, under a chosen folder, or sent ahead with tus) on disk, or None if none came.

    Raises ValueError, naming the file, for resumable uploads that are unfinished or not the user's.
    """
    files, folder = request.FILES.getlist("files"), request.FILES.getlist("folder")
    tus_ids = request.POST.get("tus_uploads", "")
    if not files and not folder and not tus_ids:
        return None
    if replaced := HeldUpload.find(request.POST.get("held", ""), request.user, patient):
        replaced.discard()  # new files chosen: the kept ones are not needed any more
    if tus_ids:
        return HeldUpload.take(tus_id_list(tus_ids), request.user, patient)
    names = [upload.name for upload in files] + _folder_names(folder, request.POST.get("folder_paths", ""))
    return HeldUpload.receive(files + folder, names, request.user, patient)


def _folder_names(uploads: list, paths_json: str) -> list[str]:
    """Relative paths inside a chosen folder, which upload.js records (Django keeps only base names)."""
    try:
        paths = json.loads(paths_json or "[]")
    except ValueError:
        paths = []
    matches = (isinstance(paths, list) and len(paths) == len(uploads)
               and all(isinstance(p, str) and p.replace("\\", "/").rsplit("/", 1)[-1] == u.name
                       for p, u in zip(paths, uploads)))
    return paths if matches else [upload.name for upload in uploads]


@require_safe
def scan(request: HttpRequest, study_id: int, scan_id: int) -> HttpResponse:
    membership = membership_or_404(request, study_id)
    scan = get_object_or_404(ScanSession.objects.select_related("patient"), pk=scan_id, study=membership.study)
    exam, gap_days = scan.nearest_exam()
    return render(
        request,
        "clinical/scan.html",
        {"study": membership.study, "membership": membership, "scan": scan, "patient": scan.patient,
         "exam": exam, "gap_days": gap_days, "panels": scan_panels(request, scan, membership)},
    )


@require_safe
def scan_file(request: HttpRequest, study_id: int, scan_id: int, kind: str) -> FileResponse:
    """Scan files go only to members of the scan's study (MEDIA_ROOT is never served directly)."""
    membership = membership_or_404(request, study_id)
    scan = get_object_or_404(ScanSession, pk=scan_id, study=membership.study)
    if kind not in ScanSession.FILES or not scan.path(kind).exists():
        raise Http404("No such file for this scan.")
    name = f"{scan.patient.code}_{scan.scan_date:%Y%m%d}_{ScanSession.FILES[kind]}"
    return FileResponse(scan.path(kind).open("rb"), as_attachment=kind != "preview", filename=name)
