from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from clinical.models import Study
from dashboard.importer import import_roi_values


class Command(BaseCommand):
    help = "Import ROI values (ppb) measured elsewhere: patient_code, scan_date, roi, value_ppb. All rows or none."

    def add_arguments(self, parser) -> None:
        parser.add_argument("study", help="study id or exact name")
        parser.add_argument("file", type=Path)
        parser.add_argument("--user", help="username recorded as the importer")

    def handle(self, *args, study: str, file: Path, user: str | None, **options) -> None:
        target = Study.objects.by_id_or_name(study)
        if target is None:
            raise CommandError(f"No study '{study}': give its id or exact name.")
        if not file.is_file():
            raise CommandError(f"{file}: no such file.")
        account = get_user_model().objects.filter(username=user).first() if user else None
        if user and account is None:
            raise CommandError(f"No user '{user}'.")
        result = import_roi_values(target, file.read_bytes(), filename=file.name, user=account)
        if not result.ok:
            for problem in result.errors:
                self.stderr.write(f"{file.name}: {problem}")
            raise CommandError(f"{len(result.errors)} problem(s) in {file.name}; nothing was imported.")
        self.stdout.write(self.style.SUCCESS(f"{file.name}: {result.summary()}"))
