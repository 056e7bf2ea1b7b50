"""REDCap and dataset CSV exports quote text cells a spreadsheet would run as a formula; numbers stay numbers."""
from __future__ import annotations

import csv
import io

import pytest

from clinical import redcap
from clinical.importer import import_clinical_csv
from clinical.csvcells import spreadsheet_safe
from clinical.models import Patient
from dashboard.dataset import build_dataset, csv_download
from tests.dashboard.cohort import seed_cohort

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("cell", ["=HYPERLINK(\"http://x\")", "+1+cmd|' /C calc'!A0", "-2+3+cmd", "@SUM(A1)",
                                  "\tTAB", "\rCR"])
def test_formula_cells_get_a_leading_quote(cell):
    assert spreadsheet_safe(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-3", "+4.5", "-1e3", "ALS-01", "", 7, -3, None])
def test_numbers_and_plain_text_are_unchanged(cell):
    assert spreadsheet_safe(cell) == cell


def test_the_redcap_export_quotes_formulas_in_notes_and_examiner(study):
    seed_cohort(study)
    patient = Patient.objects.get(study=study, code="ALS-01")
    patient.notes = "=HYPERLINK(\"http://evil.example\",\"click\")"
    patient.save()
    patient.exams.update(examiner="@SUM(1+1)")
    rows = list(csv.DictReader(io.StringIO(redcap.data_csv(study))))
    assert rows[0]["notes"] == "'" + patient.notes
    assert rows[1]["examiner"] == "'@SUM(1+1)"
    assert rows[1]["alsfrs_1"] == "3"


def test_the_dataset_export_quotes_text_but_keeps_negative_numbers(study):
    seed_cohort(study)
    rows = build_dataset(study)
    rows.loc[0, "site"] = "-cmd|' /C calc'!A0"
    text, _ = csv_download(study.pk, rows)
    written = list(csv.DictReader(io.StringIO(text)))
    assert written[0]["site"] == "'-cmd|' /C calc'!A0"
    assert written[0]["gap_days"] == "-2"  # exam two days before the scan: a number, not text
    assert float(written[0]["LMC"]) == pytest.approx(rows.loc[0, "LMC"])


def test_a_reimported_redcap_export_gets_the_text_as_typed(study):
    seed_cohort(study)
    patient = Patient.objects.get(study=study, code="ALS-01")
    patient.notes = "=1+1 was written on the form"
    patient.save()
    exported = redcap.data_csv(study)
    patient.notes = ""
    patient.save()
    result = import_clinical_csv(study, exported.encode(), filename="export.csv")
    assert result.ok, result.errors
    patient.refresh_from_db()
    assert patient.notes == "=1+1 was written on the form"
