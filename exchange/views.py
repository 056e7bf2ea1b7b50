"""BIDS pages: members export a study or a selection, coordinators import a BIDS zip; both run as jobs.

Starting one saves a Transfer and answers at once with its page, which follows the job (progress,
then the download link, the summary or the problems) by polling its status JSON.
"""
from __future__ import annotations

import uuid

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from clinical.access import membership_or_404
from clinical.models import Diagnosis, Membership
from clinical.scans import declared_too_large, too_large_message

from . import transfers
from .export import Selection
from .models import Transfer

RECENT = 20


class ImportForm(forms.Form):
    file = forms.FileField(label="BIDS dataset (zip)",
                           help_text="A zip of the dataset folder (with dataset_description.json and participants.tsv).")


def bids_page(request: HttpRequest, study_id: int) -> HttpResponse:
    membership = membership_or_404(request, study_id)
    study = membership.study
    return render(request, "exchange/bids.html", {
        "study": study, "membership": membership, "diagnoses": Diagnosis.choices,
        "codes": list(study.patients.order_by("code").values_list("code", flat=True)),
        "transfers": study.transfers.select_related("requested_by")[:RECENT],
        "kept_hours": settings.BIDS_EXPORT_KEPT_FOR / 3600,
    })


@require_POST
def export_start(request: HttpRequest, study_id: int) -> HttpResponse:
    """Start exporting the selection; its job page follows it."""
    membership = membership_or_404(request, study_id)
    selection = Selection.from_query(request.POST)
    if not selection.patients(membership.study).exists():
        messages.error(request, "No patient matches this selection; widen the filters.")
        return redirect("bids", study_id)
    return redirect(transfers.start_export(membership.study, selection, request.user))


def _transfer(membership: Membership, uid: uuid.UUID) -> Transfer:
    return get_object_or_404(Transfer, study=membership.study, uid=uid)


def transfer_page(request: HttpRequest, study_id: int, uid: uuid.UUID) -> HttpResponse:
    membership = membership_or_404(request, study_id)
    transfer = _transfer(membership, uid)
    return render(request, "exchange/transfer.html", {"study": membership.study, "transfer": transfer,
                                                      "status": transfer.as_status()})


def transfer_status(request: HttpRequest, study_id: int, uid: uuid.UUID) -> JsonResponse:
    membership = membership_or_404(request, study_id)
    return JsonResponse(_transfer(membership, uid).as_status())


def transfer_download(request: HttpRequest, study_id: int, uid: uuid.UUID) -> FileResponse:
    membership = membership_or_404(request, study_id)
    transfer = _transfer(membership, uid)
    if transfer.file is None or not transfer.file.is_file():
        raise Http404("This export is not ready, or it expired; export again.")
    return FileResponse(transfer.file.open("rb"), as_attachment=True, filename=transfer.file_name,
                        content_type="application/zip")


@transaction.non_atomic_requests  # no transaction held open while gigabytes arrive
@require_http_methods(["GET", "POST"])
def import_page(request: HttpRequest, study_id: int) -> HttpResponse:
    membership = membership_or_404(request, study_id, edit=True)
    context = {"study": membership.study, "limit_bytes": settings.SCAN_UPLOAD_MAX_BYTES}
    if request.method == "POST" and declared_too_large(request):
        context["problems"] = [too_large_message("export a smaller selection (by diagnosis or patients) and import it "
                                                 "in parts")]
        return render(request, "exchange/import.html", {**context, "form": ImportForm()}, status=413)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        return redirect(transfers.start_import(membership.study, form.cleaned_data["file"], request.user))
    return render(request, "exchange/import.html", {**context, "form": form})
