from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from clinical.importer import import_clinical_csv
from clinical.models import Study


class Command(BaseCommand):
    help = "Import patients and exams from a CSV into a study (all rows or none). See docs/clinical-import.md."

    def add_arguments(self, parser) -> None:
        parser.add_argument("study", help="study id or exact name")
        parser.add_argument("file", type=Path, help="CSV file (UTF-8)")
        parser.add_argument("--user", help="username recorded in the audit history")

    def handle(self, *args, study: str, file: Path, user: str | None, **options) -> None:
        target = Study.objects.by_id_or_name(study)
        if target is None:
            raise CommandError(f"No study '{study}': give its id or exact name (see the admin's study list).")
        if not file.is_file():
            raise CommandError(f"{file}: no such file.")
        account = None
        if user:
            account = get_user_model().objects.filter(username=user).first()
            if account is None:
                raise CommandError(f"No user '{user}'.")
        result = import_clinical_csv(target, file.read_bytes(), filename=file.name, user=account)
        if not result.ok:
            for error in result.errors:
                self.stderr.write(f"{file.name}: {error}")
            raise CommandError(f"{len(result.errors)} problem(s) in {file.name}; nothing was imported.")
        self.stdout.write(self.style.SUCCESS(f"{file.name}: {result.summary()}"))
