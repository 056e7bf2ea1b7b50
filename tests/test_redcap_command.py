"""manage.py export_redcap writes the records and the dictionary; import_clinical reads the records back."""
import csv
import io

import pytest
from django.core.management import CommandError, call_command

from clinical.redcap import data_csv, dictionary_csv
from tests.test_redcap_roundtrip import make_cohort, snapshot

pytestmark = pytest.mark.django_db


def test_it_writes_both_files(study, tmp_path, capsys):
    make_cohort(study)
    call_command("export_redcap", "--study", study.name, "--out-dir", str(tmp_path / "out"))
    data = tmp_path / "out" / f"qsmstudy-study{study.pk}-redcap-data.csv"
    dictionary = tmp_path / "out" / f"qsmstudy-study{study.pk}-redcap-dictionary.csv"
    assert data.read_text() == data_csv(study) and dictionary.read_text() == dictionary_csv()
    assert "8 patients" in capsys.readouterr().out


def test_the_written_records_import_with_the_import_command(study, other_study, tmp_path, capsys):
    make_cohort(study)
    call_command("export_redcap", "--study", str(study.pk), "--out-dir", str(tmp_path))
    call_command("import_clinical", str(other_study.pk), str(tmp_path / f"qsmstudy-study{study.pk}-redcap-data.csv"))
    assert "8 patients created" in capsys.readouterr().out
    assert snapshot(other_study) == snapshot(study)


def test_the_import_command_names_redcap_problems_and_saves_nothing(study, tmp_path, capsys):
    path = tmp_path / "bad.csv"
    out = io.StringIO()
    csv.writer(out).writerows([["record_id", "redcap_repeat_instrument", "redcap_repeat_instance", "exam_date",
                                "examiner"], ["ALS-1", "", "", "", ""], ["ALS-1", "exam", "1", "2023-1-5", "Dr A"]])
    path.write_text(out.getvalue())
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_clinical", str(study.pk), str(path))
    err = capsys.readouterr().err
    assert "row 3, column 'exam_date' (value '2023-1-5'): Not a date" in err
    assert not study.patients.exists()


def test_it_refuses_an_unknown_study(tmp_path):
    with pytest.raises(CommandError, match="No study 'nope'"):
        call_command("export_redcap", "--study", "nope", "--out-dir", str(tmp_path))
    assert not list(tmp_path.iterdir())
