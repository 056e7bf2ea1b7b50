"""Clinical pages: studies, patients, exams, CSV import. Thin views over the models."""
from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from .forms import ExamForm, ImportForm, PatientForm
from .importer import import_clinical_csv, template_csv
from .models import Diagnosis, Exam, Membership, Patient, Study, audit_trail

MAX_IMPORT_BYTES = 10 * 1024 * 1024


def _membership(request: HttpRequest, study_id: int, *, edit: bool = False) -> Membership:
    """The user's membership of the study: 404 for outsiders, 403 for read-only members asked to edit."""
    membership = get_object_or_404(Membership.objects.select_related("study"), study_id=study_id, user=request.user)
    if edit and not membership.can_edit:
        raise PermissionDenied("Only the study's coordinators can change its records.")
    return membership


def _patient(membership: Membership, patient_id: int) -> Patient:
    return get_object_or_404(Patient, pk=patient_id, study=membership.study)


def home(request: HttpRequest) -> HttpResponse:
    memberships = Membership.objects.filter(user=request.user).select_related("study").order_by("study__name")
    return render(request, "clinical/home.html", {"memberships": memberships})


def study(request: HttpRequest, study_id: int) -> HttpResponse:
    membership = _membership(request, study_id)
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
         "diagnoses": Diagnosis.choices, "diagnosis": diagnosis},
    )


@require_http_methods(["GET", "POST"])
def patient_new(request: HttpRequest, study_id: int) -> HttpResponse:
    membership = _membership(request, study_id, edit=True)
    form = PatientForm(request.POST or None, study=membership.study)
    if request.method == "POST" and form.is_valid():
        patient = form.save()
        messages.success(request, f"Patient {patient.code} created.")
        return redirect(patient)
    return render(request, "clinical/patient_form.html", {"form": form, "study": membership.study})


def patient(request: HttpRequest, study_id: int, patient_id: int) -> HttpResponse:
    membership = _membership(request, study_id)
    patient = _patient(membership, patient_id)
    return render(
        request,
        "clinical/patient.html",
        {"study": membership.study, "membership": membership, "patient": patient,
         "exams": patient.exams.all(), "audit": audit_trail(patient)},
    )


@require_http_methods(["GET", "POST"])
def patient_edit(request: HttpRequest, study_id: int, patient_id: int) -> HttpResponse:
    membership = _membership(request, study_id, edit=True)
    patient = _patient(membership, patient_id)
    form = PatientForm(request.POST or None, instance=patient)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Patient {patient.code} updated.")
        return redirect(patient)
    return render(request, "clinical/patient_form.html", {"form": form, "study": membership.study, "patient": patient})


@require_http_methods(["GET", "POST"])
def exam_new(request: HttpRequest, study_id: int, patient_id: int) -> HttpResponse:
    membership = _membership(request, study_id, edit=True)
    patient = _patient(membership, patient_id)
    form = ExamForm(request.POST or None, patient=patient)
    if request.method == "POST" and form.is_valid():
        exam = form.save()
        messages.success(request, f"Exam of {exam.date:%Y-%m-%d} saved.")
        return redirect(patient)
    return render(request, "clinical/exam_form.html", {"form": form, "study": membership.study, "patient": patient})


@require_http_methods(["GET", "POST"])
def exam_edit(request: HttpRequest, study_id: int, patient_id: int, exam_id: int) -> HttpResponse:
    membership = _membership(request, study_id, edit=True)
    patient = _patient(membership, patient_id)
    exam = get_object_or_404(Exam, pk=exam_id, patient=patient)
    form = ExamForm(request.POST or None, instance=exam)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Exam of {exam.date:%Y-%m-%d} updated.")
        return redirect(patient)
    return render(
        request, "clinical/exam_form.html", {"form": form, "study": membership.study, "patient": patient, "exam": exam}
    )


@require_http_methods(["GET", "POST"])
def import_clinical(request: HttpRequest, study_id: int) -> HttpResponse:
    membership = _membership(request, study_id, edit=True)
    form = ImportForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            form.add_error("file", f"The file is {upload.size // 1024} KiB; the limit is {MAX_IMPORT_BYTES // 1024} KiB. Split it.")
        else:
            result = import_clinical_csv(membership.study, upload.read(), filename=upload.name, user=request.user)
            if result.ok:
                messages.success(request, f"Imported {upload.name}: {result.summary()}")
                return redirect(membership.study)
    return render(request, "clinical/import.html", {"form": form, "study": membership.study, "result": result})


def import_template(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(template_csv(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="qsmstudy-clinical-template.csv"'
    return response
