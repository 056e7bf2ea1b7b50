"""Forms for patients and exams. Every edit of saved data asks for a reason (audit trail)."""
from __future__ import annotations

from django import forms
from django.utils import timezone

from .models import (
    ALSFRS_FIELDS,
    LIMBS,
    MAS_FIELDS,
    REFLEX_FIELDS,
    REFLEXES,
    SIGN_FIELDS,
    PATHOLOGICAL_SIGNS,
    SIGN_LABELS,
    Exam,
    Patient,
    ScanSession,
    alsfrs_field,
    mas_field,
    reflex_field,
    sign_field,
)
from .redcap import ALSFRS_ITEM_NAMES

CREATED_REASON = "Created"


class AuditedForm(forms.ModelForm):
    """A model form whose saves record a reason for change, required once the record exists."""

    reason = forms.CharField(
        label="Reason for change",
        max_length=100,
        required=False,
        help_text="Required when editing saved data (e.g. 'transcription error', 'late entry').",
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if self.instance.pk and not reason:
            raise forms.ValidationError("Say why you are changing saved data.")
        return reason or CREATED_REASON

    def save(self, commit: bool = True):
        self.instance._change_reason = self.cleaned_data["reason"]
        return super().save(commit=commit)


class PatientForm(AuditedForm):
    onset_month = forms.DateField(
        label="Symptom onset (month)",
        required=False,
        input_formats=["%Y-%m", "%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
        help_text="Year and month, e.g. 2023-04.",
    )

    class Meta:
        model = Patient
        fields = [
            "code",
            "diagnosis",
            "sex",
            "birth_year",
            "handedness",
            "onset_month",
            "onset_region",
            "onset_side",
            "diagnostic_category",
            "gold_coast",
            "notes",
        ]
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, study=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if study is not None:
            self.instance.study = study

    def validate_unique(self) -> None:
        # study is not a form field, so Django would skip the (study, code) check.
        patient = self.instance
        if Patient.objects.filter(study=patient.study_id, code=patient.code).exclude(pk=patient.pk).exists():
            self.add_error("code", f"Study code {patient.code} is already used in this study.")


class ExamForm(AuditedForm):
    class Meta:
        model = Exam
        fields = ["date", "examiner", *REFLEX_FIELDS, *SIGN_FIELDS, *MAS_FIELDS, "jaw_jerk", "penn_umn_score",
                  *ALSFRS_FIELDS, "alsfrs_gastrostomy"]
        widgets = {"date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}

    def __init__(self, *args, patient=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if patient is not None:
            self.instance.patient = patient
        for item, (name, what) in enumerate(zip(ALSFRS_FIELDS, ALSFRS_ITEM_NAMES, strict=True), start=1):
            self.fields[name].label = f"{item}. {what.capitalize()}"  # the item's name (Cedarbaum 1999), not its number
            self.fields[name].widget = forms.Select(choices=[("", "—")] + [(i, str(i)) for i in range(4, -1, -1)])

    def validate_unique(self) -> None:
        exam = self.instance
        if Exam.objects.filter(patient=exam.patient_id, date=exam.date).exclude(pk=exam.pk).exists():
            self.add_error("date", f"This patient already has an exam on {exam.date:%Y-%m-%d}; edit that one.")

    # Grids for the template: rows of (label, left field, right field).
    def reflex_rows(self):
        return [(r.capitalize(), self[reflex_field(r, "left")], self[reflex_field(r, "right")]) for r in REFLEXES]

    def sign_rows(self):
        return [(SIGN_LABELS[g], self[sign_field(g, "left")], self[sign_field(g, "right")]) for g in PATHOLOGICAL_SIGNS]

    def mas_rows(self):
        return [(f"{limb.capitalize()} limb", self[mas_field(limb, "left")], self[mas_field(limb, "right")])
                for limb in LIMBS]

    def alsfrs_items(self):
        return [self[alsfrs_field(i)] for i in range(1, 13)]


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="UTF-8 CSV with the columns of the template.")



class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class FolderInput(MultipleFileInput):
    """A folder picker: the browser sends every file under the chosen folder."""

    def __init__(self) -> None:
        super().__init__(attrs={"webkitdirectory": True, "multiple": True})


class MultipleFileField(forms.FileField):
    """Several files in one field: a DICOM folder's files, or NIfTI files with their JSON sidecars."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)  # files kept from an earlier submit may stand in for them
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, (list, tuple)) else [data]
        return [super(MultipleFileField, self).clean(f, initial) for f in files if f]


class ScanUploadForm(forms.ModelForm):
    """What the headers cannot say; the scanner facts and, usually, the date come from the headers."""

    files = MultipleFileField(
        label="Scan files",
        help_text="A DICOM zip (series or whole exam), the DICOM files themselves, NIfTI files with their "
        "JSON sidecars, or a zipped BIDS anat/ folder. Magnitude and phase, all echoes.",
    )
    folder = MultipleFileField(label="or a whole folder", widget=FolderInput(),
                               help_text="A DICOM folder as exported; its subfolders are read too.")
    folder_paths = forms.CharField(required=False, widget=forms.HiddenInput)  # filled by upload.js
    held = forms.CharField(required=False, widget=forms.HiddenInput)  # token of files kept from a refused submit
    tus_uploads = forms.CharField(required=False, widget=forms.HiddenInput)  # ids of files sent ahead (upload.js)

    class Meta:
        model = ScanSession
        fields = ["scan_date", "site", "field_strength_t"]
        widgets = {"scan_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}
        help_texts = {
            "scan_date": "Leave blank to take it from the headers; needed only when they do not record it.",
            "field_strength_t": "Needed only when the headers do not record it.",
        }

    def __init__(self, *args, patient=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.fields["scan_date"].required = False

    def clean_scan_date(self):
        date = self.cleaned_data["scan_date"]
        if date and date > timezone.localdate():
            raise forms.ValidationError("The scan date is in the future.")
        return date

    def typed_fields(self) -> dict:
        """The session's fields as typed (blanks included); the headers fill or check them."""
        return {name: self.cleaned_data.get(name) for name in self._meta.fields}
