from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from clinical import redcap
from clinical.models import Study


class Command(BaseCommand):
    help = "Write a study's REDCap data dictionary and raw record export (CSV). See docs/redcap.md."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--study", required=True, help="study id or exact name")
        parser.add_argument("--out-dir", required=True, type=Path, help="folder for the two CSV files (created if missing)")

    def handle(self, *args, study: str, out_dir: Path, **options) -> None:
        target = Study.objects.by_id_or_name(study)
        if target is None:
            raise CommandError(f"No study '{study}': give its id or exact name (see the admin's study list).")
        if out_dir.exists() and not out_dir.is_dir():
            raise CommandError(f"{out_dir} is a file: give a folder for the two CSV files.")
        out_dir.mkdir(parents=True, exist_ok=True)
        dictionary = out_dir / redcap.dictionary_filename(target)
        data = out_dir / redcap.data_filename(target)
        dictionary.write_text(redcap.dictionary_csv(), encoding="utf-8")
        data.write_text(redcap.data_csv(target), encoding="utf-8")
        self.stdout.write(self.style.SUCCESS(
            f"{target}: {target.patients.count()} patients written to {data}; dictionary in {dictionary}"))
