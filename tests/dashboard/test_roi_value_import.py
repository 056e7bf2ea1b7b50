"""Importing ROI values measured elsewhere: validated whole, nothing saved on error."""
import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from clinical.models import Patient
from dashboard.importer import import_roi_values
from dashboard.models import ExternalRoiValue

pytestmark = pytest.mark.django_db
GOOD = b"patient_code,scan_date,roi,value_ppb\nALS-001,2024-02-01,LMC,41.5\nALS-001,2024-02-01,RMC,38\n"


@pytest.fixture
def patient(study):
    return Patient.objects.create(study=study, code="ALS-001", diagnosis="ALS")


def test_a_good_file_is_imported_and_reimport_updates(study, patient):
    result = import_roi_values(study, GOOD, filename="values.csv")
    assert result.ok and result.created == 2
    assert ExternalRoiValue.objects.get(roi_name="LMC").value_ppb == 41.5
    again = import_roi_values(study, GOOD.replace(b"41.5", b"40.0"), filename="values.csv")
    assert (again.created, again.updated) == (0, 2)
    assert ExternalRoiValue.objects.get(roi_name="LMC").value_ppb == 40.0


def test_a_bad_file_saves_nothing_and_names_each_problem(study, patient):
    bad = GOOD + b"ALS-404,2024-02-01,LMC,1\nALS-001,2024-31-01,LMC,1\nALS-001,2024-02-02,hand,1\n" \
                 b"ALS-001,2024-02-03,LCT,nan\nALS-001,2024-02-01,LMC,3\n"
    result = import_roi_values(study, bad, filename="bad.csv")
    messages = [str(e) for e in result.errors]
    assert messages[0].startswith("row 4, column 'patient_code' (value 'ALS-404')")
    assert messages[1].startswith("row 5, column 'scan_date' (value '2024-31-01')")
    assert messages[2].startswith("row 6, column 'roi' (value 'hand')")
    assert messages[3].startswith("row 7, column 'value_ppb' (value 'nan')")
    assert messages[4].startswith("row 8, column 'roi' (value 'LMC'): Repeats row 2")
    assert not ExternalRoiValue.objects.exists()


def test_missing_columns_are_named(study, patient):
    result = import_roi_values(study, b"patient,date\nALS-001,2024-01-01\n", filename="x.csv")
    assert "column 'patient_code': Required column is missing." in str(result.errors[0])


def test_the_command(study, patient, tmp_path, capsys):
    path = tmp_path / "v.csv"
    path.write_bytes(GOOD)
    call_command("import_roi_values", str(study.pk), str(path))
    assert "2 values added" in capsys.readouterr().out
    path.write_bytes(GOOD + b"X,1,LMC,1\n")
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_roi_values", study.name, str(path))


def test_the_page_imports_and_appears_on_the_dashboard(as_coordinator, study, patient):
    patient.exams.create(date=dt.date(2024, 2, 1), examiner="Dr A", mas_upper_left="2")
    upload = io.BytesIO(GOOD)
    upload.name = "values.csv"
    response = as_coordinator.post(reverse("import_roi_values", args=[study.pk]), {"file": upload})
    assert response.status_code == 302
    body = as_coordinator.get(reverse("dashboard", args=[study.pk])).content.decode()
    assert "<strong>1</strong> scans from <strong>1</strong> patients" in body and "41.5" in body


def test_viewers_cannot_import(as_viewer, study, patient):
    upload = io.BytesIO(GOOD)
    upload.name = "values.csv"
    assert as_viewer.post(reverse("import_roi_values", args=[study.pk]), {"file": upload}).status_code == 403
