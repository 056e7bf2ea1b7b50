"""Query filters of the list endpoints (django-filter); ids outside the study simply match nothing."""
from __future__ import annotations

import django_filters as filters
from django import forms

from clinical.models import Diagnosis, Exam, Patient, ScanSession
from recon.models import ReconRun, RoiDefinition, RoiValue


MAX_ID = 2**63 - 1  # the database's largest id; larger numbers are refused, not sent to the database


class IdFilter(filters.Filter):
    """An object id (a whole number; '1.5' is refused rather than rounded)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, min_value=1, max_value=MAX_ID, **kwargs)


class PatientFilter(filters.FilterSet):
    diagnosis = filters.ChoiceFilter(choices=Diagnosis.choices)
    code = filters.CharFilter(lookup_expr="icontains", help_text="Part of the study code.")

    class Meta:
        model = Patient
        fields = ["diagnosis", "code"]


class ExamFilter(filters.FilterSet):
    patient = IdFilter(help_text="Patient id.")
    date_from = filters.DateFilter(field_name="date", lookup_expr="gte", help_text="First exam date.")
    date_to = filters.DateFilter(field_name="date", lookup_expr="lte", help_text="Last exam date.")

    class Meta:
        model = Exam
        fields = ["patient", "date_from", "date_to"]


class ScanFilter(filters.FilterSet):
    patient = IdFilter(help_text="Patient id.")
    date_from = filters.DateFilter(field_name="scan_date", lookup_expr="gte", help_text="First scan date.")
    date_to = filters.DateFilter(field_name="scan_date", lookup_expr="lte", help_text="Last scan date.")

    class Meta:
        model = ScanSession
        fields = ["patient", "date_from", "date_to"]


class RunFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=ReconRun.Status.choices)
    scan = IdFilter(help_text="Scan id.")
    is_current = filters.BooleanFilter(help_text="Only the runs used for analysis (true) or the others (false).")

    class Meta:
        model = ReconRun
        fields = ["status", "scan", "is_current"]


class RoiFilter(filters.FilterSet):
    scan = IdFilter(help_text="Scan id.")
    name = filters.CharFilter(help_text="ROI label, e.g. LMC.")

    class Meta:
        model = RoiDefinition
        fields = ["scan", "name"]


class RoiValueFilter(filters.FilterSet):
    name = filters.CharFilter(field_name="roi__name", help_text="ROI label, e.g. LMC.")
    run = IdFilter(help_text="Reconstruction run id.")
    scan = IdFilter(field_name="run__scan", help_text="Scan id.")
    patient = IdFilter(field_name="run__scan__patient", help_text="Patient id.")
    current = filters.BooleanFilter(field_name="run__is_current", help_text="Only values on each scan's current run.")

    class Meta:
        model = RoiValue
        fields = ["name", "run", "scan", "patient", "current"]
