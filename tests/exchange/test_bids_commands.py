"""manage.py export_bids and import_bids: the same export and import as the pages."""
import zipfile

import pytest
from django.core.management import CommandError, call_command

from clinical.models import Study
from tests.exchange.study_data import DESIGN, build_study

pytestmark = pytest.mark.django_db


def test_export_then_import_from_the_command_line(study, coordinator, tmp_path, capsys):
    build_study(study, design=DESIGN[:2])
    archive = tmp_path / "als.zip"
    call_command("export_bids", study.name, str(archive), "--diagnosis", "ALS", "--patient", "ALS-02")
    assert "1 participants, 1 sessions (0 with QSM derivatives)" in capsys.readouterr().out
    with zipfile.ZipFile(archive) as zf:
        assert any(n.endswith("sub-ALS02_ses-20240305_echo-1_part-mag_MEGRE.nii.gz") for n in zf.namelist())
        assert not any("sub-ALS01" in n for n in zf.namelist())

    target = Study.objects.create(name="Target")
    call_command("import_bids", str(target.pk), str(archive), "--user", coordinator.username)
    assert "1 patients, 2 exams, 1 scan sessions" in capsys.readouterr().out
    assert target.scans.get().uploaded_by == coordinator

    with pytest.raises(CommandError, match="1 problem\\(s\\) in als.zip; nothing was imported"):
        call_command("import_bids", str(target.pk), str(archive))
    assert "study code ALS-02 is already in Target" in capsys.readouterr().err


def test_the_commands_name_a_missing_study(tmp_path):
    with pytest.raises(CommandError, match="No study 'Nowhere'"):
        call_command("export_bids", "Nowhere", str(tmp_path / "x.zip"))
    with pytest.raises(CommandError, match="No study 'Nowhere'"):
        call_command("import_bids", "Nowhere", str(tmp_path / "x.zip"))
