"""Dashboard pages: comparisons, plots, the dataset as CSV, the analysis API and the ROI-value import."""
from __future__ import annotations

import pandas as pd
from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe

from clinical.access import membership_or_404
from clinical.models import Diagnosis, Membership

from . import plots
from .analysis import WITHIN, analyse
from .dataset import Filters, baseline, build_dataset, csv_download
from .importer import COLUMNS, import_roi_values

TABLE_ROWS = 200  # the page shows the first rows; the CSV has them all


def _patient_url(membership: Membership):
    study_id = membership.study_id
    return lambda patient_id: reverse("patient", args=[study_id, patient_id])


def _table(rows, url) -> list[dict]:
    """Rows for the page: a link to the patient and the cells in column order, dates and ppb formatted."""
    table = []
    for record in rows.to_dict("records"):
        cells = []
        for column, value in record.items():
            if column in ("patient_id", "scan_id"):
                continue
            if pd.isna(value):
                cells.append("")
            elif isinstance(value, pd.Timestamp):
                cells.append(value.strftime("%Y-%m-%d"))
            elif isinstance(value, float):
                cells.append(f"{value:.1f}")
            else:
                cells.append(value)
        table.append({"url": url(int(record["patient_id"])), "cells": cells})
    return table


def _dataset(request: HttpRequest, membership: Membership):
    filters = Filters.from_query(request.GET)
    return filters, build_dataset(membership.study, filters)


@require_safe
def dashboard(request: HttpRequest, study_id: int) -> HttpResponse:
    membership = membership_or_404(request, study_id)
    filters, rows = _dataset(request, membership)
    within = request.GET.get("within", "spasticity")
    result = analyse(rows, within)
    query = request.GET.urlencode()
    return render(request, "dashboard/dashboard.html", {
        "study": membership.study, "membership": membership, "filters": filters, "within": within,
        "within_choices": [(k, v[0]) for k, v in WITHIN.items()], "diagnoses": Diagnosis.choices,
        "result": result, "columns": [c for c in rows.columns if c not in ("patient_id", "scan_id")],
        "table": _table(rows.head(TABLE_ROWS), _patient_url(membership)), "table_rows": TABLE_ROWS,
        "query": query,
        "plot_list": [("groups", "Motor and control cortex by spasticity"), ("paired", "Motor vs control, paired"),
                      ("scatter", "Motor cortex vs Penn UMN score")],
    })


@require_safe
def dataset_csv(request: HttpRequest, study_id: int) -> HttpResponse:
    membership = membership_or_404(request, study_id)
    _, rows = _dataset(request, membership)
    text, filename = csv_download(study_id, rows)
    response = HttpResponse(text, content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_safe
def plot(request: HttpRequest, study_id: int, name: str, fmt: str) -> HttpResponse:
    membership = membership_or_404(request, study_id)
    _, rows = _dataset(request, membership)
    patients = baseline(rows) if len(rows) else rows
    url = _patient_url(membership)
    if name == "groups":
        flag = request.GET.get("sign", "spasticity")
        image = plots.groups_plot(patients, flag if flag in ("spasticity", "hyperreflexia") else "spasticity", url, fmt)
    elif name == "paired":
        image = plots.paired_plot(patients, request.GET.get("within", "spasticity"), url, fmt)
    else:
        image = plots.scatter_plot(patients, url, fmt)
    return HttpResponse(image, content_type="image/svg+xml" if fmt == "svg" else "image/png")


@require_safe
def analysis_api(request: HttpRequest, study_id: int) -> JsonResponse:
    """GET /api/studies/<id>/analysis: the dataset's n and every comparison, same filters as the page."""
    membership = membership_or_404(request, study_id)
    filters, rows = _dataset(request, membership)
    result = analyse(rows, request.GET.get("within", "spasticity"))
    comparisons = [{"section": section.title, **c.as_dict()} for section in result["sections"]
                   for c in section.comparisons]
    return JsonResponse({
        "study": membership.study_id, "filters": filters.as_dict(), "n_rows": result["n_rows"],
        "n_patients": result["n_patients"], "comparisons": comparisons,
    })


class RoiValuesForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text=f"Columns: {', '.join(COLUMNS)}.")


@require_http_methods(["GET", "POST"])
def import_values(request: HttpRequest, study_id: int) -> HttpResponse:
    membership = membership_or_404(request, study_id, edit=True)
    form = RoiValuesForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        result = import_roi_values(membership.study, upload.read(), filename=upload.name, user=request.user)
        if result.ok:
            messages.success(request, f"Imported {upload.name}: {result.summary()}")
            return redirect("dashboard", study_id)
    return render(request, "dashboard/import.html", {"study": membership.study, "form": form, "result": result})
