"""BIDS pages: export a study or a selection as a zip (members), import a BIDS zip (coordinators)."""
from __future__ import annotations

from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from clinical.access import membership_or_404
from clinical.models import Diagnosis
from clinical.scans import declared_too_large, too_large_message

from .export import Selection, export_to_temporary_file
from .importer import BidsImportError, import_bids


class ImportForm(forms.Form):
    file = forms.FileField(label="BIDS dataset (zip)",
                           help_text="A zip of the dataset folder (with dataset_description.json and participants.tsv).")


def bids_page(request: HttpRequest, study_id: int) -> HttpResponse:
    membership = membership_or_404(request, study_id)
    study = membership.study
    return render(request, "exchange/bids.html", {
        "study": study, "membership": membership, "diagnoses": Diagnosis.choices,
        "codes": list(study.patients.order_by("code").values_list("code", flat=True)),
    })


def export_zip(request: HttpRequest, study_id: int) -> HttpResponse:
    """The selection as a BIDS zip, written to an anonymous temporary file and streamed from there."""
    membership = membership_or_404(request, study_id)
    selection = Selection.from_query(request.GET)
    if not selection.patients(membership.study).exists():
        messages.error(request, "No patient matches this selection; widen the filters.")
        return redirect("bids", study_id)
    archive, summary = export_to_temporary_file(membership.study, selection)
    return FileResponse(archive, as_attachment=True, filename=f"{summary.name}.zip", content_type="application/zip")


@transaction.non_atomic_requests
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
        upload = form.cleaned_data["file"]
        try:
            result = import_bids(membership.study, Path(upload.temporary_file_path()), filename=upload.name,
                                 user=request.user)
        except BidsImportError as exc:
            context["problems"] = exc.problems
        else:
            messages.success(request, f"Imported {upload.name}: {result.summary()}.")
            for note in result.notes:
                messages.info(request, note)
            return redirect(membership.study)
    return render(request, "exchange/import.html", {**context, "form": form})
